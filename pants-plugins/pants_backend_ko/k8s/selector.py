"""Kubernetes label selectors: parsing and matching as k8s.io/apimachinery `labels.Parse` does.

Grammar (comma means AND; blanks are space, tab, CR and LF):

    selector    ::= "" | requirement ("," requirement)*
    requirement ::= ["!"] KEY
                  | KEY ("=" | "==" | "!=") VALUE
                  | KEY ("in" | "notin") "(" VALUE ("," VALUE)* ")"
                  | KEY (">" | "<") INTEGER

KEY is `[prefix/]name`: the optional prefix a DNS subdomain (lowercase, at most 253
characters), the name at most 63 characters of `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`.
VALUE is empty or at most 63 characters of the same pattern. Like apimachinery, values may be
empty (`a=`, `a in (x,)`), `in`/`notin` are operators only after a key, and `>`/`<` compare
integers.

Matching: `=`/`==`/`in` need the key present with one of the values; `!=`/`notin` match a
missing key; `key` needs it present, `!key` absent; `>`/`<` need an integer value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# Operator spellings as in k8s.io/apimachinery/pkg/selection.
EQUALS = "="
DOUBLE_EQUALS = "=="
NOT_EQUALS = "!="
IN = "in"
NOT_IN = "notin"
EXISTS = "exists"
DOES_NOT_EXIST = "!"
GREATER_THAN = "gt"
LESS_THAN = "lt"

_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_INTEGER = re.compile(r"[+-]?[0-9]+\Z")
_NAME_RULE = "alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"
_INT64 = (-(2**63), 2**63 - 1)

# Token kinds.
_END, _IDENT, _COMMA, _OPEN, _CLOSE, _NOT, _EQ, _EQEQ, _NEQ, _GT, _LT, _IN, _NOTIN = range(13)
_SPECIAL = "=!(),><"
_BLANK = " \t\r\n"
_SYMBOLS = {
    "(": _OPEN,
    ")": _CLOSE,
    ",": _COMMA,
    "!": _NOT,
    "=": _EQ,
    "==": _EQEQ,
    "!=": _NEQ,
    ">": _GT,
    "<": _LT,
}
_KEYWORDS = {"in": _IN, "notin": _NOTIN}
_BINARY = {_IN: IN, _NOTIN: NOT_IN, _EQ: EQUALS, _EQEQ: DOUBLE_EQUALS, _NEQ: NOT_EQUALS,
           _GT: GREATER_THAN, _LT: LESS_THAN}  # fmt: skip


@dataclass(frozen=True)
class Requirement:
    """One comma-separated term: `key operator values`."""

    key: str
    operator: str  # one of the constants above
    values: tuple[str, ...]  # sorted, distinct; empty for EXISTS / DOES_NOT_EXIST

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator in (IN, EQUALS, DOUBLE_EQUALS):
            return present and labels[self.key] in self.values
        if self.operator in (NOT_IN, NOT_EQUALS):
            return not present or labels[self.key] not in self.values
        if self.operator == EXISTS:
            return present
        if self.operator == DOES_NOT_EXIST:
            return not present
        if self.operator in (GREATER_THAN, LESS_THAN):
            if not present:
                return False
            actual = _parse_int64(labels[self.key])
            if actual is None:
                return False
            bound = int(self.values[0])
            return actual > bound if self.operator == GREATER_THAN else actual < bound
        raise AssertionError(f"unknown operator {self.operator!r}")

    def __str__(self) -> str:
        if self.operator == EXISTS:
            return self.key
        if self.operator == DOES_NOT_EXIST:
            return "!" + self.key
        if self.operator in (IN, NOT_IN):
            return f"{self.key} {self.operator} ({','.join(self.values)})"
        symbol = {GREATER_THAN: ">", LESS_THAN: "<"}.get(self.operator, self.operator)
        return f"{self.key}{symbol}{self.values[0]}"


@dataclass(frozen=True)
class Selector:
    """An AND of requirements; the empty selector matches everything."""

    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _parse_int64(text: str) -> int | None:
    if not _INTEGER.match(text):
        return None
    value = int(text)
    return value if _INT64[0] <= value <= _INT64[1] else None


def label_key_problem(key: str) -> str | None:
    """Why `key` is not a valid label key (apimachinery `IsQualifiedName`), or None."""
    parts = key.split("/")
    if len(parts) > 2:
        return "it may contain at most one '/'" " (an optional DNS-subdomain prefix, e.g. 'example.com/name')"
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            return "the prefix before '/' must not be empty"
        if len(prefix) > 253:
            return "the prefix before '/' must be at most 253 characters"
        if not _DNS_SUBDOMAIN.match(prefix):
            return (
                "the prefix before '/' must be a DNS subdomain: lowercase alphanumerics, '-' and"
                " '.', starting and ending with an alphanumeric (e.g. 'example.com')"
            )
    if not name:
        return "the name must not be empty"
    if len(name) > 63:
        return "the name must be at most 63 characters"
    if not _NAME.match(name):
        return f"the name must consist of {_NAME_RULE}"
    return None


def label_value_problem(value: str) -> str | None:
    """Why `value` is not a valid label value (apimachinery `IsValidLabelValue`), or None."""
    if len(value) > 63:
        return "a label value must be at most 63 characters"
    if value and not _NAME.match(value):
        return f"a label value must be empty or consist of {_NAME_RULE}"
    return None


@dataclass(frozen=True)
class _Token:
    kind: int
    text: str
    position: int  # 0-based character offset into the selector


def _lex(selector: str) -> list[_Token]:
    tokens = []
    i, n = 0, len(selector)
    while True:
        while i < n and selector[i] in _BLANK:
            i += 1
        if i >= n:
            tokens.append(_Token(_END, "", n))
            return tokens
        start = i
        if selector[i] in _SPECIAL:
            # Longest operator: `!=` and `==` are the only two-character ones.
            two = selector[i : i + 2]
            symbol = two if two in _SYMBOLS else selector[i]
            tokens.append(_Token(_SYMBOLS[symbol], symbol, start))
            i += len(symbol)
            continue
        while i < n and selector[i] not in _SPECIAL and selector[i] not in _BLANK:
            i += 1
        word = selector[start:i]
        tokens.append(_Token(_KEYWORDS.get(word, _IDENT), word, start))


class _Parser:
    def __init__(self, selector: str) -> None:
        self.selector = selector
        self.tokens = _lex(selector)
        self.index = 0

    def error(self, token: _Token, message: str) -> ValueError:
        return ValueError(f"invalid label selector {self.selector!r} at column {token.position + 1}: {message}")

    def describe(self, token: _Token) -> str:
        return "end of string" if token.kind == _END else repr(token.text)

    def peek(self, as_value: bool = True) -> _Token:
        token = self.tokens[self.index]
        # `in`/`notin` are keywords only where an operator is expected.
        if as_value and token.kind in (_IN, _NOTIN):
            return _Token(_IDENT, token.text, token.position)
        return token

    def take(self, as_value: bool = True) -> _Token:
        token = self.peek(as_value)
        self.index += 1
        return token

    def parse(self) -> Selector:
        requirements = []
        while True:
            token = self.peek()
            if token.kind == _END:
                break
            if token.kind not in (_IDENT, _NOT):
                raise self.error(
                    token,
                    f"found {self.describe(token)}, expected '!', a label key or end of string",
                )
            requirements.append(self.requirement())
            token = self.take()
            if token.kind == _END:
                break
            if token.kind != _COMMA:
                raise self.error(token, f"found {self.describe(token)}, expected ',' or end of string")
            after = self.peek()
            if after.kind not in (_IDENT, _NOT):
                raise self.error(after, f"found {self.describe(after)}, expected a label key after ','")
        requirements.sort(key=lambda r: r.key)  # apimachinery sorts by key, too
        return Selector(tuple(requirements))

    def requirement(self) -> Requirement:
        negated = self.peek().kind == _NOT
        if negated:
            self.take()
        key_token = self.take()
        if key_token.kind != _IDENT:
            raise self.error(key_token, f"found {self.describe(key_token)}, expected a label key")
        problem = label_key_problem(key_token.text)
        if problem:
            raise self.error(key_token, f"label key {key_token.text!r} is invalid: {problem}")
        if negated or self.peek().kind in (_END, _COMMA):
            return Requirement(key_token.text, DOES_NOT_EXIST if negated else EXISTS, ())

        operator_token = self.take(as_value=False)
        operator = _BINARY.get(operator_token.kind)
        if operator is None:
            raise self.error(
                operator_token,
                f"found {self.describe(operator_token)} after label key {key_token.text!r},"
                " expected one of: in, notin, =, ==, !=, >, <, ',' or end of string",
            )
        if operator in (IN, NOT_IN):
            values = self.value_set()
        else:
            values = [self.exact_value()]
        for value, token in values:
            problem = label_value_problem(value)
            if problem:
                raise self.error(token, f"value {value!r} for {key_token.text!r} is invalid: {problem}")
            if operator in (GREATER_THAN, LESS_THAN) and _parse_int64(value) is None:
                raise self.error(
                    token,
                    f"value {value!r} for {key_token.text!r} must be an integer for '>' and '<'",
                )
        distinct = tuple(sorted({value for value, _ in values}))
        return Requirement(key_token.text, operator, distinct)

    def exact_value(self) -> tuple[str, _Token]:
        token = self.peek()
        if token.kind in (_END, _COMMA):
            return "", token  # `a=` means the empty value
        token = self.take()
        if token.kind != _IDENT:
            raise self.error(token, f"found {self.describe(token)}, expected a value")
        return token.text, token

    def value_set(self) -> list[tuple[str, _Token]]:
        """`( v1, v2 )`; empty entries are the empty value, as in apimachinery."""
        open_token = self.take()
        if open_token.kind != _OPEN:
            raise self.error(open_token, f"found {self.describe(open_token)}, expected '('")
        values: list[tuple[str, _Token]] = []
        expect_value = True
        while True:
            token = self.take()
            if token.kind == _CLOSE:
                if expect_value:
                    values.append(("", token))  # `()` and `(a,)`
                return values
            if expect_value and token.kind == _IDENT:
                values.append((token.text, token))
                expect_value = False
            elif token.kind == _COMMA:
                if expect_value:
                    values.append(("", token))  # `(,a)` and `(a,,b)`
                expect_value = True
            else:
                wanted = "a value, ',' or ')'" if expect_value else "',' or ')'"
                raise self.error(token, f"found {self.describe(token)}, expected {wanted}")


def parse_selector(selector: str) -> Selector:
    """Parse a label selector such as `app=web,tier in (a,b),!canary`.

    Raises ValueError with one line quoting the selector and the 1-based column.
    """
    return _Parser(selector).parse()
