"""A Go binary's build information, read from its ELF `.go.buildinfo` section as Go's
`debug/buildinfo` does (`src/debug/buildinfo/buildinfo.go`): no Go toolchain, no process.

The section holds a 32-byte header and, since Go 1.18, the Go version and the module
information as varint-prefixed strings; the module information is the text `go version -m`
prints, so it is handed to `gobuildinfo.parse_go_version_m`. Only ELF (Linux) binaries: ko
builds Linux images. No Pants imports.
"""

from __future__ import annotations

import struct

from pants_backend_ko.golang.gobuildinfo import GoBuildInfo, GoBuildInfoError, parse_go_version_m

__all__ = ["build_info_from_binary"]

_BUILDINFO_MAGIC = b"\xff Go buildinf:"
_BUILDINFO_HEADER_SIZE = 32


def _elf_section(data: bytes, wanted: str, what: str) -> bytes | None:
    """The bytes of the ELF section named ``wanted``, or None if there is none."""
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        raise GoBuildInfoError(
            f"{what}: not an ELF executable; only Linux binaries are read directly, "
            "pass the output of `go version -m` to parse_go_version_m instead"
        )
    is64, order = data[4] == 2, "<" if data[5] == 1 else ">"
    try:
        if is64:
            (shoff,) = struct.unpack_from(order + "Q", data, 0x28)
            shentsize, shnum, shstrndx = struct.unpack_from(order + "HHH", data, 0x3A)
        else:
            (shoff,) = struct.unpack_from(order + "I", data, 0x20)
            shentsize, shnum, shstrndx = struct.unpack_from(order + "HHH", data, 0x2E)

        def header(i: int) -> tuple[int, int, int]:
            base = shoff + i * shentsize
            if is64:
                (name,) = struct.unpack_from(order + "I", data, base)
                offset, size = struct.unpack_from(order + "QQ", data, base + 0x18)
            else:
                (name,) = struct.unpack_from(order + "I", data, base)
                offset, size = struct.unpack_from(order + "II", data, base + 0x10)
            return name, offset, size

        def contents(offset: int, size: int) -> bytes:
            # Only sections read are checked: .bss-like sections legitimately end past the file.
            if offset + size > len(data):
                raise struct.error("section past the end of the file")
            return data[offset : offset + size]

        if shnum == 0 or shstrndx >= shnum:
            return None
        _, names_offset, names_size = header(shstrndx)
        names = contents(names_offset, names_size)
        for i in range(shnum):
            name, offset, size = header(i)
            end = names.find(b"\0", name)
            if names[name : end if end >= 0 else None].decode("latin-1") == wanted:
                return contents(offset, size)
    except struct.error:
        raise GoBuildInfoError(
            f"{what}: the ELF file is truncated (its section headers or sections are cut off); the file is damaged"
        ) from None
    return None


def _uvarint_string(data: bytes, pos: int, what: str) -> tuple[str, int]:
    length = shift = 0
    for _ in range(10):  # a uvarint of a 64-bit length has at most 10 bytes
        if pos >= len(data):
            break
        byte = data[pos]
        pos += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            if pos + length > len(data):
                break
            return data[pos : pos + length].decode("utf-8", "replace"), pos + length
    raise GoBuildInfoError(f"{what}: the Go build information is truncated; the file is damaged")


def build_info_from_binary(data: bytes, name: str = "binary") -> GoBuildInfo:
    """What ``go version -m`` prints, read from the bytes of a Linux (ELF) Go binary.

    Go's ``debug/buildinfo``: the ``.go.buildinfo`` section holds a 32-byte header and, since
    Go 1.18, the Go version and the module information as varint-prefixed strings. No Go
    toolchain is needed; ``name`` becomes :attr:`GoBuildInfo.binary` (e.g. ``/ko-app/app``).
    """
    section = _elf_section(data, ".go.buildinfo", name)
    if section is None or not section.startswith(_BUILDINFO_MAGIC) or len(section) < _BUILDINFO_HEADER_SIZE:
        raise GoBuildInfoError(f"{name}: not a Go executable (no Go build information section)")
    if not section[15] & 0x2:
        raise GoBuildInfoError(f"{name}: built by Go before 1.18, whose build information is not supported; rebuild it")
    version, pos = _uvarint_string(section, _BUILDINFO_HEADER_SIZE, name)
    modinfo, _ = _uvarint_string(section, pos, name)
    # The module information is wrapped in two 16-byte sentinels (cmd/go's modinfo).
    if len(modinfo) >= 33 and modinfo[-17] == "\n":
        modinfo = modinfo[16:-16]
    else:
        modinfo = ""
    if not modinfo:
        raise GoBuildInfoError(f"{name}: the Go binary carries no module information (built with -buildvcs/-mod off?)")
    lines = "".join(f"\t{line}\n" for line in modinfo.splitlines())
    return parse_go_version_m(f"{name}: {version}\n{lines}")
