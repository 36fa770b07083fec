"""What `go version -m <binary>` prints, read as Go's `runtime/debug.ParseBuildInfo` reads it.

`parse_go_version_m` turns that text into a `GoBuildInfo` (Go's `debug.BuildInfo`: the main
package's path, the main module, every dependency module with its `=>` replacement, and the
`build` settings). It first does what ko's `massageGoVersionM` does (`internal/sbom/mod.go`):
the `<file>: <go version>` header is read, leading whitespace of every other line dropped,
trailing tabs kept; then Go's rules (`src/runtime/debug/mod.go`): tab-separated columns,
quoted keys and values unquoted with `strconv.Unquote` (`gostrconv`).

`elfbuildinfo` reads the same information straight from a binary. No Pants imports.
"""

from __future__ import annotations

from dataclasses import dataclass

from pants_backend_ko.errors import KoError
from pants_backend_ko.golang.gostrconv import quoted_prefix, unquote

__all__ = ["GoBuildInfoError", "GoModule", "GoBuildInfo", "parse_go_version_m"]


class GoBuildInfoError(KoError, ValueError):
    """The text is not ``go version -m`` output that Go itself could parse back."""


@dataclass(frozen=True)
class GoModule:
    """One module line (``mod``/``dep``) with its optional ``=>`` replacement."""

    path: str
    version: str
    sum: str = ""
    replace: GoModule | None = None


@dataclass(frozen=True)
class GoBuildInfo:
    """What ``go version -m`` says about one binary (Go's ``debug.BuildInfo``)."""

    go_version: str  # "go1.26.8", from the header line; "" without a header
    binary: str  # the file named in the header line; "" without a header
    path: str  # the main package's import path
    main: GoModule | None  # None when there is no "mod" line (not built in module mode)
    deps: tuple[GoModule, ...]
    settings: tuple[tuple[str, str], ...]  # "build" lines, in order

    def setting(self, key: str) -> str | None:
        """The value of the last ``build`` setting named ``key`` (e.g. ``GOARCH``), or None."""
        found = None
        for k, v in self.settings:
            if k == key:
                found = v
        return found


def _fail(line_no: int, problem: str) -> GoBuildInfoError:
    return GoBuildInfoError(
        f"go version -m output, line {line_no}: {problem}; pass the unmodified output of `go version -m <binary>`"
    )


def _quote_key(key: str) -> bool:
    # Go's debug.quoteKey: keys with these characters are written quoted.
    return key == "" or any(c in key for c in '= \t\r\n"`')


def _quote_value(value: str) -> bool:
    return any(c in value for c in ' \t\r\n"`')


def _module(elem: list[str], line_no: int, what: str) -> GoModule:
    if len(elem) not in (2, 3):
        raise _fail(line_no, f"a {what} line needs 2 or 3 tab-separated columns, got {len(elem)}")
    return GoModule(path=elem[0], version=elem[1], sum=elem[2] if len(elem) == 3 else "")


def _setting(kv: str, line_no: int) -> tuple[str, str]:
    if not kv:
        raise _fail(line_no, "a build line has no key=value")
    if kv[0] == "=":
        raise _fail(line_no, "a build line has an empty key")
    if kv[0] in '"`':
        try:
            raw_key = quoted_prefix(kv)
        except ValueError:
            raise _fail(line_no, "a build line has an invalid quoted key") from None
        if len(kv) == len(raw_key) or kv[len(raw_key)] != "=":
            raise _fail(line_no, "a build line has no '=' after its quoted key")
        key = unquote(raw_key)
        raw_value = kv[len(raw_key) + 1 :]
    else:
        key, sep, raw_value = kv.partition("=")
        if not sep:
            raise _fail(line_no, "a build line has no '=' after its key")
        if _quote_key(key):
            raise _fail(line_no, f"the build key {key!r} must be quoted")
    value = raw_value
    if raw_value and raw_value[0] in '"`':
        try:
            value = unquote(raw_value)
        except ValueError:
            raise _fail(line_no, f"the build setting {key!r} has an invalid quoted value") from None
    elif _quote_value(raw_value):
        raise _fail(line_no, f"the value of build setting {key!r} must be quoted")
    return key, value


def parse_go_version_m(text: str) -> GoBuildInfo:
    """Parse the output of ``go version -m <binary>`` (one binary).

    Raises :class:`GoBuildInfoError` (one line, with the line number) for text Go's
    ``debug.ParseBuildInfo`` would reject, for output about several binaries, and for text
    with no build information at all.
    """
    if not isinstance(text, str):
        raise GoBuildInfoError(f"go version -m output must be text, got {type(text).__name__}")
    lines = text.splitlines()
    go_version = binary = ""
    start = 0
    if lines and lines[0] and not lines[0][0].isspace():
        header = lines[0]
        binary, sep, go_version = header.rpartition(": ")
        if not sep or not go_version.startswith("go"):
            raise _fail(1, f"expected '<binary>: go<version>', got {header[:120]!r}")
        start = 1
    path = ""
    main: GoModule | None = None
    deps: list[GoModule] = []
    settings: list[tuple[str, str]] = []
    # The module a "=>" line replaces: ("main", None) or ("dep", index); None after a replacement.
    last: tuple[str, int | None] | None = None
    for offset, raw in enumerate(lines[start:]):
        line_no = start + offset + 1
        if raw and not raw[0].isspace():
            raise _fail(line_no, "a second '<binary>: go<version>' header (output about several binaries)")
        line = raw.lstrip()
        if line.startswith("path\t"):
            path = line[len("path\t") :]
        elif line.startswith("mod\t"):
            main = _module(line[len("mod\t") :].split("\t"), line_no, "mod")
            last = ("main", None)
        elif line.startswith("dep\t"):
            deps.append(_module(line[len("dep\t") :].split("\t"), line_no, "dep"))
            last = ("dep", len(deps) - 1)
        elif line.startswith("=>\t"):
            elem = line[len("=>\t") :].split("\t")
            if len(elem) != 3:
                raise _fail(line_no, f"a replacement (=>) line needs 3 tab-separated columns, got {len(elem)}")
            if last is None:
                raise _fail(line_no, "a replacement (=>) line does not follow a mod or dep line")
            replacement = GoModule(path=elem[0], version=elem[1], sum=elem[2])
            if last[0] == "main":
                assert main is not None
                main = GoModule(main.path, main.version, main.sum, replacement)
            else:
                index = last[1]
                assert index is not None
                old = deps[index]
                deps[index] = GoModule(old.path, old.version, old.sum, replacement)
            last = None
        elif line.startswith("build\t"):
            settings.append(_setting(line[len("build\t") :], line_no))
        # Any other line (Go's "go\t<version>", blank lines) is ignored, as Go does.
    if not path and main is None and not deps:
        raise GoBuildInfoError(
            "go version -m output has no build information (no path, mod or dep line); "
            "run `go version -m` on a Go binary built with module support"
        )
    return GoBuildInfo(go_version, binary, path, main, tuple(deps), tuple(settings))
