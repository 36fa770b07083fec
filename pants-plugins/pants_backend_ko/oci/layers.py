"""ko's two layers, byte for byte: the app layer and the kodata layer (ko's `tarBinary`, `tarKoData`).

ko writes its layers with Go's `archive/tar`, setting only Name, Typeflag, Mode 0555, Size and
(for kodata) ModTime. Python's `tarfile` cannot reproduce those bytes (it appends `/` to
directory names, pads to 10240-byte records and prefers PAX), so the headers are written here
by hand, following Go's writer:

- USTAR whenever it can represent the header; names longer than 100 bytes are split into the
  155-byte prefix and the 100-byte name at a `/`;
- PAX (a `PaxHeaders.0` extended header carrying `path`) only when the name is not ASCII or is
  too long to split, exactly as Go does;
- checksum `%06o\\0 `, numeric fields zero-padded octal plus NUL, data padded to 512 bytes;
- two zero blocks at the end and no padding to a 10240-byte record.

The gzip step (`gzip_layer`) gives Go's 10-byte header; the deflate stream is zlib's, so blob
digests differ from ko's while diffIDs (sha256 of the tar) are identical. ko's layer code is in
`pkg/build/gobuild.go`, Go's tar writer in `src/archive/tar/writer.go`.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence

from pants_backend_ko.golang import gopath

__all__ = [
    "app_layer_tar",
    "app_layer_tar_multi",
    "kodata_layer_tar",
    "kodata_tree",
    "check_binary_names",
    "KODATA_PARENTS",
    "gzip_layer",
    "gzip_layer_stream",
    "KODATA_ROOT",
    "APP_DIR",
    "EMPTY_KODATA_DIFF_ID",
]

BLOCK = 512
APP_DIR = "/ko-app"
KODATA_ROOT = "/var/run/ko"
# sha256 of the 2560-byte kodata layer of a package without kodata (Go's archive/tar gives the same, see layers_test).
EMPTY_KODATA_DIFF_ID = "sha256:ffe56a1c5f3878e9b5f803842adb9e2ce81584b6bd027e8599582aefe14a975b"

_TYPE_REG = b"0"
_TYPE_DIR = b"5"
_TYPE_PAX = b"x"
_NAME_SIZE = 100
_PREFIX_SIZE = 155
_MODE = 0o555  # ko's fixed mode for every entry
_MAX_OCTAL_11 = (1 << 33) - 1  # the largest value an 11-digit octal field holds


def _octal(value: int, width: int) -> bytes:
    """Go's formatOctal: zero-padded octal leaving room for a terminating NUL."""
    if value < 0 or value >= 1 << (3 * (width - 1)):
        raise ValueError(f"tar: value {value} does not fit a {width}-byte octal field")
    digits = "%o" % value
    digits = "0" * max(width - len(digits) - 1, 0) + digits
    return _field(digits.encode("ascii"), width)


def _field(data: bytes, width: int) -> bytes:
    """Go's formatString: copy, NUL-terminate when there is room, truncate otherwise."""
    if len(data) >= width:
        out = bytearray(data[:width])
        # Go replaces a trailing slash of a truncated name with NUL (buggy-reader guard).
        if out[-1:] == b"/":
            trimmed = len(data[: width - 1].rstrip(b"/"))
            out[trimmed] = 0
        return bytes(out)
    return data + b"\0" * (width - len(data))


def _is_ascii(name: str) -> bool:
    return all(0 < ord(c) < 0x80 for c in name)


def _to_ascii(name: str) -> str:
    return "".join(c for c in name if 0 < ord(c) < 0x80)


def _split_ustar_path(name: str) -> tuple[str, str] | None:
    """Go's splitUSTARPath: (prefix, name) when a long ASCII name can be split at a '/'."""
    length = len(name)
    if length <= _NAME_SIZE or not _is_ascii(name):
        return None
    if length > _PREFIX_SIZE + 1:
        length = _PREFIX_SIZE + 1
    elif name[length - 1] == "/":
        length -= 1
    i = name.rfind("/", 0, length)
    suffix_len = len(name) - i - 1
    if i <= 0 or suffix_len > _NAME_SIZE or suffix_len == 0 or i > _PREFIX_SIZE:
        return None
    return name[:i], name[i + 1 :]


def _pax_header_name(name: str) -> str:
    """Go: dir, file := path.Split(name); path.Join(dir, "PaxHeaders.0", file)."""
    directory, file = gopath.split(name)
    return gopath.join(directory, "PaxHeaders.0", file)


def _pax_record(key: str, value: str) -> bytes:
    """Go's formatPAXRecord: '<len> key=value\\n' where <len> counts itself."""
    payload = f" {key}={value}\n".encode()
    size = len(payload) + len(str(len(payload)))
    if len(str(size)) + len(payload) != size:
        size = len(str(size)) + len(payload)
    return str(size).encode("ascii") + payload


def _finish(header: bytearray) -> bytes:
    """Magic/version for USTAR and PAX, then the checksum `%06o\\0 ` over the block."""
    header[257:263] = b"ustar\0"
    header[263:265] = b"00"
    header[148:156] = b" " * 8
    checksum = sum(header)
    header[148:155] = _octal(checksum, 7)
    header[155:156] = b" "
    return bytes(header)


def _template(name: bytes, typeflag: bytes, size: int, mtime: int) -> bytearray:
    """Go's templateV7Plus with ko's fields: mode 0555, uid/gid 0, empty uname/gname."""
    header = bytearray(BLOCK)
    header[0:100] = _field(name, 100)
    header[100:108] = _octal(_MODE, 8)
    header[108:116] = _octal(0, 8)
    header[116:124] = _octal(0, 8)
    header[124:136] = _octal(size, 12)
    header[136:148] = _octal(mtime, 12)
    header[156:157] = typeflag
    # linkname (157..257), uname (265..297) and gname (297..329) stay NUL.
    header[329:337] = _octal(0, 8)
    header[337:345] = _octal(0, 8)
    return header


def _pax_extended_header(name: str, records: bytes) -> bytes:
    """Go's writeRawFile for a TypeXHeader: only name, mode/uid/gid/size/mtime and magic."""
    header_name = _to_ascii(_pax_header_name(name)).encode("ascii")[:_NAME_SIZE].rstrip(b"/")
    header = bytearray(BLOCK)
    header[0:100] = _field(header_name, 100)
    header[100:108] = _octal(0, 8)
    header[108:116] = _octal(0, 8)
    header[116:124] = _octal(0, 8)
    header[124:136] = _octal(len(records), 12)
    header[136:148] = _octal(0, 12)
    header[156:157] = _TYPE_PAX
    return _finish(header) + records + _padding(len(records))


def _padding(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


def _entry(name: str, typeflag: bytes, data: bytes = b"", mtime: int = 0) -> bytes:
    """One tar entry (header(s) + padded data) as Go's tar.Writer writes it for ko's headers."""
    if not name:
        raise ValueError("tar: entry name must not be empty")
    if "\0" in name:
        raise ValueError(f"tar: entry name {name!r} contains a NUL byte")
    if typeflag == _TYPE_REG and name.endswith("/"):
        raise ValueError(f"tar: file name {name!r} may not end with '/'")
    if len(data) > _MAX_OCTAL_11:
        raise ValueError(f"tar: {name!r} is {len(data)} bytes; files of 8 GiB or more are not supported")
    if mtime < 0 or mtime > _MAX_OCTAL_11:
        raise ValueError(f"tar: modification time {mtime} is outside 0..{_MAX_OCTAL_11} seconds")
    size = len(data) if typeflag == _TYPE_REG else 0
    encoded = name.encode("utf-8")
    needs_pax = not _is_ascii(name) or len(encoded) > _NAME_SIZE
    split = _split_ustar_path(name) if needs_pax else None
    if not needs_pax or split is not None:
        # USTAR, with the prefix/name split for long names.
        prefix, short = split if split is not None else ("", name)
        header = _template(short.encode("ascii"), typeflag, size, mtime)
        header[345:500] = _field(prefix.encode("ascii"), 155)
        out = _finish(header)
    else:
        # PAX: the full name goes into a `path` record; the main header holds an ASCII best effort.
        extended = _pax_extended_header(name, _pax_record("path", name))
        header = _template(_to_ascii(name).encode("ascii"), typeflag, size, mtime)
        out = extended + _finish(header)
    if size:
        out += data + _padding(size)
    return out


def _end_of_archive() -> bytes:
    return b"\0" * (2 * BLOCK)


def check_binary_names(names: Sequence[str]) -> None:
    """At least one binary; each name a single path element, given once (they share /ko-app)."""
    if not names:
        raise ValueError("app layer: at least one binary is needed")
    seen: set[str] = set()
    for name in names:
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"binary name {name!r} must be a single path element, like 'app'")
        if name in seen:
            raise ValueError(f"app layer: binary name {name!r} is given twice")
        seen.add(name)


def app_layer_tar(binary: bytes, name: str) -> bytes:
    """ko's `tarBinary` for Linux: `ko-app` (dir) then `/ko-app/<name>` (file), both 0555, mtime 0."""
    return app_layer_tar_multi([(name, binary)])


def app_layer_tar_multi(binaries: Sequence[tuple[str, bytes]]) -> bytes:
    """Several binaries in one `ko-app` directory (beyond ko; same encoding as `app_layer_tar`).

    Entries are written in the order given, after the single `ko-app` directory entry.
    """
    check_binary_names([name for name, _ in binaries])
    parts = [_entry("ko-app", _TYPE_DIR)]  # no leading or trailing slash, as in ko
    parts.extend(_entry(f"{APP_DIR}/{name}", _TYPE_REG, bytes(binary)) for name, binary in binaries)
    parts.append(_end_of_archive())
    return b"".join(parts)


def _split_relative(path: str, what: str) -> tuple[str, ...]:
    if not isinstance(path, str) or not path:
        raise ValueError(f"kodata: {what} path must be a non-empty string, got {path!r}")
    stripped = path.rstrip("/") if what == "directory" else path
    parts = tuple(stripped.split("/"))
    if "\\" in path:
        raise ValueError(
            f"kodata: {what} name {path!r} contains a backslash, which this backend does not write into image "
            "layers; rename it"
        )
    if path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(
            f"kodata: {what} path {path!r} must be relative to kodata/ with '/' separators and no '.', '..' or empty parts"
        )
    return parts


def kodata_tree(files: Iterable[str], dirs: Iterable[str] = ()) -> list[tuple[str, bool]]:
    """The entries below `/var/run/ko` of ko's kodata layer, in Go's `filepath.Walk` order.

    `files` are paths relative to `kodata/` (with `/` separators); the directories leading to
    them are implied, `dirs` adds (possibly empty) directories. Returns (relative path, is a
    directory) pairs: names sorted within each directory, a directory before its contents.
    """
    file_parts = {_split_relative(path, "file") for path in files}
    dir_parts: set[tuple[str, ...]] = {_split_relative(path, "directory") for path in dirs}
    for parts in list(file_parts) + list(dir_parts):
        for i in range(1, len(parts)):
            dir_parts.add(parts[:i])
    clash = sorted(dir_parts & file_parts)
    if clash:
        raise ValueError(f"kodata: {'/'.join(clash[0])!r} is given both as a file and as a directory")
    # Tuple order is Walk order: ("a",) < ("a", "x") < ("a.txt",), and str order is UTF-8 byte order.
    return [("/".join(parts), parts in dir_parts) for parts in sorted(file_parts | dir_parts)]


KODATA_PARENTS = ("/var", "/var/run", KODATA_ROOT)  # ko's tarKoData writes these first


def kodata_layer_tar(files: Mapping[str, bytes], dirs: Iterable[str] = (), epoch: int = 0) -> bytes:
    """ko's `tarKoData` for Linux: `/var`, `/var/run`, `/var/run/ko`, then the kodata tree.

    `files` maps paths relative to `kodata/` (with `/` separators) to their contents; see
    `kodata_tree` for the order. Every entry has mode 0555 and mtime `epoch` (KO_DATA_DATE_EPOCH or 0).
    """
    entries = [_entry(name, _TYPE_DIR, mtime=epoch) for name in KODATA_PARENTS]
    for path, is_dir in kodata_tree(files, dirs):
        name = KODATA_ROOT + "/" + path
        entries.append(
            _entry(name, _TYPE_DIR, mtime=epoch) if is_dir else _entry(name, _TYPE_REG, bytes(files[path]), mtime=epoch)
        )
    entries.append(_end_of_archive())
    return b"".join(entries)


def gzip_layer(tar: bytes) -> bytes:
    """gzip at level 1 with Go's header `1f 8b 08 00 00000000 04 ff` (no name, mtime 0, OS unknown).

    The deflate stream is zlib's level 1, not Go's BestSpeed, so the bytes (not the diffID)
    differ from ko's; with the same zlib build they are stable.
    """
    return b"".join(gzip_layer_stream([tar]))


def gzip_layer_stream(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """`gzip_layer` over a tar that arrives in pieces: the same bytes, never all in memory.

    zlib's output does not depend on how its input is split (no flush until the end).
    """
    compressor = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS, zlib.DEF_MEM_LEVEL, 0)
    yield b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + b"\x04\xff"
    crc, size = 0, 0
    for chunk in chunks:
        crc = zlib.crc32(chunk, crc)
        size += len(chunk)
        body = compressor.compress(chunk)
        if body:
            yield body
    yield compressor.flush() + struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF)
