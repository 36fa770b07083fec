"""`go.mod` and `go.work`: the directives that decide where a build finds the repository's code.

The grammar of `golang.org/x/mod/modfile` (`read.go`, `rule.go`, `work.go`): one directive a
line (`verb args...`) or a block (`verb (` ... `)`), `//` comments, arguments bare or quoted.
Only what locates code is kept: `module`, `replace` and (in go.work) `use`. A `replace` whose
new path is a directory (`./x`, `../x`, `/abs`; modfile's `IsDirectoryPath`) points at a module
on disk; its version-less form (`example.com/x => ../x`) replaces every version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class ModFileError(ValueError):
    """A go.mod/go.work line this reader cannot use; the text names the file and line."""


@dataclass(frozen=True)
class Replace:
    old_path: str
    old_version: str  # "" for every version
    new_path: str  # a module path, or a directory when `is_directory`
    new_version: str  # "" for a directory
    line: int

    @property
    def is_directory(self) -> bool:
        return is_directory_path(self.new_path)


@dataclass(frozen=True)
class Use:
    path: str  # a directory, relative to go.work's folder (or absolute)
    line: int


@dataclass(frozen=True)
class ModFile:
    """A parsed go.mod or go.work (`uses` is empty for go.mod, `module_path` None for go.work)."""

    module_path: str | None
    replaces: tuple[Replace, ...]
    uses: tuple[Use, ...] = ()


def is_directory_path(path: str) -> bool:
    """modfile's `IsDirectoryPath` (Unix forms; Windows drive paths count as absolute too)."""
    return (
        path in (".", "..")
        or path.startswith(("./", "../", "/", ".\\", "..\\"))
        or bool(re.match(r"^[A-Za-z]:[\\/]", path))
    )


_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|[()]|[^\s()"]+')


def _unquote(token: str, where: str) -> str:
    if token.startswith('"'):
        body = token[1:-1]
        if "\\" in body:
            raise ModFileError(f"{where}: escape sequences in a quoted path are not supported; write the path plainly.")
        return body
    return token


def _lines(text: str):
    """(line number, tokens) per line, comments removed."""
    for number, raw in enumerate(text.splitlines(), start=1):
        tokens = []
        for match in _TOKEN.finditer(raw):
            token = match.group(0)
            if token.startswith("//"):
                break
            tokens.append(token)
        if tokens:
            yield number, tokens


def _directives(text: str, path: str):
    """(verb, args, line) for every directive, block entries included."""
    block: str | None = None
    for number, tokens in _lines(text):
        if block is not None:
            if tokens == [")"]:
                block = None
                continue
            yield block, tokens, number
            continue
        verb, args = tokens[0], tokens[1:]
        if args == ["("]:
            block = verb
            continue
        yield verb, args, number
    if block is not None:
        raise ModFileError(f"{path}: the `{block} (` block is never closed; add a `)` line.")


def _replace(args: list[str], path: str, line: int) -> Replace:
    where = f"{path}:{line}"
    if "=>" not in args:
        raise ModFileError(f"{where}: `replace` needs `old [version] => new [version]`.")
    arrow = args.index("=>")
    old, new = [_unquote(a, where) for a in args[:arrow]], [_unquote(a, where) for a in args[arrow + 1 :]]
    if len(old) not in (1, 2) or len(new) not in (1, 2):
        raise ModFileError(f"{where}: `replace` needs `old [version] => new [version]`.")
    return Replace(
        old_path=old[0],
        old_version=old[1] if len(old) == 2 else "",
        new_path=new[0],
        new_version=new[1] if len(new) == 2 else "",
        line=line,
    )


def parse_mod(text: str, path: str) -> ModFile:
    """A go.mod file's module path and replace directives."""
    module_path: str | None = None
    replaces: list[Replace] = []
    for verb, args, line in _directives(text, path):
        if verb == "module" and args:
            module_path = _unquote(args[0], f"{path}:{line}")
        elif verb == "replace":
            replaces.append(_replace(args, path, line))
    if module_path is None:
        raise ModFileError(f"{path}: no `module` line; run `go mod init <module path>` there.")
    return ModFile(module_path, tuple(replaces))


def parse_work(text: str, path: str) -> ModFile:
    """A go.work file's `use` and replace directives."""
    uses: list[Use] = []
    replaces: list[Replace] = []
    for verb, args, line in _directives(text, path):
        if verb == "use" and args:
            uses.append(Use(_unquote(args[0], f"{path}:{line}"), line))
        elif verb == "replace":
            replaces.append(_replace(args, path, line))
    return ModFile(None, tuple(replaces), tuple(uses))
