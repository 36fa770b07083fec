"""What Go reads from the top of a `.go` file: package clause, imports, build constraints, and
the `//go:embed` patterns, as `go list` and `go build` read them.

Ports of Go's own readers (Go 1.26 sources):
- `go/build/read.go` `readGoInfo`/`importReader`: the package clause and import declarations
  (comments, `;` and newlines skipped; reading stops at the first non-import declaration);
- `go/build/build.go` `parseFileHeader`/`shouldBuild`: the `//go:build` line (or legacy
  `// +build` lines) of the leading comment block;
- `go/build/constraint/expr.go`: the constraint expression (`||`, `&&`, `!`, parentheses);
- `go/ast/directive.go` `ParseDirective`/`ParseArgs`: `//go:embed` arguments, quoted or not,
  looked for (as `readGoInfo` does) in the whole file's comments when the file imports "embed".
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Callable, Union

# ---------------------------------------------------------------------------------------------
# Build constraints


@dataclass(frozen=True)
class Tag:
    name: str


@dataclass(frozen=True)
class Not:
    x: Expr


@dataclass(frozen=True)
class And:
    x: Expr
    y: Expr


@dataclass(frozen=True)
class Or:
    x: Expr
    y: Expr


Expr = Union[Tag, Not, And, Or]

_TAG = re.compile(r"[A-Za-z0-9_.]+")


class ConstraintError(ValueError):
    pass


def parse_go_build(line: str) -> Expr:
    """The expression of a `//go:build` line (Go's `constraint.Parse` for that form)."""
    if not line.startswith("//go:build"):
        raise ConstraintError(f"not a //go:build line: {line!r}")
    text = line[len("//go:build") :].strip()
    tokens = re.findall(r"\|\||&&|!|\(|\)|[A-Za-z0-9_.]+|\S", text)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def or_expr() -> Expr:
        x = and_expr()
        while peek() == "||":
            take()
            x = Or(x, and_expr())
        return x

    def and_expr() -> Expr:
        x = not_expr()
        while peek() == "&&":
            take()
            x = And(x, not_expr())
        return x

    def not_expr() -> Expr:
        if peek() == "!":
            take()
            return Not(not_expr())
        return atom()

    def atom() -> Expr:
        token = peek()
        if token == "(":
            take()
            x = or_expr()
            if peek() != ")":
                raise ConstraintError(f"missing close paren in {line!r}")
            take()
            return x
        if token is None or not _TAG.fullmatch(token):
            raise ConstraintError(f"unexpected {token or 'end of line'!r} in {line!r}")
        return Tag(take())

    if not tokens:
        raise ConstraintError(f"empty //go:build line: {line!r}")
    expr = or_expr()
    if pos != len(tokens):
        raise ConstraintError(f"unexpected {tokens[pos]!r} in {line!r}")
    return expr


def parse_plus_build(lines: tuple[str, ...]) -> Expr | None:
    """Legacy `// +build a,b c` lines: options ORed, `,` ANDs, `!` negates; lines ANDed."""
    result: Expr | None = None
    for line in lines:
        line_expr: Expr | None = None
        for option in line.split()[2:]:
            term: Expr | None = None
            for name in option.split(","):
                negated = name.startswith("!")
                tag: Expr = Tag(name[1:] if negated else name)
                tag = Not(tag) if negated else tag
                term = tag if term is None else And(term, tag)
            if term is not None:
                line_expr = term if line_expr is None else Or(line_expr, term)
        if line_expr is not None:
            result = line_expr if result is None else And(result, line_expr)
    return result


def evaluate(expr: Expr, has_tag: Callable[[str], bool]) -> bool:
    if isinstance(expr, Tag):
        return has_tag(expr.name)
    if isinstance(expr, Not):
        return not evaluate(expr.x, has_tag)
    if isinstance(expr, And):
        return evaluate(expr.x, has_tag) and evaluate(expr.y, has_tag)
    return evaluate(expr.x, has_tag) or evaluate(expr.y, has_tag)


def tags_of(expr: Expr) -> set[str]:
    if isinstance(expr, Tag):
        return {expr.name}
    if isinstance(expr, Not):
        return tags_of(expr.x)
    return tags_of(expr.x) | tags_of(expr.y)


# More tags than this in one constraint: assumed satisfiable (2**16 evaluations at most).
_MAX_FREE_TAGS = 16


def satisfiable_without_ignore(expr: Expr) -> bool:
    """Whether some build could compile the file: the tag `ignore` is never set (Go's convention
    for files that are not part of the package), every other tag may be on or off."""
    free = sorted(tags_of(expr) - {"ignore"})
    if len(free) > _MAX_FREE_TAGS:
        return True
    for values in itertools.product((False, True), repeat=len(free)):
        on = {name for name, value in zip(free, values) if value}
        if evaluate(expr, on.__contains__):
            return True
    return False


# ---------------------------------------------------------------------------------------------
# The file header


@dataclass(frozen=True)
class GoFileHeader:
    """What Go's package loader reads from one `.go` file."""

    package: str | None  # None when the package clause cannot be read (Go reports the error)
    imports: tuple[str, ...]  # in file order, "C" included
    embed_patterns: tuple[str, ...]  # arguments of `//go:embed` lines (only when "embed" is imported)
    go_build: str | None  # the `//go:build` line as written, if any
    plus_build: tuple[str, ...] = ()  # legacy `// +build` lines (used only without `//go:build`)

    @property
    def uses_cgo(self) -> bool:
        return "C" in self.imports

    @property
    def constraint(self) -> Expr | None:
        if self.go_build is not None:
            return parse_go_build(self.go_build)
        return parse_plus_build(self.plus_build)

    @property
    def constraint_text(self) -> str | None:
        if self.go_build is not None:
            return self.go_build
        return " ".join(self.plus_build) or None

    def buildable_somewhere(self) -> bool:
        """False for files no build compiles (`//go:build ignore` and the like)."""
        try:
            expr = self.constraint
        except ConstraintError:
            return True  # Go reports the malformed line when it builds the package
        return expr is None or satisfiable_without_ignore(expr)


def _is_go_build_comment(line: bytes) -> bool:
    if not line.startswith(b"//go:build"):
        return False
    rest = line[len(b"//go:build") :]
    return len(rest) == 0 or len(rest.strip()) < len(rest)


def _constraint_lines(content: bytes) -> tuple[str | None, tuple[str, ...]]:
    """Go's `parseFileHeader`: the `//go:build` line of the leading comments, and the
    `// +build` lines of the leading run of comments that ends at a blank line."""
    end = 0
    go_build: bytes | None = None
    ended = False
    in_slash_star = False
    rest = content
    while rest:
        newline = rest.find(b"\n")
        if newline >= 0:
            line, rest = rest[:newline], rest[newline + 1 :]
        else:
            line, rest = rest, b""
        line = line.strip()
        if not line and not ended:
            end = len(content) - len(rest)
            continue
        if not line.startswith(b"//"):
            ended = True
        # A second `//go:build` line is an error Go reports when it builds; the first is kept.
        if not in_slash_star and go_build is None and _is_go_build_comment(line):
            go_build = line
        stop = False
        while line:
            if in_slash_star:
                close = line.find(b"*/")
                if close >= 0:
                    in_slash_star = False
                    line = line[close + 2 :].strip()
                    continue
                break
            if line.startswith(b"//"):
                break
            if line.startswith(b"/*"):
                in_slash_star = True
                line = line[2:].strip()
                continue
            stop = True
            break
        if stop:
            break
    plus_build = []
    for raw in content[:end].split(b"\n"):
        line = raw.strip()
        if line.startswith(b"//") and b"+build" in line:
            text = line.decode("utf-8", "replace")
            fields = text.split()
            if len(fields) >= 2 and fields[0] == "//" and fields[1] == "+build":
                plus_build.append(text)
    return (go_build.decode("utf-8", "replace") if go_build is not None else None), tuple(plus_build)


class _SyntaxError(Exception):
    pass


def _is_ident(c: str) -> bool:
    return c.isalnum() or c == "_" or ord(c) >= 0x80


class _ImportReader:
    """Go's `importReader` on decoded text: `;`, spaces and comments between tokens skipped."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_space(self) -> None:
        text = self.text
        while self.pos < len(text):
            c = text[self.pos]
            if c in " \f\t\r\n;":
                self.pos += 1
            elif text.startswith("//", self.pos):
                newline = text.find("\n", self.pos)
                self.pos = len(text) if newline < 0 else newline + 1
            elif text.startswith("/*", self.pos):
                close = text.find("*/", self.pos + 2)
                if close < 0:
                    raise _SyntaxError
                self.pos = close + 2
            elif c == "/":
                raise _SyntaxError
            else:
                return

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def keyword(self, word: str) -> None:
        self.skip_space()
        if not self.text.startswith(word, self.pos):
            raise _SyntaxError
        self.pos += len(word)
        if self.pos < len(self.text) and _is_ident(self.text[self.pos]):
            raise _SyntaxError

    def ident(self) -> str:
        self.skip_space()
        start = self.pos
        while self.pos < len(self.text) and _is_ident(self.text[self.pos]):
            self.pos += 1
        if start == self.pos:
            raise _SyntaxError
        return self.text[start : self.pos]

    def string(self) -> str | None:
        """A string literal; its value, or None when it has escapes (never in real import paths)."""
        self.skip_space()
        text, start = self.text, self.pos
        if start >= len(text) or text[start] not in '"`':
            raise _SyntaxError
        quote = text[start]
        i = start + 1
        escaped = False
        while True:
            if i >= len(text) or (quote == '"' and text[i] == "\n"):
                raise _SyntaxError
            c = text[i]
            if quote == '"' and c == "\\":
                escaped = True
                i += 2
                continue
            if c == quote:
                break
            i += 1
        self.pos = i + 1
        value = text[start + 1 : i]
        if quote == "`":
            return value.replace("\r", "")
        return None if escaped else value

    def import_spec(self) -> str | None:
        c = self.peek()
        if c == ".":
            self.pos += 1
        elif c and _is_ident(c):
            self.ident()
        return self.string()


def _read_imports(text: str) -> tuple[str | None, list[str], int | None]:
    """Package name, import paths, and where the import declarations end (None after a
    syntax error: Go keeps what it read, and the end is not known)."""
    reader = _ImportReader(text)
    imports: list[str] = []
    try:
        reader.keyword("package")
        package = reader.ident()
    except _SyntaxError:
        return None, [], None
    try:
        while reader.peek() == "i":
            reader.keyword("import")
            if reader.peek() == "(":
                reader.pos += 1
                while reader.peek() != ")":
                    if not reader.peek():
                        raise _SyntaxError
                    path = reader.import_spec()
                    if path is not None:
                        imports.append(path)
                reader.pos += 1
            else:
                path = reader.import_spec()
                if path is not None:
                    imports.append(path)
    except _SyntaxError:
        return package, imports, None  # Go keeps what it read and reports the error when it compiles
    return package, imports, reader.pos


def _line_comments(text: str):
    """Every `//` comment of a Go file (strings, runes and block comments skipped), as Go's
    scanner returns them: from `//` to the end of the line, carriage returns removed."""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "/" and text.startswith("//", i):
            newline = text.find("\n", i)
            end = n if newline < 0 else newline
            yield text[i:end].replace("\r", "")
            i = end
        elif c == "/" and text.startswith("/*", i):
            close = text.find("*/", i + 2)
            i = n if close < 0 else close + 2
        elif c in "\"'":
            i += 1
            while i < n and text[i] != c and text[i] != "\n":
                i += 2 if text[i] == "\\" else 1
            i += 1
        elif c == "`":
            close = text.find("`", i + 1)
            i = n if close < 0 else close + 1
        else:
            i += 1


def _directive_args(args: str) -> list[str] | None:
    """`go/ast` `Directive.ParseArgs`: space-separated words or Go string literals; None when
    malformed (Go then ignores the line and the compiler reports it)."""
    out: list[str] = []
    i, n = 0, len(args)
    while True:
        while i < n and args[i].isspace():
            i += 1
        if i >= n:
            return out
        if args[i] == "`":
            close = args.find("`", i + 1)
            if close < 0:
                return None
            out.append(args[i + 1 : close])
            i = close + 1
        elif args[i] == '"':
            j = i + 1
            while j < n and args[j] != '"':
                if args[j] == "\\":
                    return None  # escapes in file patterns: left to the compiler to report
                j += 1
            if j >= n:
                return None
            out.append(args[i + 1 : j])
            i = j + 1
        else:
            j = i
            while j < n and not args[j].isspace():
                j += 1
            out.append(args[i:j])
            i = j
            continue
        if i < n and not args[i].isspace():
            return None


def _embed_patterns(text: str) -> list[str]:
    patterns: list[str] = []
    for comment in _line_comments(text):
        if not comment.startswith("//go:embed"):
            continue
        rest = comment[len("//go:embed") :]
        if rest and not rest[0].isspace():
            continue  # //go:embedded and the like: another directive
        args = _directive_args(rest.rstrip())
        if args:
            patterns.extend(args)
    return patterns


def read_header(content: bytes) -> GoFileHeader:
    """Read one `.go` file as Go's package loader does."""
    go_build, plus_build = _constraint_lines(content)
    text = content.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    package, imports, _ = _read_imports(text)
    embeds = _embed_patterns(text) if "embed" in imports else []
    return GoFileHeader(
        package=package,
        imports=tuple(imports),
        embed_patterns=tuple(embeds),
        go_build=go_build,
        plus_build=plus_build,
    )


def list_stub(content: bytes) -> bytes:
    """The part of a `.go` file `go list` reads, and nothing else: the file up to the end of its
    import declarations (leading comments, build constraints, the cgo preamble, the package
    clause) and its `//go:embed` lines (`readGoInfo` looks for them in the whole file). `go
    list` answers the same for the stub as for the file, so a listing whose input is stubs is
    not invalidated by edits to function bodies. A file whose header cannot be read is kept
    whole (Go reports the error from it)."""
    text = content.decode("utf-8", "surrogateescape")
    start = 1 if text.startswith("\ufeff") else 0
    package, imports, end = _read_imports(text[start:])
    if package is None or end is None:
        return content
    end += start
    stub = text[:end] + "\n"
    if "embed" in imports:
        stub += "".join(f"{c}\n" for c in _line_comments(text[end:]) if c.startswith("//go:embed"))
    return stub.encode("utf-8", "surrogateescape")


# Source files `go build` compiles or reads, by extension (go/build's `Context.Import`).
GO_SOURCE_EXTENSIONS = (
    ".go",
    ".c",
    ".cc",
    ".cxx",
    ".cpp",
    ".m",
    ".h",
    ".hh",
    ".hpp",
    ".hxx",
    ".f",
    ".F",
    ".for",
    ".f90",
    ".s",
    ".S",
    ".sx",
    ".swig",
    ".swigcxx",
    ".syso",
)


def ignored_by_go(name: str) -> bool:
    """Files Go never reads as part of a package: names starting with `_` or `.`."""
    return name.startswith(("_", "."))


def ignored_directory(name: str) -> bool:
    """Folders `./...` patterns skip: `testdata`, and names starting with `_` or `.` (a module's
    `vendor/` is skipped too, but belongs to the module)."""
    return name == "testdata" or name.startswith(("_", "."))
