"""Docker archives streamed from a layout, and `docker save` shapes read back into a layout.

The real engines' own archives (dockerd 20.10, podman 4.3) are read in tests/test_daemon.py;
here the shapes are written with `tarfile` as those engines lay them out.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from pants_backend_ko.oci.base import BaseImage
from pants_backend_ko.oci.daemon.archive import ArchiveError, layout_archive, layout_from_archive
from pants_backend_ko.oci.digest import digest_hex
from pants_backend_ko.oci.image import build_image
from pants_backend_ko.oci.layers import gzip_layer
from pants_backend_ko.oci.layout import blob_path, docker_archive, layout_files, read_layout
from pants_backend_ko.oci.manifest import ImageManifest
from pants_backend_ko.oci.mediatypes import DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST
from pants_backend_ko.oci.platform import Platform
from pants_backend_ko.oci.remote.pull import resolve_base_from_layout

AMD64 = Platform.parse("linux/amd64")


@pytest.fixture
def image():
    return build_image(
        BaseImage.scratch(AMD64),
        platform=AMD64,
        import_path="example.com/app",
        binaries=[("app", b"\x7fELF pretend binary" * 100)],
        kodata_files={"message.txt": b"hello"},
    )


def _write(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def _tar(entries: list[tuple[str, bytes | str]]) -> bytes:
    """A tar of (name, bytes) files and (name, "-> target") symlinks, in the given order."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            if isinstance(data, str):
                info.type, info.linkname = tarfile.SYMTYPE, data[len("-> ") :]
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _uncompressed_layers(image) -> list[bytes]:
    return [gzip.decompress(image.blobs[layer.digest]) for layer in image.layers]


def test_streamed_archive_equals_the_in_memory_archive(image, tmp_path: Path) -> None:
    layout = read_layout(_write(tmp_path / "layout", layout_files(image, [image], {}, "latest")))
    top = layout.top()
    streamed = b"".join(layout_archive(layout, top, ["ko.local/app:" + digest_hex(image.digest)]))
    assert streamed == docker_archive(image, {}, ["ko.local/app:" + digest_hex(image.digest)])


def test_archive_round_trip_keeps_the_config_and_diff_ids(image, tmp_path: Path) -> None:
    layout = read_layout(_write(tmp_path / "layout", layout_files(image, [image], {}, "latest")))
    archive = b"".join(layout_archive(layout, layout.top(), ["ko.local/app:v1"]))
    saved = layout_from_archive(io.BytesIO(archive), tmp_path / "saved", ref="ko.local/app:v1", where="test")
    assert saved.config_digest == image.config_descriptor.digest  # the image ID is unchanged
    assert saved.diff_ids == image.layers_diff_ids
    # Layers that were gzip'd already are kept as they are.
    manifest = ImageManifest.parse((tmp_path / "saved" / blob_path(saved.descriptor.digest)).read_bytes())
    assert [layer.digest for layer in manifest.layers or ()] == [layer.digest for layer in image.layers]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no work folder left


def _assert_docker_schema2_base(out: Path, image, saved) -> None:
    """ggcr's tarball.Image shape: Docker schema 2, config bytes kept, gzip'd layers."""
    manifest_bytes = (out / blob_path(saved.descriptor.digest)).read_bytes()
    manifest = ImageManifest.parse(manifest_bytes)
    assert manifest.media_type == DOCKER_MANIFEST and manifest.config.media_type == DOCKER_CONFIG
    assert (out / blob_path(manifest.config.digest)).read_bytes() == image.config
    layers = manifest.layers or ()
    assert [layer.media_type for layer in layers] == [DOCKER_LAYER_GZIP] * len(image.layers)
    for layer, tar in zip(layers, _uncompressed_layers(image)):
        assert (out / blob_path(layer.digest)).read_bytes() == gzip_layer(tar)
    # The layout works as a base image (the resolver of `oci-layout:` bases reads it).
    base = resolve_base_from_layout(out, ["linux/amd64"])
    (pulled,) = base.images
    assert pulled.config_bytes == image.config and pulled.manifest_bytes == manifest_bytes
    assert json.loads((out / "index.json").read_bytes())["manifests"][0]["annotations"] == {
        "org.opencontainers.image.ref.name": "v1"
    }


def test_docker_20_save_shape(image, tmp_path: Path) -> None:
    # dockerd < 25: <layer id>/layer.tar (uncompressed), <config hex>.json, manifest.json last.
    tars = _uncompressed_layers(image)
    ids = [hashlib.sha256(f"chain{i}".encode()).hexdigest() for i in range(len(tars))]
    config_name = digest_hex(image.config_descriptor.digest) + ".json"
    manifest = [{"Config": config_name, "RepoTags": ["ko.local/app:v1"], "Layers": [f"{i}/layer.tar" for i in ids]}]
    entries: list[tuple[str, bytes | str]] = [(config_name, image.config)]
    for layer_id, tar in zip(ids, tars):
        entries += [(f"{layer_id}/VERSION", b"1.0"), (f"{layer_id}/json", b"{}"), (f"{layer_id}/layer.tar", tar)]
    entries += [("manifest.json", json.dumps(manifest).encode()), ("repositories", b"{}")]
    out = tmp_path / "saved"
    saved = layout_from_archive(io.BytesIO(_tar(entries)), out, ref="ko.local/app:v1", where="test")
    assert saved.config_digest == image.config_descriptor.digest
    _assert_docker_schema2_base(out, image, saved)


def test_podman_save_shape_with_symlinks(image, tmp_path: Path) -> None:
    # podman 4: <diffid hex>.tar files first, <id>/layer.tar symlinks to them.
    tars = _uncompressed_layers(image)
    entries: list[tuple[str, bytes | str]] = [(f"{hashlib.sha256(t).hexdigest()}.tar", t) for t in tars]
    config_name = digest_hex(image.config_descriptor.digest) + ".json"
    entries.append((config_name, image.config))
    for i, tar in enumerate(tars):
        entries.append((f"id{i}/layer.tar", f"-> ../{hashlib.sha256(tar).hexdigest()}.tar"))
    manifest = [
        {"Config": config_name, "RepoTags": ["ko.local/app:v1"], "Layers": [f"id{i}/layer.tar" for i in range(2)]}
    ]
    entries.append(("manifest.json", json.dumps(manifest).encode()))
    out = tmp_path / "saved"
    saved = layout_from_archive(io.BytesIO(_tar(entries)), out, ref="ko.local/app:v1", where="test")
    _assert_docker_schema2_base(out, image, saved)


def _legacy(image, tars: list[bytes], layer_names=None, config=None) -> bytes:
    names = layer_names or [f"l{i}.tar" for i in range(len(tars))]
    manifest = [{"Config": "c.json", "RepoTags": None, "Layers": names}]
    entries = [(f"l{i}.tar", t) for i, t in enumerate(tars)]
    return _tar([*entries, ("c.json", config or image.config), ("manifest.json", json.dumps(manifest).encode())])


@pytest.mark.parametrize(
    "mangle, message",
    [
        (lambda image, tars: _legacy(image, [tars[0], tars[0]]), "has diffID .* but the image config says"),
        (lambda image, tars: _legacy(image, tars[:1], ["l0.tar"]), "lists 1 layers but the config has 2 diffIDs"),
        (lambda image, tars: _legacy(image, tars, ["l0.tar", "nope.tar"]), "has no file 'nope.tar'"),
        (lambda image, tars: _legacy(image, [b"\x28\xb5\x2f\xfd" + tars[0], tars[1]]), "zstd-compressed"),
        (lambda image, tars: _legacy(image, [gzip_layer(tars[0])[:-20], tars[1]]), "ends before its gzip stream"),
        (lambda image, tars: _legacy(image, tars, config=b"[]"), "expected a JSON object"),
        (lambda image, tars: _tar([("manifest.json", b"[]")]), "manifest.json lists no image"),
        (lambda image, tars: _tar([("x", b"")]), "has no file 'manifest.json'"),
        (lambda image, tars: b"not a tar at all" * 64, "not a readable tar"),
    ],
)
def test_broken_archives_give_one_line_and_no_layout(image, tmp_path: Path, mangle, message: str) -> None:
    out = tmp_path / "saved"
    with pytest.raises(ValueError, match=message) as e:
        layout_from_archive(io.BytesIO(mangle(image, _uncompressed_layers(image))), out, ref="x:v1", where="test")
    assert "\n" not in str(e.value)
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_gzip_layers_in_the_archive_are_kept(image, tmp_path: Path) -> None:
    blobs = [image.blobs[layer.digest] for layer in image.layers]
    saved = layout_from_archive(io.BytesIO(_legacy(image, blobs)), tmp_path / "s", ref="sha256:" + "a" * 64, where="t")
    manifest = ImageManifest.parse((tmp_path / "s" / blob_path(saved.descriptor.digest)).read_bytes())
    assert [layer.digest for layer in manifest.layers or ()] == [layer.digest for layer in image.layers]
    assert "annotations" not in json.loads((tmp_path / "s" / "index.json").read_bytes())["manifests"][0]


def test_an_existing_folder_is_refused(image, tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="already exists"):
        layout_from_archive(io.BytesIO(b""), tmp_path, ref="x:v1", where="t")


def test_a_layout_missing_a_layer_cannot_be_archived(image, tmp_path: Path) -> None:
    # A shallow base leaves base layers out of the layout: a daemon needs them all.
    layout = read_layout(_write(tmp_path / "layout", layout_files(image, [image], {}, "latest")))
    (layout.root / blob_path(image.layers[0].digest)).unlink()
    with pytest.raises(ArchiveError, match=r"is not in the layout \(a base layer left out by \[ko\]\.shallow_base"):
        layout_archive(layout, layout.top(), ["ko.local/app:v1"])
