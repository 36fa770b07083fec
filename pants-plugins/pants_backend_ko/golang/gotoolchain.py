"""Go toolchains as the `go` command downloads them: the `golang.org/toolchain` module.

Since Go 1.21 every release is also published on the Go module proxy as the module
`golang.org/toolchain` at version `v0.0.1-go<release>.<goos>-<goarch>`; `go` itself fetches it
there when `GOTOOLCHAIN` asks for a release it is not (Go's `src/cmd/go/internal/toolchain/
select.go`, `Switcher`/`Exec`). This module copies the parts of that a build system needs:

* the module version and the proxy URL of its zip (`<proxy>/golang.org/toolchain/@v/<version>.zip`,
  the GOPROXY protocol of `go help goproxy`), and which proxy of `GOPROXY` to ask;
* the GOROOT a zip becomes. Module zips carry no file modes and may hold no `go.mod` below their
  root, so after extracting, `go` sets the execute bits of everything in `pkg/tool/` and `bin/`
  and of `lib/go_*_*_exec`, and copies every `_go.mod` to `go.mod` beside it (`select.go`,
  after `Download`). `goroot_path` and `is_executable` say the same for one zip entry.

No Pants imports; the standard library only.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass

TOOLCHAIN_MODULE = "golang.org/toolchain"
TOOLCHAIN_MODULE_PREFIX_VERSION = "v0.0.1"
DEFAULT_PROXY = "https://proxy.golang.org"

# A Go release as `go` names toolchains: 1.26.8, 1.27rc1, 1.21.0 (a language version such as
# 1.21 is not a release from Go 1.21 on; `go` refuses it as a toolchain too).
_RELEASE = re.compile(r"^(?:go)?(1\.\d+(?:\.\d+|rc\d+|beta\d+))$")


class ToolchainError(ValueError):
    """A toolchain setting that cannot work; the message says what to do."""


def parse_release(value: str) -> str:
    """`1.26.8` or `go1.26.8` -> `1.26.8`."""
    match = _RELEASE.match(value.strip())
    if not match:
        raise ToolchainError(f"{value!r} is not a Go release; write it as go itself names them, e.g. 1.26.8")
    return match.group(1)


def module_version(release: str, goos: str, goarch: str) -> str:
    """The `golang.org/toolchain` version of a release for a platform (select.go's `m.Version`)."""
    return f"{TOOLCHAIN_MODULE_PREFIX_VERSION}-go{release}.{goos}-{goarch}"


def zip_root(release: str, goos: str, goarch: str) -> str:
    """The folder every entry of the module zip is under (`<module>@<version>/`)."""
    return f"{TOOLCHAIN_MODULE}@{module_version(release, goos, goarch)}/"


def toolchain_proxy(goproxy: str | None) -> str:
    """The proxy to download a toolchain from: the first proxy URL of `GOPROXY` (`go help goproxy`:
    entries separated by `,` or `|`; `direct` means version control, which has no toolchains, and
    `off` forbids downloads). `file://` folders work as for `go` itself."""
    entries = [e.strip() for e in re.split(r"[,|]", goproxy or "") if e.strip()] or [DEFAULT_PROXY]
    for entry in entries:
        if entry == "off":
            raise ToolchainError(
                f"GOPROXY={goproxy} forbids downloads; point GOPROXY (or [ko].go_env) at a Go module proxy "
                "or a file:// mirror that serves golang.org/toolchain"
            )
        if entry == "direct":
            continue
        if not entry.startswith(("https://", "http://", "file://")):
            raise ToolchainError(
                f"GOPROXY entry {entry!r} is not an http(s):// or file:// URL; fix GOPROXY (or [ko].go_env)"
            )
        return entry.rstrip("/")
    raise ToolchainError(
        f"GOPROXY={goproxy} names no module proxy, and toolchains come only from one; put a proxy "
        "(https://proxy.golang.org, a mirror, or a file:// folder) first in GOPROXY (or [ko].go_env)"
    )


def zip_url(proxy: str, release: str, goos: str, goarch: str) -> str:
    # The module path has no upper-case letters, so its escaped form is itself.
    return f"{proxy}/{TOOLCHAIN_MODULE}/@v/{module_version(release, goos, goarch)}.zip"


def is_executable(path: str) -> bool:
    """Whether `go` makes a GOROOT file executable after download: all of `pkg/tool/` and `bin/`,
    and `lib/go_?*_?*_exec` (the exec wrappers of `go test` for other platforms)."""
    if path.startswith(("bin/", "pkg/tool/")):
        return True
    return path.startswith("lib/") and fnmatch.fnmatchcase(posixpath.basename(path), "go_?*_?*_exec")


def goroot_paths(entry: str, root: str) -> tuple[str, ...]:
    """Where a zip entry lands in the GOROOT: itself without the zip's root folder, and for a
    `_go.mod` also `go.mod` beside it. Anything outside the root folder is an error."""
    if not entry.startswith(root):
        raise ToolchainError(f"zip entry {entry!r} is outside {root}; this is not a Go toolchain module zip")
    path = entry[len(root) :]
    if posixpath.basename(path) == "_go.mod":
        return path, posixpath.join(posixpath.dirname(path), "go.mod")
    return (path,)


@dataclass(frozen=True)
class KnownVersion:
    """One `version|platform|sha256|size` entry, as Pants' external tools write them."""

    release: str
    platform: str  # a Pants platform name: linux_x86_64, linux_arm64, macos_x86_64, macos_arm64
    sha256: str
    size: int

    @classmethod
    def parse(cls, entry: str) -> KnownVersion:
        parts = [p.strip() for p in entry.split("|")]
        if len(parts) != 4:
            raise ToolchainError(f"{entry!r} is not `version|platform|sha256|size`")
        release, platform, sha256, size = parts
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ToolchainError(f"{entry!r}: the sha256 must be 64 lower-case hex digits")
        if not size.isdigit():
            raise ToolchainError(f"{entry!r}: the size must be a number of bytes")
        return cls(parse_release(release), platform, sha256, int(size))
