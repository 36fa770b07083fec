"""The Go layer writer (`_golayer/main.go`) against Go and ggcr themselves: its tars are the ones
Go's archive/tar writes for ko's headers (the in-memory writer's, which `layers_test` checks
against Go), its blobs are the ones go-containerregistry's `tarball.LayerFromOpener` makes of
those tars (ko's `buildLayer`), its build information is `go version -m`'s, and its docker
archive is `tar_stream`'s bytes."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from tests.peers.go_reference import _build, b64, ggcr, unb64

from pants_backend_ko.codec import decode, encode
from pants_backend_ko.golang.frozendict import FrozenDict
from pants_backend_ko.golang.gobuildinfo_test import built_sample
from pants_backend_ko.oci.layers import app_layer_tar_multi, kodata_layer_tar
from pants_backend_ko.oci.layerwriter import (
    ArchiveEntry,
    ArchiveRequest,
    BuildInfoRequest,
    Layer,
    LayersRequest,
    LayersWritten,
    app_layer,
    kodata_layer,
)
from pants_backend_ko.oci.layout import tar_order, tar_stream

SOURCE = Path(__file__).resolve().parent.parent / "_golayer" / "main.go"


@pytest.fixture(scope="module")
def golayer() -> Path:
    return _build(
        "golayer", {"go.mod": "module pantsbackendko/golayer\n\ngo 1.21\n", "main.go": SOURCE.read_text()}, offline=True
    )


def run(golayer: Path, cwd: Path, verb: str, request: bytes) -> subprocess.CompletedProcess:
    (cwd / "request.json").write_bytes(request)
    return subprocess.run([str(golayer), verb, "request.json"], cwd=cwd, capture_output=True, timeout=120)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_layers_are_kos_bytes(golayer: Path, tmp_path: Path) -> None:
    kodata = {
        "index.html": b"<h1>hi</h1>\n",
        "static/app.css": b"body{}" * 300,
        "ünïcødé.txt": b"u",
        "d/" + "x" * 120: b"long name",
        "empty": b"",
    }
    for path, data in kodata.items():
        (tmp_path / "kodata" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "kodata" / path).write_bytes(data)
    binaries = {"app": os.urandom(200_000) + b"\x7fELF" * 3, "helper": b"#!" + os.urandom(513)}
    for name, data in binaries.items():
        (tmp_path / "bin").mkdir(exist_ok=True)
        (tmp_path / "bin" / name).write_bytes(data)
    request = LayersRequest(
        out="blobs/sha256",
        layers=(
            kodata_layer({p: f"kodata/{p}" for p in kodata}, ["empty-dir"], epoch=1700000000),
            app_layer([(name, f"bin/{name}") for name in binaries]),
        ),
    )
    (tmp_path / "kodata" / "empty-dir").mkdir()
    result = run(golayer, tmp_path, "layers", encode(request))
    assert result.returncode == 0, result.stderr
    written = decode(LayersWritten, result.stdout, "answer")
    tars = [
        kodata_layer_tar(kodata, ["empty-dir"], epoch=1700000000),
        app_layer_tar_multi(list(binaries.items())),
    ]
    ko_blobs = [unb64(r["ok"]) for r in ggcr({"tars": [b64(t) for t in tars]})["layers"]]
    for layer, tar, ko_blob in zip(written.layers, tars, ko_blobs):
        blob = (tmp_path / "blobs/sha256" / layer.digest.split(":")[1]).read_bytes()
        assert blob == ko_blob  # ko's blob byte for byte: compress/gzip at BestSpeed
        assert (layer.digest, layer.size, layer.diff_id) == (sha256(blob), len(blob), sha256(tar))
        assert gzip.decompress(blob) == tar
    assert sorted(os.listdir(tmp_path / "blobs/sha256")) == sorted(layer.digest[7:] for layer in written.layers)


def test_pax_records_reach_the_binary_header(golayer: Path, tmp_path: Path) -> None:
    # What ko's linux_capabilities does: a SCHILY.xattr record on the binary's header.
    (tmp_path / "app").write_bytes(b"bin")
    directory, binary = app_layer([("app", "app")]).entries
    capability = FrozenDict({"SCHILY.xattr.security.capability": "\x01\x00\x00\x02"})
    request = LayersRequest("blobs/sha256", (Layer((directory, dataclasses.replace(binary, pax=capability))),))
    result = run(golayer, tmp_path, "layers", encode(request))
    assert result.returncode == 0, result.stderr
    (written,) = decode(LayersWritten, result.stdout, "answer").layers
    blob = (tmp_path / "blobs/sha256" / written.digest[7:]).read_bytes()
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
        member = tar.getmember("/ko-app/app")
        assert member.pax_headers["SCHILY.xattr.security.capability"] == "\x01\x00\x00\x02"


def test_build_info_is_go_version_m(golayer: Path, tmp_path: Path, tmp_path_factory) -> None:
    binary, _, _ = built_sample(tmp_path_factory)
    request = LayersRequest("blobs/sha256", (), (BuildInfoRequest(str(binary), str(binary)),))
    result = run(golayer, tmp_path, "layers", encode(request))
    assert result.returncode == 0, result.stderr
    (text,) = decode(LayersWritten, result.stdout, "answer").buildinfo
    go = subprocess.run(["go", "version", "-m", str(binary)], capture_output=True, text=True, timeout=60, check=True)
    assert text == go.stdout


def test_archive_is_tar_streams_bytes(golayer: Path, tmp_path: Path) -> None:
    files = {
        "blobs/sha256/" + "a" * 64: os.urandom(70_000),
        "blobs/sha256/" + "b" * 64: b"{}",
        "index.json": b'{"schemaVersion":2}',
        "manifest.json": b"[]\n",
        "oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
    }
    for path, data in files.items():
        (tmp_path / "in" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / path).write_bytes(data)
    entries = tuple(ArchiveEntry(path, is_dir, "" if is_dir else f"in/{path}") for path, is_dir in tar_order(files))
    result = run(golayer, tmp_path, "archive", encode(ArchiveRequest("out/image.tar", entries)))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out/image.tar").read_bytes() == b"".join(tar_stream(files))


def test_what_cannot_be_a_layer_entry_is_one_line(golayer: Path, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    layer = kodata_layer({"fifo": "fifo"})
    result = run(golayer, tmp_path, "layers", encode(LayersRequest("blobs/sha256", (layer,))))
    assert result.returncode == 1
    assert result.stderr.decode() == ("golayer: layer 0: /var/run/ko/fifo: fifo is not a regular file (p---------)\n")
    result = run(golayer, tmp_path, "layers", json.dumps({"out": "x", "layers": [], "typo": 1}).encode())
    assert result.returncode == 1 and b'unknown field "typo"' in result.stderr
    assert result.stderr.count(b"\n") == 1
