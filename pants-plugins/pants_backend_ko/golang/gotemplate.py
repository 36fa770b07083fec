"""Go's `text/template`: parse and execute, for the subset ko's `flags`/`ldflags` use.

Follows `src/text/template` (`parse/lex.go`, `parse/parse.go`, `exec.go`, `funcs.go`) with
`Option("missingkey=error")`, as ko renders templates.

Supported syntax: literal text; actions `{{ ... }}` with trim markers `{{- ` and ` -}}`;
comments `{{/* ... */}}`; field chains on `.` and `$`; string (unquoted by `gostrconv`, as
Go's parser does with `strconv.Unquote`), raw-string, integer (any Go base), character and
boolean literals;
parenthesised pipelines; pipelines `a | f b`; `if` / `else if` / `else` / `end`; and the
functions `index`, `print`, `printf` (`gofmt`: %v %s %d %q %t %%), `len`, `not`, `and`, `or`,
`eq`, `ne`, `lt`, `le`, `gt`, `ge`. Anything else (range, with, define, template, variables,
methods, other functions) is a one-line "unsupported template construct" error.

Data is Go values in Python (see `gofmt`): maps are `GoMap`s, which know their element type
(what `index` of a missing key gives, what `%T` says) and whether an error may list their keys.

Nesting: Go's parser refuses more than 10000 nested parentheses ("max expression depth
exceeded") and has no limit on nested `{{if}}`. Here parsing, execution and the tree walks
recurse in Python, whose stack is far smaller, so more than `MAX_DEPTH` (100) nested
parentheses and `{{if}}` blocks together get Go's message, as one line, instead of a
`RecursionError`. No real ko template comes near.

Every error is a `TemplateError`, one line: `<where>: template '<text>': <problem>; <fix>`
(long templates are shortened in the message). No Pants imports.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pants_backend_ko.golang import gofmt
from pants_backend_ko.golang.gostrconv import go_bytes, parse_int, unquote

__all__ = [
    "MAX_DEPTH",
    "TemplateError",
    "GoMap",
    "Template",
    "parse",
    "Field",
    "Literal",
    "Function",
    "Chain",
    "Command",
    "Pipeline",
    "Text",
    "Action",
    "If",
    "field_path",
    "fields",
    "commands",
]

MAX_DEPTH = 100

_UNSUPPORTED_KEYWORDS = frozenset({"range", "with", "define", "template", "block", "break", "continue", "nil"})
_FUNCTIONS = frozenset({"index", "print", "printf", "len", "not", "and", "or", "eq", "ne", "lt", "le", "gt", "ge"})
_GO_BUILTINS_UNSUPPORTED = frozenset({"html", "js", "urlquery", "call", "slice", "println"})


class TemplateError(ValueError):
    """A template that cannot be parsed or executed; the message names the template."""


class GoMap(dict):
    """A Go map value: its element zero value (for `index` of a missing key), and whether
    errors may list its keys (not for an environment: the names are noise there)."""

    def __init__(self, items: Mapping[str, Any], zero: Any, *, list_keys_in_errors: bool = True) -> None:
        super().__init__(items)
        self.zero = zero
        self.list_keys_in_errors = list_keys_in_errors

    @property
    def element_type(self) -> str:
        return "string" if isinstance(self.zero, str) else "interface {}"


def _shown(template: str) -> str:
    """The template as error messages show it: quoted, shortened when long."""
    if len(template) <= 200:
        return repr(template)
    return f"{template[:60]!r}... ({len(template)} characters)"


# ---------------------------------------------------------------------------------------------
# Parse tree (the node kinds of Go's text/template/parse that this subset has)


@dataclass(frozen=True)
class Field:
    root: str  # "." or "$"
    names: tuple[str, ...]


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class Function:
    name: str


@dataclass(frozen=True)
class Chain:
    """`(pipeline).A.B`"""

    operand: Any
    names: tuple[str, ...]


@dataclass(frozen=True)
class Command:
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Pipeline:
    commands: tuple[Command, ...]


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Action:
    pipeline: Pipeline


@dataclass(frozen=True)
class If:
    branches: tuple[tuple[Pipeline, tuple[Any, ...]], ...]
    otherwise: tuple[Any, ...]


_TRIM_SPACE = " \t\r\n"


class _Parser:
    def __init__(self, template: str, where: str) -> None:
        self.template = template
        self.where = where
        self.depth = 0  # open parentheses and {{if}} blocks around the current position

    def fail(self, problem: str, fix: str = "") -> TemplateError:
        prefix = f"{self.where}: " if self.where else ""
        tail = f"; {fix}" if fix else ""
        return TemplateError(f"{prefix}template {_shown(self.template)}: {problem}{tail}")

    def enter(self) -> None:
        """One more level of nesting; Go's parser stops at maxStackDepth, so do we (lower)."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(
                f"max expression depth exceeded (more than {MAX_DEPTH} nested parentheses and {{{{if}}}} blocks)",
                "flatten the template",
            )

    def unsupported(self, what: str) -> TemplateError:
        return self.fail(
            f"unsupported template construct {what}",
            "use field chains such as {{.Name.Key}}, pipelines with index/print/printf/eq, or if/else",
        )

    # -- lexing into text and action pieces --------------------------------------------------

    def pieces(self) -> list[tuple[str, str]]:
        """[("text", s) | ("action", inner)], with trim markers applied."""
        text = self.template
        out: list[tuple[str, str]] = []
        pos = 0
        trim_next = False
        while True:
            start = text.find("{{", pos)
            if start < 0:
                literal = text[pos:]
                if trim_next:
                    literal = literal.lstrip(_TRIM_SPACE)
                if literal:
                    out.append(("text", literal))
                return out
            literal = text[pos:start]
            if trim_next:
                literal = literal.lstrip(_TRIM_SPACE)
            inner_start = start + 2
            if (
                text.startswith("-", inner_start)
                and inner_start + 1 < len(text)
                and text[inner_start + 1] in _TRIM_SPACE
            ):
                literal = literal.rstrip(_TRIM_SPACE)
                inner_start += 2
            if literal:
                out.append(("text", literal))
            if text.startswith("/*", inner_start):
                # Go: a comment starts right after "{{" or "{{- " and ends with "*/}}" or "*/ -}}".
                end_comment = text.find("*/", inner_start + 2)
                if end_comment < 0:
                    raise self.fail("unclosed comment", "close it with */}}")
                after = end_comment + 2
                if text[after : after + 1] in (" ", "\t", "\r", "\n") and text.startswith("-}}", after + 1):
                    trim_next = True
                    pos = after + 4
                elif text.startswith("}}", after):
                    trim_next = False
                    pos = after + 2
                else:
                    raise self.fail("comment ends without }}", "write {{/* comment */}}")
                continue
            end = self._find_close(inner_start)
            inner = text[inner_start:end]
            trim_next = False
            if inner.endswith("-") and len(inner) >= 2 and inner[-2] in _TRIM_SPACE:
                inner = inner[:-1]
                trim_next = True
            out.append(("action", inner))
            pos = end + 2

    def _find_close(self, pos: int) -> int:
        """The `}}` that closes an action, skipping quoted strings."""
        text = self.template
        i = pos
        while i < len(text):
            c = text[i]
            if c in "\"`'":
                close = text.find(c, i + 1) if c == "`" else self._end_of_quoted(i)
                if close < 0:
                    raise self.fail("unterminated quoted string", "close the quote")
                i = close + 1
                continue
            if text.startswith("}}", i):
                return i
            i += 1
        raise self.fail("unclosed action", "close it with }}")

    def _end_of_quoted(self, start: int) -> int:
        text = self.template
        quote = text[start]
        i = start + 1
        while i < len(text):
            if text[i] == "\\":
                i += 2
                continue
            if text[i] == quote:
                return i
            if text[i] == "\n":
                return -1
            i += 1
        return -1

    # -- tokens inside an action -------------------------------------------------------------

    _TOKEN = re.compile(
        r"""\s*(?:
            (?P<string>"(?:[^"\\\n]|\\.)*")
          | (?P<raw>`[^`]*`)
          | (?P<char>'(?:[^'\\\n]|\\.)*')
          | (?P<field>(?:\$|\$?(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)(?=[\s|()]|$))
          | (?P<var>\$[A-Za-z_][A-Za-z0-9_]*)
          | (?P<number>[-+]?(?:0[xXoObB][0-9a-fA-F_]+|[0-9][0-9_]*(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?))
          | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
          | (?P<declare>:?=)
          | (?P<punct>[|(),])
          | (?P<other>\S+)
        )""",
        re.VERBOSE,
    )

    def tokens(self, inner: str) -> list[tuple[str, str]]:
        result: list[tuple[str, str]] = []
        pos = 0
        previous_end = -1
        while pos < len(inner):
            if not inner[pos:].strip():
                break
            m = self._TOKEN.match(inner, pos)
            if m is None or m.lastgroup is None:  # pragma: no cover - the regex always matches
                raise self.fail(f"cannot read {inner[pos:].strip()!r}")
            kind = m.lastgroup
            value = m.group(kind)
            # `(pipeline).A.B`: a field chain written right after `)`
            if (
                kind == "field"
                and value.startswith(".")
                and result
                and result[-1] == ("punct", ")")
                and m.start(kind) == previous_end
            ):
                kind = "chain"
            result.append((kind, value))
            previous_end = pos = m.end()
        return result

    # -- parsing -----------------------------------------------------------------------------

    def parse(self) -> tuple[Any, ...]:
        stream = [(kind, value if kind == "text" else self.tokens(value)) for kind, value in self.pieces()]
        nodes, _, _ = self._parse_list(stream, 0, top=True)
        return nodes

    def _parse_list(self, stream: list, i: int, top: bool) -> tuple[tuple[Any, ...], int, str | None]:
        nodes: list[Any] = []
        while i < len(stream):
            kind, value = stream[i]
            if kind == "text":
                nodes.append(Text(value))
                i += 1
                continue
            toks = value
            if not toks:
                raise self.fail("empty action {{}}", "put a field such as .Name between the braces")
            head_kind, head = toks[0]
            if head_kind == "ident" and head in ("end", "else"):
                if top:
                    raise self.fail(f"{{{{{head}}}}} without a matching {{{{if}}}}", "remove it or add the {{if ...}}")
                return tuple(nodes), i, head
            if head_kind == "ident" and head == "if":
                node, i = self._parse_if(stream, i, toks[1:])
                nodes.append(node)
                continue
            if head_kind == "ident" and head in _UNSUPPORTED_KEYWORDS - {"nil"}:
                raise self.unsupported(f"{{{{{head}}}}}")
            nodes.append(Action(self._pipeline(toks)))
            i += 1
        if not top:
            raise self.fail("{{if}} without {{end}}", "add {{end}}")
        return tuple(nodes), i, None

    def _parse_if(self, stream: list, i: int, cond_tokens: list) -> tuple[If, int]:
        self.enter()
        try:
            return self._parse_if_body(stream, i, cond_tokens)
        finally:
            self.depth -= 1

    def _parse_if_body(self, stream: list, i: int, cond_tokens: list) -> tuple[If, int]:
        branches = []
        cond = self._pipeline(cond_tokens, context="{{if}}")
        while True:
            body, i, stop = self._parse_list(stream, i + 1, top=False)
            branches.append((cond, body))
            toks = stream[i][1]
            if stop == "end":
                if len(toks) != 1:
                    raise self.fail("unexpected words after {{end}}", "write {{end}}")
                return If(tuple(branches), ()), i + 1
            # else / else if
            rest = toks[1:]
            if rest and rest[0] == ("ident", "if"):
                cond = self._pipeline(rest[1:], context="{{else if}}")
                continue
            if rest:
                raise self.unsupported("{{else " + " ".join(v for _, v in rest) + "}}")
            otherwise, i, stop = self._parse_list(stream, i + 1, top=False)
            if stop != "end":
                raise self.fail("{{else}} followed by another {{else}}", "end the {{if}} with {{end}}")
            if len(stream[i][1]) != 1:
                raise self.fail("unexpected words after {{end}}", "write {{end}}")
            return If(tuple(branches), otherwise), i + 1

    def _pipeline(self, toks: list, context: str = "") -> Pipeline:
        pipeline, rest = self._parse_pipeline(toks, 0)
        if rest != len(toks):
            raise self.fail(f"unexpected {toks[rest][1]!r}", "check the parentheses")
        if not pipeline.commands:
            raise self.fail(f"missing value in {context or 'action'}", "add a field such as .Name")
        return pipeline

    def _parse_pipeline(self, toks: list, i: int) -> tuple[Pipeline, int]:
        commands: list[Command] = []
        args: list[Any] = []
        if i < len(toks) and toks[i][0] == "declare":
            raise self.unsupported("(variable assignment)")
        while i < len(toks):
            kind, value = toks[i]
            if kind == "punct" and value == ")":
                break
            if kind == "punct" and value == "|":
                if not args:
                    raise self.fail("missing command before |", 'write e.g. {{ .Name | printf "%s" }}')
                commands.append(Command(tuple(args)))
                args = []
                i += 1
                continue
            if kind == "punct" and value == "(":
                self.enter()
                inner, i = self._parse_pipeline(toks, i + 1)
                self.depth -= 1
                if i >= len(toks) or toks[i] != ("punct", ")"):
                    raise self.fail("unclosed (", "add )")
                i += 1
                operand: Any = inner
                if i < len(toks) and toks[i][0] == "chain":
                    operand = Chain(inner, tuple(toks[i][1].split(".")[1:]))
                    i += 1
                args.append(operand)
                continue
            args.append(self._operand(kind, value))
            i += 1
        if args:
            commands.append(Command(tuple(args)))
        elif commands:
            raise self.fail("missing command after |", "add a function after |")
        for command in commands[1:]:
            if not isinstance(command.args[0], Function):
                raise self.fail("a value after | must be a function such as printf", "move the value before |")
        for command in commands:
            if len(command.args) > 1 and not isinstance(command.args[0], Function):
                if isinstance(command.args[0], Field) and command.args[0].names:
                    raise self.unsupported("(method call with arguments)")
                raise self.fail(
                    f"{_show(command.args[0])} is not a function but has arguments", "remove the extra words"
                )
        return Pipeline(tuple(commands)), i

    def _operand(self, kind: str, value: str) -> Any:
        if kind == "field":
            if value == "$":
                return Field("$", ())
            if value.startswith("$"):
                return Field("$", tuple(value[2:].split(".")))
            if value == ".":
                return Field(".", ())
            return Field(".", tuple(value[1:].split(".")))
        if kind in ("string", "raw"):
            try:
                return Literal(unquote(value))
            except ValueError:
                raise self.fail(f"invalid string literal {value}", "fix its escape sequences") from None
        if kind == "number":
            try:
                return Literal(parse_int(value, base=0))  # Go's parser: strconv.ParseInt(text, 0, 64)
            except ValueError as e:
                if any(c in value for c in ".eE") and not value.lower().startswith(("0x", "-0x", "+0x")):
                    raise self.unsupported(f"(non-integer number {value})") from None
                raise self.fail(f"invalid number {value}: {e}", "write a decimal, 0x, 0o or 0b integer") from None
        if kind == "ident":
            if value in ("true", "false"):
                return Literal(value == "true")
            if value in _FUNCTIONS:
                return Function(value)
            if value in ("if", "else", "end") or value in _UNSUPPORTED_KEYWORDS:
                raise self.unsupported(f"({value!r} inside an action)")
            if value in _GO_BUILTINS_UNSUPPORTED:
                raise self.unsupported(f"(function {value!r})")
            raise self.fail(f'function "{value}" not defined', "use one of " + ", ".join(sorted(_FUNCTIONS)))
        if kind == "var":
            raise self.unsupported(f"(variable {value})")
        if kind == "char":
            # Go: a character constant is the integer value of its rune (a byte for \\x, \\ooo).
            try:
                data = go_bytes(unquote(value))
            except ValueError:
                raise self.fail(f"invalid character constant {value}", "fix its escape sequence") from None
            return Literal(data[0] if len(data) == 1 else ord(data.decode("utf-8")))
        if kind == "declare":
            raise self.unsupported("(variable assignment)")
        if kind == "chain":
            raise self.fail(f"unexpected {value!r}", "field chains follow . or $ or a parenthesised pipeline")
        raise self.fail(f"unexpected {value!r}", "check the template syntax")


def _show(node: Any) -> str:
    if isinstance(node, Field):
        return (
            (node.root if node.root == "$" else "") + "".join("." + n for n in node.names) if node.names else node.root
        )
    if isinstance(node, Literal):
        return repr(node.value)
    if isinstance(node, Function):
        return node.name
    return "(...)"


# ---------------------------------------------------------------------------------------------
# Evaluation


class _Evaluator:
    def __init__(self, parser: _Parser, data: Mapping[str, Any]) -> None:
        self.parser = parser
        self.data = data

    def run(self, nodes: Iterable[Any], out: list[str]) -> None:
        for node in nodes:
            if isinstance(node, Text):
                out.append(node.text)
            elif isinstance(node, Action):
                out.append(_print_result(self.pipeline(node.pipeline)))
            elif isinstance(node, If):
                for cond, body in node.branches:
                    if _truth(self.pipeline(cond)):
                        self.run(body, out)
                        break
                else:
                    self.run(node.otherwise, out)

    def pipeline(self, pipeline: Pipeline) -> Any:
        value: Any = _NO_VALUE
        for command in pipeline.commands:
            value = self.command(command, value)
        return value

    def command(self, command: Command, piped: Any) -> Any:
        head = command.args[0]
        if isinstance(head, Function):
            args = (
                [self.operand(a) for a in command.args[1:]]
                if head.name not in ("and", "or")
                else list(command.args[1:])
            )
            if piped is not _NO_VALUE:
                args.append(piped if head.name not in ("and", "or") else Literal(piped))
            return self.call(head.name, args)
        return self.operand(head)

    def operand(self, node: Any) -> Any:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Field):
            return self.chain(self.data, node.names, _show(node))
        if isinstance(node, Pipeline):
            return self.pipeline(node)
        if isinstance(node, Chain):
            return self.chain(self.pipeline(node.operand), node.names, "(...)." + ".".join(node.names))
        if isinstance(node, Function):
            return self.call(node.name, [])
        raise self.parser.fail("cannot evaluate the action")  # pragma: no cover

    def chain(self, value: Any, names: Sequence[str], shown: str) -> Any:
        path = ""
        for name in names:
            path += "." + name
            if isinstance(value, dict):
                if name not in value:
                    known = ", ".join(sorted(value)) if getattr(value, "list_keys_in_errors", True) else ""
                    hint = f"; known keys: {known}" if known else "; set it or remove the reference"
                    raise self.parser.fail(f'map has no entry for key "{name}" (at <{path}>)', hint[2:])
                value = value[name]
            else:
                raise self.parser.fail(
                    f"can't evaluate field {name} in type {gofmt.type_name(value)} (at <{path}>)",
                    "remove the extra field",
                )
        return value

    def call(self, name: str, args: list[Any]) -> Any:
        fail = self.parser.fail
        if name in ("and", "or"):
            if not args:
                raise fail(f"wrong number of args for {name}: want at least 1 got 0")
            value: Any = None
            for node in args:
                value = self.operand(node)
                if _truth(value) == (name == "or"):
                    return value
            return value
        if name == "not":
            if len(args) != 1:
                raise fail(f"wrong number of args for not: want 1 got {len(args)}")
            return not _truth(args[0])
        if name == "len":
            if len(args) != 1:
                raise fail(f"wrong number of args for len: want 1 got {len(args)}")
            if isinstance(args[0], (str, dict)):
                return len(go_bytes(args[0])) if isinstance(args[0], str) else len(args[0])
            raise fail(f"len of type {gofmt.type_name(args[0])}")
        if name == "index":
            if not args:
                raise fail("wrong number of args for index: want at least 1 got 0")
            value = args[0]
            for key in args[1:]:
                if isinstance(value, dict) and isinstance(key, str):
                    value = value.get(key, getattr(value, "zero", None))
                elif isinstance(value, str) and isinstance(key, int) and not isinstance(key, bool):
                    raw = go_bytes(value)
                    if not 0 <= key < len(raw):
                        raise fail(f"error calling index: index out of range: {key}")
                    value = gofmt.Uint8(raw[key])
                else:
                    raise fail(
                        f"error calling index: cannot index {gofmt.type_name(value)} with {gofmt.type_name(key)}"
                    )
            return value
        if name == "print":
            return gofmt.sprint(args)
        if name == "printf":
            if not args or not isinstance(args[0], str):
                raise fail("printf needs a format string first")
            try:
                return gofmt.sprintf(args[0], args[1:])
            except gofmt.UnsupportedVerb as verb:
                raise self.parser.unsupported(f"(printf verb {verb})") from None
        if name in ("eq", "ne", "lt", "le", "gt", "ge"):
            if len(args) < 2 or (name != "eq" and len(args) != 2):
                raise fail(f"wrong number of args for {name}: want 2 got {len(args)}")
            first = args[0]
            for other in args[1:]:
                if _basic_kind(first) != _basic_kind(other) or _basic_kind(first) is None:
                    raise fail(
                        f"error calling {name}: incompatible types for comparison ({gofmt.type_name(first)} and {gofmt.type_name(other)})"
                    )
            if name == "eq":
                return any(first == other for other in args[1:])
            if name == "ne":
                return first != args[1]
            if isinstance(first, bool):
                raise fail(f"error calling {name}: invalid type for comparison")
            return {"lt": first < args[1], "le": first <= args[1], "gt": first > args[1], "ge": first >= args[1]}[name]
        raise fail(f'function "{name}" not defined')  # pragma: no cover


class _NoValue:
    pass


_NO_VALUE = _NoValue()


def _basic_kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, str):
        return "string"
    return None


def _truth(value: Any) -> bool:
    if value is None or value is _NO_VALUE:
        return False
    if isinstance(value, (bool, int, str, dict)):
        return bool(value)
    return True


def _print_result(value: Any) -> str:
    """How an action writes its value: `<no value>` for a missing one, else fmt's %v."""
    if value is None or value is _NO_VALUE:
        return "<no value>"
    return gofmt.format_value(value)


# ---------------------------------------------------------------------------------------------
# Public API


@dataclass(frozen=True)
class Template:
    """A parsed template: its text, where it comes from (for errors), and its nodes."""

    text: str
    where: str
    nodes: tuple[Any, ...]

    def fail(self, problem: str, fix: str = "") -> TemplateError:
        """An error about this template, in the one-line form every error here has."""
        return _Parser(self.text, self.where).fail(problem, fix)

    def execute(self, data: Mapping[str, Any]) -> str:
        """Execute with `missingkey=error`; a Go string (see `gostrconv`) or a `TemplateError`."""
        out: list[str] = []
        _Evaluator(_Parser(self.text, self.where), data).run(self.nodes, out)
        return "".join(out)


def parse(text: str, where: str = "") -> Template:
    """Parse `text`; `where` (e.g. the target and field) prefixes error messages."""
    return Template(text, where, _Parser(text, where).parse())


def field_path(node: Any) -> tuple[str, ...] | None:
    """The root-relative field path of an operand, or None when it is not a plain field."""
    if isinstance(node, Field):
        return node.names
    if isinstance(node, Chain):
        inner = node.operand
        if isinstance(inner, Pipeline) and len(inner.commands) == 1 and len(inner.commands[0].args) == 1:
            base = field_path(inner.commands[0].args[0])
            if base is not None:
                return base + node.names
    if isinstance(node, Pipeline) and len(node.commands) == 1 and len(node.commands[0].args) == 1:
        return field_path(node.commands[0].args[0])
    return None


def commands(nodes: Iterable[Any]) -> Iterable[Command]:
    """Every command of the template, outer ones first; a parenthesised field is not descended into."""
    for node in nodes:
        pipelines: list[Pipeline] = []
        if isinstance(node, Action):
            pipelines.append(node.pipeline)
        elif isinstance(node, If):
            for cond, body in node.branches:
                pipelines.append(cond)
                yield from commands(body)
            yield from commands(node.otherwise)
        while pipelines:
            pipeline = pipelines.pop()
            for command in pipeline.commands:
                yield command
                for arg in command.args:
                    if field_path(arg) is not None:
                        continue  # `(.Env.X)`, `(.Env).X`: a field, judged as a whole by the caller
                    if isinstance(arg, Pipeline):
                        pipelines.append(arg)
                    elif isinstance(arg, Chain) and isinstance(arg.operand, Pipeline):
                        pipelines.append(arg.operand)


def fields(nodes: Iterable[Any]) -> Iterable[Field]:
    """Every field operand (`.A.B`, `$.A`, `.`) of the template."""
    for node in nodes:
        if isinstance(node, Action):
            yield from _pipeline_fields(node.pipeline)
        elif isinstance(node, If):
            for cond, body in node.branches:
                yield from _pipeline_fields(cond)
                yield from fields(body)
            yield from fields(node.otherwise)


def _pipeline_fields(pipeline: Pipeline) -> Iterable[Field]:
    for command in pipeline.commands:
        for arg in command.args:
            if isinstance(arg, Field):
                yield arg
            elif isinstance(arg, Pipeline):
                yield from _pipeline_fields(arg)
            elif isinstance(arg, Chain):
                yield from _pipeline_fields(arg.operand)
