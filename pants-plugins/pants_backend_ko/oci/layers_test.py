"""ko's layers byte for byte against Go's archive/tar, plus the exact header bytes Go's writer gives."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile

import pytest
from tests.peers.go_reference import go_tar

from pants_backend_ko.oci.layers import (
    EMPTY_KODATA_DIFF_ID,
    app_layer_tar,
    app_layer_tar_multi,
    gzip_layer,
    gzip_layer_stream,
    kodata_layer_tar,
)

BINARY = os.urandom(3000) + b"\x7fELF" * 10  # not a multiple of 512


def _ko_app_entries(binaries):
    # ko's tarBinary: the dir `ko-app`, then `/ko-app/<name>` with an empty PAX record map.
    entries = [{"name": "ko-app", "dir": True}]
    for name, data in binaries:
        entries.append({"name": f"/ko-app/{name}", "data": data, "empty_pax_records": True})
    return entries


def _kodata_entries(walk, epoch=None):
    # ko's tarKoData: /var, /var/run, /var/run/ko, then the walk, all with the same mtime.
    entries = [{"name": d, "dir": True, "mtime": epoch} for d in ("/var", "/var/run", "/var/run/ko")]
    for name, data in walk:
        if data is None:
            entries.append({"name": "/var/run/ko/" + name, "dir": True, "mtime": epoch})
        else:
            entries.append({"name": "/var/run/ko/" + name, "data": data, "mtime": epoch})
    return entries


def test_app_layer_matches_go() -> None:
    ours = app_layer_tar(BINARY, "hello")
    assert ours == go_tar(_ko_app_entries([("hello", BINARY)]))
    assert len(ours) == 512 + 512 + ((len(BINARY) + 511) // 512) * 512 + 1024
    assert len(ours) % 10240 != 0  # no record padding


def test_app_layer_multi_matches_go() -> None:
    binaries = [("server", b"s" * 600), ("client", b"c" * 512), ("empty", b"")]
    assert app_layer_tar_multi(binaries) == go_tar(_ko_app_entries(binaries))


@pytest.mark.parametrize(
    "name",
    [
        "n" * 100,  # exactly fits the name field
        "long-" + "x" * 120,  # >100, no '/': cannot split -> PAX
        "a" * 60 + "/" + "b" * 60,  # splittable -> USTAR prefix/name
        "p" * 150 + "/" + "q" * 99,  # prefix near its 155-byte limit
        "p" * 160 + "/" + "q" * 50,  # prefix too long -> PAX
        "d/" * 60 + "file",  # many components, split at the last fitting '/'
        "ünïcødé-name",  # non-ASCII -> PAX even when short
        "ünï/" + "x" * 120,  # non-ASCII and long
    ],
)
def test_long_and_non_ascii_names_match_go(name: str) -> None:
    if "/" not in name:
        assert app_layer_tar(b"data", name) == go_tar(_ko_app_entries([(name, b"data")]))
    files = {name: b"kodata"}
    walk: list[tuple[str, bytes | None]] = []
    parts = name.split("/")
    for i in range(1, len(parts)):
        walk.append(("/".join(parts[:i]), None))
    walk.append((name, b"kodata"))
    assert kodata_layer_tar(files) == go_tar(_kodata_entries(walk))


@pytest.mark.parametrize("length", [91, 92, 93, 100, 101, 150])
def test_binary_name_lengths_around_the_name_field_match_go(length: int) -> None:
    # "/ko-app/" + name crosses 100 bytes at length 93; it is then split after "/ko-app".
    name = "b" * length
    assert app_layer_tar(b"bin", name) == go_tar(_ko_app_entries([(name, b"bin")]))


def test_kodata_tree_matches_go_walk_order() -> None:
    files = {
        "a.txt": b"A",
        "a/x": b"X" * 700,
        "a/b/deep.json": b"{}",
        "b": b"",
        "Z-upper": b"z",
        "a-b/c": b"c",
    }
    dirs = ["empty-dir", "a/empty"]
    # filepath.Walk: names sorted by bytes within each directory, directory before contents.
    walk = [
        ("Z-upper", b"z"),
        ("a", None),
        ("a/b", None),
        ("a/b/deep.json", b"{}"),
        ("a/empty", None),
        ("a/x", b"X" * 700),
        ("a-b", None),
        ("a-b/c", b"c"),
        ("a.txt", b"A"),
        ("b", b""),
        ("empty-dir", None),
    ]
    assert kodata_layer_tar(files, dirs) == go_tar(_kodata_entries(walk))


def test_kodata_with_epoch_matches_go() -> None:
    epoch = 1700000000
    ours = kodata_layer_tar({"f": b"1", "d/g": b"2"}, epoch=epoch)
    assert ours == go_tar(_kodata_entries([("d", None), ("d/g", b"2"), ("f", b"1")], epoch=epoch))
    assert ours[136:148] == b"%011o\0" % epoch


def test_empty_kodata_is_the_constant_layer() -> None:
    empty = kodata_layer_tar({})
    assert len(empty) == 2560
    assert "sha256:" + hashlib.sha256(empty).hexdigest() == EMPTY_KODATA_DIFF_ID
    assert empty == go_tar(_kodata_entries([]))


def test_exact_header_bytes() -> None:
    tar = kodata_layer_tar({})
    var = tar[:512]
    assert var[0:100] == b"/var" + b"\0" * 96  # no trailing slash
    assert var[100:108] == b"0000555\0"
    assert var[108:116] == b"0000000\0"
    assert var[116:124] == b"0000000\0"
    assert var[124:136] == b"00000000000\0"
    assert var[136:148] == b"00000000000\0"
    assert var[148:156] == b"007773\0 "  # Go's checksum field: six octal digits, NUL, space
    assert var[156:157] == b"5"
    assert var[157:257] == b"\0" * 100
    assert var[257:263] == b"ustar\0"
    assert var[263:265] == b"00"
    assert var[265:329] == b"\0" * 64
    assert var[329:337] == b"0000000\0"
    assert var[337:345] == b"0000000\0"
    assert var[345:512] == b"\0" * 167
    assert tar[-1024:] == b"\0" * 1024

    app = app_layer_tar(b"abc", "app")
    assert app[0:7] == b"ko-app\0"  # no leading slash on the directory
    assert app[512 : 512 + 13] == b"/ko-app/app\0\0"  # leading slash on the file
    assert app[512 + 124 : 512 + 136] == b"00000000003\0"
    assert app[512 + 156 : 512 + 157] == b"0"
    assert app[1024:1027] == b"abc" and app[1027:1536] == b"\0" * 509


def test_split_name_goes_to_prefix_field() -> None:
    header = app_layer_tar(b"", "b" * 95)[512:1024]
    assert header[345:353] == b"/ko-app\0"
    assert header[0:96] == b"b" * 95 + b"\0"
    name = "a" * 60 + "/" + "b" * 60
    tar = kodata_layer_tar({name: b""})
    header = tar[4 * 512 : 5 * 512]  # /var, /var/run, /var/run/ko, the "aaa..." dir, then the file
    prefix = "/var/run/ko/" + "a" * 60
    assert header[345 : 345 + len(prefix) + 1] == prefix.encode() + b"\0"
    assert header[0:61] == b"b" * 60 + b"\0"


def test_python_tarfile_reads_our_layers() -> None:
    layer = kodata_layer_tar({"x/y.txt": b"hello", "ü.txt": b"u"}, epoch=5)
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        file = tar.extractfile(members["/var/run/ko/x/y.txt"])
        assert file is not None and file.read() == b"hello"
        assert members["/var/run/ko/ü.txt"].mode == 0o555
        assert members["/var/run/ko/x"].isdir() and members["/var/run/ko/x"].mtime == 5


def test_gzip_header_and_round_trip() -> None:
    tar = app_layer_tar(BINARY, "hello")
    gz = gzip_layer(tar)
    assert gz[:10] == bytes.fromhex("1f8b0800000000000" + "4ff")
    assert gzip.decompress(gz) == tar
    assert gzip_layer(tar) == gz  # deterministic


def test_gzip_stream_is_the_same_bytes_however_the_tar_is_split() -> None:
    tar = app_layer_tar(BINARY * 50, "hello") + bytes(range(256)) * 4000
    whole = gzip_layer(tar)
    for size in (1, 511, 4096, 1 << 20):
        chunks = [tar[i : i + size] for i in range(0, len(tar), size)] if size > 1 else [tar[:1], tar[1:]]
        assert b"".join(gzip_layer_stream(chunks)) == whole
    assert gzip.decompress(b"".join(gzip_layer_stream([]))) == b""


@pytest.mark.parametrize(
    "files, dirs, message",
    [
        ({"/abs": b""}, (), "must be relative"),
        ({"a/../b": b""}, (), "no '.', '..'"),
        ({"a//b": b""}, (), "empty parts"),
        ({"a": b"", "a/b": b""}, (), "both as a file and as a directory"),
        ({"a": b""}, ("a",), "both as a file and as a directory"),
        ({"": b""}, (), "non-empty string"),
        ({"nul\0": b""}, (), "NUL"),
    ],
)
def test_kodata_rejects_bad_paths(files, dirs, message) -> None:
    with pytest.raises(ValueError, match=message):
        kodata_layer_tar(files, dirs)


def test_app_layer_rejects_bad_names() -> None:
    with pytest.raises(ValueError, match="single path element"):
        app_layer_tar(b"", "a/b")
    with pytest.raises(ValueError, match="given twice"):
        app_layer_tar_multi([("a", b""), ("a", b"")])
    with pytest.raises(ValueError, match="at least one binary"):
        app_layer_tar_multi([])
    with pytest.raises(ValueError, match="modification time"):
        kodata_layer_tar({}, epoch=-1)
