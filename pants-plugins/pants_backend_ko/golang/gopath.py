"""Go's `path` package: slash-separated paths, cleaned lexically (`src/path/path.go`).

ko names repositories with `filepath.Join` and writes tar entry names with `path.Join` and
`path.Split`; on Linux `filepath` behaves as `path`. Python's `posixpath.normpath` is close but
not equal: it keeps a leading `//` (POSIX allows it to mean something) and Go does not.
No Pants imports; the standard library only.
"""

from __future__ import annotations

__all__ = ["clean", "join", "base", "split"]


def clean(path: str) -> str:
    """Go's `path.Clean`: the shortest equivalent path, by purely lexical processing.

    Repeated and trailing slashes go, `.` elements go, `..` removes the element before it
    (at the root it is dropped; at the start of a relative path it is kept); `""` is `"."`.
    """
    if path == "":
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    cleaned = "/".join(parts)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def join(*elements: str) -> str:
    """Go's `path.Join`: the non-empty elements joined by `/`, then cleaned; `""` if all are empty."""
    joined = "/".join(e for e in elements if e)
    return clean(joined) if joined else ""


def base(path: str) -> str:
    """Go's `path.Base`: the last element, trailing slashes ignored; `"."` for `""`, `"/"` for slashes."""
    if path == "":
        return "."
    stripped = path.rstrip("/")
    if not stripped:
        return "/"
    return stripped.rsplit("/", 1)[-1]


def split(path: str) -> tuple[str, str]:
    """Go's `path.Split`: (everything up to and including the last `/`, the rest)."""
    cut = path.rfind("/") + 1
    return path[:cut], path[cut:]
