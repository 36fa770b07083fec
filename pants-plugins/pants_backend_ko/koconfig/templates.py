"""ko's `flags`/`ldflags` templates: the Go `text/template` subset that ko configs use.

ko renders every `flags` and `ldflags` item with `text/template` and
`Option("missingkey=error")` over this data (`pkg/build/gobuild.go` `createTemplateData`):

* `.Env.X`   the build environment (with `LDFLAGS=""` unless set),
* `.GoEnv.X` `go env`, where keys also present in `.Env` take `.Env`'s value,
* `.Git.*`   Branch, Tag, ShortCommit, FullCommit, CommitDate, CommitTimestamp, IsDirty,
             IsClean, TreeState (see `gitinfo.py`),
* `.Date`    RFC 3339 build date, `.Timestamp` its Unix seconds (`SOURCE_DATE_EPOCH` or now).

Supported syntax: literal text; actions `{{ ... }}` with trim markers `{{- ` and ` -}}`;
comments `{{/* ... */}}`; field chains on `.` and `$`; string, raw-string, integer and
boolean literals; parenthesised pipelines; pipelines `a | f b`; `if` / `else if` / `else` /
`end`; and the functions `index`, `print`, `printf` (%s %v %d %q %t %%), `len`, `not`, `and`,
`or`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`. Anything else (range, with, define, template,
variables, methods, other functions) is a one-line "unsupported template construct" error.

Deliberate difference: `.Date` is formatted in UTC (ko uses the machine's local zone, a
quirk that makes results depend on `TZ`; ko's own docs promise UTC). `.Timestamp` is equal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pants_backend_ko.errors import KoError
from pants_backend_ko.golang.gostrconv import go_bytes, quote, unquote
from pants_backend_ko.golang.gotime import unix_utc

# The data families a template can use; callers compute only the ones `template_needs` names.
ENV = "Env"
GO_ENV = "GoEnv"
GIT = "Git"
DATE = "Date"  # covers .Date and .Timestamp (same source)
_TOP_LEVEL = {"Env": ENV, "GoEnv": GO_ENV, "Git": GIT, "Date": DATE, "Timestamp": DATE}
ALL_FAMILIES: frozenset[str] = frozenset({ENV, GO_ENV, GIT, DATE})

_UNSUPPORTED_KEYWORDS = frozenset({"range", "with", "define", "template", "block", "break", "continue", "nil"})
_FUNCTIONS = frozenset({"index", "print", "printf", "len", "not", "and", "or", "eq", "ne", "lt", "le", "gt", "ge"})
_GO_BUILTINS_UNSUPPORTED = frozenset({"html", "js", "urlquery", "call", "slice", "println"})


class TemplateError(KoError):
    """A template that cannot be parsed or rendered; the message names the template."""


class GoMap(dict):
    """A Go map value: remembers its element zero value for `index` of a missing key."""

    def __init__(self, items: Mapping[str, Any], zero: Any) -> None:
        super().__init__(items)
        self.zero = zero


# ---------------------------------------------------------------------------------------------
# Template data


def template_env(build_env: Sequence[str]) -> dict[str, str]:
    """`.Env`: `LDFLAGS=""`, then the `NAME=VALUE` entries in order (later ones win)."""
    env = {"LDFLAGS": ""}
    for entry in build_env:
        name, sep, value = entry.partition("=")
        if not sep:
            raise KoError(f"invalid environment entry {name!r} for templates: expected NAME=VALUE")
        env[name] = value
    return env


def parse_go_env(output: str) -> dict[str, str]:
    """Parse `go env` output (`KEY='value'` lines) as ko's `goenv` does."""
    result: dict[str, str] = {}
    for number, line in enumerate(output.splitlines(), start=1):
        if not line.strip():
            continue  # Go's scanner would fail here; blank lines do not occur on Linux
        key, sep, value = line.partition("=")
        if not sep:
            raise KoError(f"go env: cannot parse line {number}; expected KEY=VALUE")
        value = value.strip()
        if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        result[key.strip()] = value
    return result


def template_data(
    build_env: Sequence[str],
    go_env: Mapping[str, str] | None = None,
    git: Mapping[str, Any] | None = None,
    date_epoch: int | None = None,
) -> dict[str, Any]:
    """The data ko renders templates with; families left as None are absent.

    build_env: the full build environment as `NAME=VALUE` (ko: its environment, then the
    platform variables, then builds[].env); go_env: `parse_go_env` output, when `GoEnv` is
    needed; git: `GitInfo.template_value()`, when `Git` is needed; date_epoch:
    `SOURCE_DATE_EPOCH` (or the current time), when `Date` is needed.
    """
    env = template_env(build_env)
    data: dict[str, Any] = {"Env": GoMap(env, "")}
    if go_env is not None:
        merged = dict(go_env)
        for key, value in env.items():  # only keys go env knows are overridden, as in ko
            if key in merged:
                merged[key] = value
        data["GoEnv"] = GoMap(merged, "")
    if git is not None:
        data["Git"] = GoMap(git, None)
    if date_epoch is not None:
        data["Date"] = unix_utc(date_epoch)
        data["Timestamp"] = int(date_epoch)
    return GoMap(data, None)


# ---------------------------------------------------------------------------------------------
# Parse tree


@dataclass(frozen=True)
class _Field:
    root: str  # "." or "$"
    names: tuple[str, ...]


@dataclass(frozen=True)
class _Literal:
    value: Any


@dataclass(frozen=True)
class _Func:
    name: str


@dataclass(frozen=True)
class _Chain:
    """`(pipeline).A.B`"""

    operand: Any
    names: tuple[str, ...]


@dataclass(frozen=True)
class _Command:
    args: tuple[Any, ...]


@dataclass(frozen=True)
class _Pipeline:
    commands: tuple[_Command, ...]


@dataclass(frozen=True)
class _Text:
    text: str


@dataclass(frozen=True)
class _Action:
    pipeline: _Pipeline


@dataclass(frozen=True)
class _If:
    branches: tuple[tuple[_Pipeline, tuple[Any, ...]], ...]
    otherwise: tuple[Any, ...]


_TRIM_SPACE = " \t\r\n"


class _Parser:
    def __init__(self, template: str, where: str) -> None:
        self.template = template
        self.where = where

    def fail(self, problem: str, fix: str = "") -> TemplateError:
        prefix = f"{self.where}: " if self.where else ""
        tail = f"; {fix}" if fix else ""
        return TemplateError(f"{prefix}template {self.template!r}: {problem}{tail}")

    def unsupported(self, what: str) -> TemplateError:
        return self.fail(
            f"unsupported template construct {what}",
            "use field chains such as {{.Env.X}}, {{.Git.Tag}}, pipelines with index/print/printf/eq, or if/else",
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
          | (?P<number>[-+]?(?:0[xX][0-9a-fA-F_]+|[0-9][0-9_]*(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?))
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
        nodes, stop, _ = self._parse_list(stream, 0, top=True)
        return nodes

    def _parse_list(self, stream: list, i: int, top: bool) -> tuple[tuple[Any, ...], int, str | None]:
        nodes: list[Any] = []
        while i < len(stream):
            kind, value = stream[i]
            if kind == "text":
                nodes.append(_Text(value))
                i += 1
                continue
            toks = value
            if not toks:
                raise self.fail("empty action {{}}", "put a field such as .Env.X between the braces")
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
            nodes.append(_Action(self._pipeline(toks)))
            i += 1
        if not top:
            raise self.fail("{{if}} without {{end}}", "add {{end}}")
        return tuple(nodes), i, None

    def _parse_if(self, stream: list, i: int, cond_tokens: list) -> tuple[_If, int]:
        branches = []
        cond = self._pipeline(cond_tokens, context="{{if}}")
        while True:
            body, i, stop = self._parse_list(stream, i + 1, top=False)
            branches.append((cond, body))
            toks = stream[i][1]
            if stop == "end":
                if len(toks) != 1:
                    raise self.fail("unexpected words after {{end}}", "write {{end}}")
                return _If(tuple(branches), ()), i + 1
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
            return _If(tuple(branches), otherwise), i + 1

    def _pipeline(self, toks: list, context: str = "") -> _Pipeline:
        pipeline, rest = self._parse_pipeline(toks, 0)
        if rest != len(toks):
            raise self.fail(f"unexpected {toks[rest][1]!r}", "check the parentheses")
        if not pipeline.commands:
            raise self.fail(f"missing value in {context or 'action'}", "add a field such as .Git.IsDirty")
        return pipeline

    def _parse_pipeline(self, toks: list, i: int) -> tuple[_Pipeline, int]:
        commands: list[_Command] = []
        args: list[Any] = []
        if i < len(toks) and toks[i][0] == "declare":
            raise self.unsupported("(variable assignment)")
        while i < len(toks):
            kind, value = toks[i]
            if kind == "punct" and value == ")":
                break
            if kind == "punct" and value == "|":
                if not args:
                    raise self.fail("missing command before |", 'write e.g. {{ .Env.X | printf "%s" }}')
                commands.append(_Command(tuple(args)))
                args = []
                i += 1
                continue
            if kind == "punct" and value == "(":
                inner, i = self._parse_pipeline(toks, i + 1)
                if i >= len(toks) or toks[i] != ("punct", ")"):
                    raise self.fail("unclosed (", "add )")
                i += 1
                operand: Any = inner
                if i < len(toks) and toks[i][0] == "chain":
                    operand = _Chain(inner, tuple(toks[i][1].split(".")[1:]))
                    i += 1
                args.append(operand)
                continue
            args.append(self._operand(kind, value))
            i += 1
        if args:
            commands.append(_Command(tuple(args)))
        elif commands:
            raise self.fail("missing command after |", "add a function after |")
        for command in commands[1:]:
            if not isinstance(command.args[0], _Func):
                raise self.fail("a value after | must be a function such as printf", "move the value before |")
        for command in commands:
            if len(command.args) > 1 and not isinstance(command.args[0], _Func):
                if isinstance(command.args[0], _Field) and command.args[0].names:
                    raise self.unsupported("(method call with arguments)")
                raise self.fail(
                    f"{_show(command.args[0])} is not a function but has arguments", "remove the extra words"
                )
        return _Pipeline(tuple(commands)), i

    def _operand(self, kind: str, value: str) -> Any:
        if kind == "field":
            if value == "$":
                return _Field("$", ())
            if value.startswith("$"):
                return _Field("$", tuple(value[2:].split(".")))
            if value == ".":
                return _Field(".", ())
            return _Field(".", tuple(value[1:].split(".")))
        if kind in ("string", "raw"):
            try:
                return _Literal(unquote(value))
            except ValueError:
                raise self.fail(f"invalid string literal {value}", "fix its escape sequences") from None
        if kind == "number":
            try:
                return _Literal(int(value.replace("_", ""), 0))
            except ValueError:
                raise self.unsupported(f"(non-integer number {value})") from None
        if kind == "ident":
            if value in ("true", "false"):
                return _Literal(value == "true")
            if value in _FUNCTIONS:
                return _Func(value)
            if value in ("if", "else", "end") or value in _UNSUPPORTED_KEYWORDS:
                raise self.unsupported(f"({value!r} inside an action)")
            if value in _GO_BUILTINS_UNSUPPORTED:
                raise self.unsupported(f"(function {value!r})")
            raise self.fail(f'function "{value}" not defined', "use one of " + ", ".join(sorted(_FUNCTIONS)))
        if kind == "var":
            raise self.unsupported(f"(variable {value})")
        if kind == "char":
            raise self.unsupported(f"(character constant {value})")
        if kind == "declare":
            raise self.unsupported("(variable assignment)")
        if kind == "chain":
            raise self.fail(f"unexpected {value!r}", "field chains follow . or $ or a parenthesised pipeline")
        raise self.fail(f"unexpected {value!r}", "check the template syntax")


def _show(node: Any) -> str:
    if isinstance(node, _Field):
        return (
            (node.root if node.root == "$" else "") + "".join("." + n for n in node.names) if node.names else node.root
        )
    if isinstance(node, _Literal):
        return repr(node.value)
    if isinstance(node, _Func):
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
            if isinstance(node, _Text):
                out.append(node.text)
            elif isinstance(node, _Action):
                out.append(_go_print(self.pipeline(node.pipeline)))
            elif isinstance(node, _If):
                for cond, body in node.branches:
                    if _truth(self.pipeline(cond)):
                        self.run(body, out)
                        break
                else:
                    self.run(node.otherwise, out)

    def pipeline(self, pipeline: _Pipeline) -> Any:
        value: Any = _NO_VALUE
        for command in pipeline.commands:
            value = self.command(command, value)
        return value

    def command(self, command: _Command, piped: Any) -> Any:
        head = command.args[0]
        if isinstance(head, _Func):
            args = (
                [self.operand(a) for a in command.args[1:]]
                if head.name not in ("and", "or")
                else list(command.args[1:])
            )
            if piped is not _NO_VALUE:
                args.append(piped if head.name not in ("and", "or") else _Literal(piped))
            return self.call(head.name, args)
        return self.operand(head)

    def operand(self, node: Any) -> Any:
        if isinstance(node, _Literal):
            return node.value
        if isinstance(node, _Field):
            return self.chain(self.data, node.names, _show(node))
        if isinstance(node, _Pipeline):
            return self.pipeline(node)
        if isinstance(node, _Chain):
            return self.chain(self.pipeline(node.operand), node.names, "(...)." + ".".join(node.names))
        if isinstance(node, _Func):
            return self.call(node.name, [])
        raise self.parser.fail("cannot evaluate the action")  # pragma: no cover

    def chain(self, value: Any, names: Sequence[str], shown: str) -> Any:
        path = ""
        for name in names:
            path += "." + name
            if isinstance(value, dict):
                if name not in value:
                    if value is self.data and name in _TOP_LEVEL:
                        # The caller did not compute this family: it skipped template_needs.
                        raise self.parser.fail(
                            f"{path} is not available (its data was not computed)",
                            "compute the families template_needs() names",
                        )
                    known = (
                        ", ".join(sorted(value))
                        if value is not self.data.get("Env") and value is not self.data.get("GoEnv")
                        else ""
                    )
                    hint = f"; known keys: {known}" if known else "; set it or remove the reference"
                    raise self.parser.fail(f'map has no entry for key "{name}" (at <{path}>)', hint[2:])
                value = value[name]
            else:
                raise self.parser.fail(
                    f"can't evaluate field {name} in type {_go_type(value)} (at <{path}>)", "remove the extra field"
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
            raise fail(f"len of type {_go_type(args[0])}")
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
                    value = raw[key]
                else:
                    raise fail(f"error calling index: cannot index {_go_type(value)} with {_go_type(key)}")
            return value
        if name == "print":
            return _go_sprint(args)
        if name == "printf":
            if not args or not isinstance(args[0], str):
                raise fail("printf needs a format string first")
            return _go_sprintf(args[0], args[1:], self.parser)
        if name in ("eq", "ne", "lt", "le", "gt", "ge"):
            if len(args) < 2 or (name != "eq" and len(args) != 2):
                raise fail(f"wrong number of args for {name}: want 2 got {len(args)}")
            first = args[0]
            for other in args[1:]:
                if _basic_kind(first) != _basic_kind(other) or _basic_kind(first) is None:
                    raise fail(
                        f"error calling {name}: incompatible types for comparison ({_go_type(first)} and {_go_type(other)})"
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


def _go_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, GoMap) and value.zero == "":
        return "map[string]string"
    if isinstance(value, dict):
        return "map[string]interface {}"
    return "<nil>"


def _truth(value: Any) -> bool:
    if value is None or value is _NO_VALUE:
        return False
    if isinstance(value, (bool, int, str, dict)):
        return bool(value)
    return True


def _go_print(value: Any) -> str:
    """fmt.Sprint of one value, as text/template prints an action's result."""
    if value is None or value is _NO_VALUE:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_print(v)}" for k, v in sorted(value.items())) + "]"
    return str(value)


def _go_sprint(args: Sequence[Any]) -> str:
    # fmt.Sprint adds a space between operands when neither is a string.
    out = []
    for i, arg in enumerate(args):
        if i > 0 and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append("<nil>" if arg is None else _go_print(arg))
    return "".join(out)


def _go_sprintf(fmt: str, args: Sequence[Any], parser: _Parser) -> str:
    out = []
    i = 0
    index = 0
    while i < len(fmt):
        c = fmt[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        verb = fmt[i + 1] if i + 1 < len(fmt) else ""
        i += 2
        if verb == "%":
            out.append("%")
            continue
        if verb not in "svdqt" or not verb:
            raise parser.unsupported(f"(printf verb %{verb})")
        if index >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[index]
        index += 1
        if verb in "sv":
            out.append(_go_print(arg))
        elif verb == "d" and isinstance(arg, int) and not isinstance(arg, bool):
            out.append(str(arg))
        elif verb == "t" and isinstance(arg, bool):
            out.append(_go_print(arg))
        elif verb == "q" and isinstance(arg, str):
            out.append(quote(arg))
        else:
            out.append(f"%!{verb}({_go_type(arg)}={_go_print(arg)})")
    if index < len(args):
        out.append("%!(EXTRA " + ", ".join(f"{_go_type(a)}={_go_print(a)}" for a in args[index:]) + ")")
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# Public API


def _parse(template: str, where: str) -> tuple[_Parser, tuple[Any, ...]]:
    parser = _Parser(template, where)
    return parser, parser.parse()


def render_template(template: str, data: Mapping[str, Any], where: str = "") -> str:
    """Render one flags/ldflags item as ko does (missingkey=error); `where` prefixes errors."""
    parser, nodes = _parse(template, where)
    out: list[str] = []
    _Evaluator(parser, data).run(nodes, out)
    return "".join(out)


def render_templates(templates: Sequence[str], data: Mapping[str, Any], where: str = "") -> tuple[str, ...]:
    """Render every item (ko's applyTemplating)."""
    return tuple(render_template(t, data, where) for t in templates)


def template_needs(templates: Iterable[str], where: str = "") -> set[str]:
    """Which data families (`Env`, `GoEnv`, `Git`, `Date`) the templates use.

    Parses every template, so syntax errors and unknown top-level keys surface here, before
    any `git` or `go env` run. A bare `.` or `$` used as a value needs every family.
    """
    needs: set[str] = set()
    for template in templates:
        if "{{" not in template:
            continue
        parser, nodes = _parse(template, where)
        for field in _fields(nodes):
            if not field.names:
                needs |= ALL_FAMILIES
                continue
            family = _TOP_LEVEL.get(field.names[0])
            if family is None:
                raise parser.fail(
                    f'map has no entry for key "{field.names[0]}" (at <.{field.names[0]}>)',
                    "the data is .Env, .GoEnv, .Git, .Date and .Timestamp",
                )
            needs.add(family)
    return needs


def template_keys_used(templates: Iterable[str], family: str, where: str = "") -> frozenset[str] | None:
    """The keys of one map family (`Env` or `GoEnv`, or `Git`) that the templates read.

    `None` means "all of them": the map is used whole (`{{.Env}}`, `{{len .Env}}`, `index`
    with a computed key). Lets a caller pass only the environment variables a template
    names (`{{.Env.VERSION}}`, `{{index .Env "VERSION"}}`) into the build and its cache key.
    """
    keys: set[str] = set()
    for template in templates:
        if "{{" not in template:
            continue
        parser, nodes = _parse(template, where)
        for command in _commands(nodes):
            args = command.args
            for position, arg in enumerate(args):
                path = _field_path(arg)
                if path is None:
                    continue
                if not path:
                    return None  # `.` or `$` as a value: every family, whole
                if path[0] != family:
                    continue
                if len(path) > 1:
                    keys.add(path[1])
                    continue
                # the map itself: fine only as `index <map> "literal"`
                head = args[0]
                is_index = isinstance(head, _Func) and head.name == "index" and position == 1
                if is_index and len(args) > 2 and isinstance(args[2], _Literal) and isinstance(args[2].value, str):
                    keys.add(args[2].value)
                    continue
                return None
    return frozenset(keys)


def _field_path(node: Any) -> tuple[str, ...] | None:
    """The root-relative field path of an operand, or None when it is not a plain field."""
    if isinstance(node, _Field):
        return node.names
    if isinstance(node, _Chain):
        inner = node.operand
        if isinstance(inner, _Pipeline) and len(inner.commands) == 1 and len(inner.commands[0].args) == 1:
            base = _field_path(inner.commands[0].args[0])
            if base is not None:
                return base + node.names
    if isinstance(node, _Pipeline) and len(node.commands) == 1 and len(node.commands[0].args) == 1:
        return _field_path(node.commands[0].args[0])
    return None


def _commands(nodes: Iterable[Any]) -> Iterable[_Command]:
    for node in nodes:
        pipelines: list[_Pipeline] = []
        if isinstance(node, _Action):
            pipelines.append(node.pipeline)
        elif isinstance(node, _If):
            for cond, body in node.branches:
                pipelines.append(cond)
                yield from _commands(body)
            yield from _commands(node.otherwise)
        while pipelines:
            pipeline = pipelines.pop()
            for command in pipeline.commands:
                yield command
                for arg in command.args:
                    if _field_path(arg) is not None:
                        continue  # `(.Env.X)`, `(.Env).X`: a field, judged as a whole by the caller
                    if isinstance(arg, _Pipeline):
                        pipelines.append(arg)
                    elif isinstance(arg, _Chain) and isinstance(arg.operand, _Pipeline):
                        pipelines.append(arg.operand)


def _fields(nodes: Iterable[Any]) -> Iterable[_Field]:
    for node in nodes:
        if isinstance(node, _Action):
            yield from _pipeline_fields(node.pipeline)
        elif isinstance(node, _If):
            for cond, body in node.branches:
                yield from _pipeline_fields(cond)
                yield from _fields(body)
            yield from _fields(node.otherwise)


def _pipeline_fields(pipeline: _Pipeline) -> Iterable[_Field]:
    for command in pipeline.commands:
        for arg in command.args:
            if isinstance(arg, _Field):
                yield arg
            elif isinstance(arg, _Pipeline):
                yield from _pipeline_fields(arg)
            elif isinstance(arg, _Chain):
                yield from _pipeline_fields(arg.operand)
