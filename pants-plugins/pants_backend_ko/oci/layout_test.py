"""OCI layout files, docker archives and reading layouts back (tools check them in tests/)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from pants_backend_ko.oci.base import BaseImage
from pants_backend_ko.oci.digest import digest_of
from pants_backend_ko.oci.image import build_image, build_index
from pants_backend_ko.oci.layout import (
    ANNOTATION_REF_NAME,
    OCI_LAYOUT_FILE,
    blob_path,
    docker_archive,
    docker_archive_index,
    docker_archive_of_layout,
    layout_files,
    read_layout,
    tar_stream,
)
from pants_backend_ko.oci.manifest import Descriptor
from pants_backend_ko.oci.mediatypes import OCI_CONFIG, OCI_INDEX, OCI_MANIFEST
from pants_backend_ko.oci.platform import Platform

AMD64 = Platform.parse("linux/amd64")
ARM64 = Platform.parse("linux/arm64")


def _image(platform: Platform, payload: bytes, base: BaseImage | None = None):
    return build_image(
        base or BaseImage.scratch(platform),
        platform=platform,
        import_path="example.com/app",
        binaries=[("app", payload)],
        kodata_files={"k.txt": b"k"},
    )


@pytest.fixture(scope="module")
def images():
    amd, arm = _image(AMD64, b"amd" * 100), _image(ARM64, b"arm" * 100)
    return amd, arm, build_index([(amd, AMD64), (arm, ARM64)])


def _write(root: Path, files) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def test_image_layout_files(images) -> None:
    amd, _, _ = images
    files = layout_files(amd, [amd], {}, "v1")
    assert files["oci-layout"] == OCI_LAYOUT_FILE == b'{"imageLayoutVersion":"1.0.0"}'
    for path, data in files.items():
        if path.startswith("blobs/"):
            assert path == "blobs/sha256/" + hashlib.sha256(data).hexdigest()
    assert set(files) == {"oci-layout", "index.json", blob_path(amd.digest), *(blob_path(d) for d in amd.blobs)}
    assert json.loads(files["index.json"]) == {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "size": len(amd.manifest),
                "digest": amd.digest,
                "annotations": {ANNOTATION_REF_NAME: "v1"},
                "artifactType": OCI_CONFIG,
            }
        ],
    }
    assert "annotations" not in json.loads(layout_files(amd, [amd], {}, None)["index.json"])["manifests"][0]


def test_index_layout_is_nested(images) -> None:
    amd, arm, index = images
    files = layout_files(index, [amd, arm], {}, "latest")
    top = json.loads(files["index.json"])["manifests"]
    assert top == [
        {
            "mediaType": OCI_INDEX,
            "size": len(index.manifest),
            "digest": index.digest,
            "annotations": {ANNOTATION_REF_NAME: "latest"},
        }
    ]
    assert files[blob_path(index.digest)] == index.manifest
    assert files[blob_path(arm.digest)] == arm.manifest
    # The kodata layer is the same in both images; each blob is stored once.
    assert amd.layers[0] == arm.layers[0]
    expected = {index.digest, amd.digest, arm.digest, *amd.blobs, *arm.blobs}
    assert {p for p in files if p.startswith("blobs/")} == {blob_path(d) for d in expected}
    assert len(expected) == 8


def test_base_blobs_are_required_and_checked(images) -> None:
    amd, _, _ = images
    base = BaseImage.from_manifest(amd.manifest, amd.config, name="registry.local/base:1")
    derived = _image(AMD64, b"derived", base=base)
    with pytest.raises(ValueError, match="needs base layer sha256:.*pull the base image's layers first"):
        layout_files(derived, [derived], {}, "d")
    partial = layout_files(derived, [derived], {}, "d", allow_missing_base_blobs=True)
    assert blob_path(amd.layers[1].digest) not in partial
    base_blobs = {layer.digest: amd.blobs[layer.digest] for layer in amd.layers}
    full = layout_files(derived, [derived], base_blobs, "d")
    assert full[blob_path(amd.layers[1].digest)] == amd.blobs[amd.layers[1].digest]
    wrong = dict(base_blobs)
    wrong[amd.layers[1].digest] = b"not it"
    with pytest.raises(ValueError, match="base blob given for"):
        layout_files(derived, [derived], wrong, "d")


def test_layout_argument_errors(images) -> None:
    amd, arm, index = images
    with pytest.raises(ValueError, match="not a valid org.opencontainers.image.ref.name"):
        layout_files(amd, [amd], {}, "bad tag")
    other = build_index([(amd, AMD64)])
    object.__setattr__(other, "children", ())  # an index whose images are not supplied
    with pytest.raises(ValueError, match="not among the images given"):
        layout_files(other, [arm], {}, "x")


def test_read_layout_and_push_order(images, tmp_path: Path) -> None:
    amd, arm, index = images
    root = _write(tmp_path / "layout", layout_files(index, [amd, arm], {}, "latest"))
    layout = read_layout(root)
    top = layout.top("latest")
    assert top.digest == index.digest and top == layout.top()
    manifests = layout.image_index(top.digest).manifests
    assert manifests is not None and manifests[1].digest == arm.digest
    assert layout.image_manifest(amd.digest).config.digest == amd.config_descriptor.digest
    assert layout.blob_path(amd.digest) == root / blob_path(amd.digest)
    order = layout.push_order(top)
    assert [d.digest for d in order.manifests] == [amd.digest, arm.digest, index.digest]
    expected_blobs: list[Descriptor] = []
    for image in (amd, arm):
        for desc in (image.config_descriptor, *image.layers):
            if desc.digest not in [d.digest for d in expected_blobs]:
                expected_blobs.append(desc)
    assert [d.digest for d in order.blobs] == [d.digest for d in expected_blobs]
    assert order.missing == ()


def test_push_order_reports_missing_base_layers(images, tmp_path: Path) -> None:
    amd, _, _ = images
    base = BaseImage.from_manifest(amd.manifest, amd.config, name="registry.local/base:1")
    derived = _image(AMD64, b"derived", base=base)
    root = _write(tmp_path / "l", layout_files(derived, [derived], {}, "d", allow_missing_base_blobs=True))
    order = read_layout(root).push_order(read_layout(root).top("d"))
    assert [d.digest for d in order.missing] == [amd.layers[1].digest]  # the app layer; kodata is shared
    assert [d.digest for d in order.manifests] == [derived.digest]


def test_read_layout_errors(images, tmp_path: Path) -> None:
    amd, arm, _ = images
    with pytest.raises(ValueError, match="nothing: not a directory"):
        read_layout(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no oci-layout file; this is not an OCI image layout"):
        read_layout(tmp_path / "empty")
    root = _write(tmp_path / "two", layout_files(amd, [amd], {}, "a"))
    extra = json.loads((root / "index.json").read_text())
    extra["manifests"].append({**extra["manifests"][0], "annotations": {ANNOTATION_REF_NAME: "b"}})
    (root / "index.json").write_text(json.dumps(extra))
    layout = read_layout(root)
    with pytest.raises(ValueError, match="lists 2 manifests; say which one"):
        layout.top()
    with pytest.raises(ValueError, match=r"no image named 'c' in index.json \(names: a, b\)"):
        layout.top("c")
    (root / blob_path(amd.digest)).write_bytes(b"corrupt")
    with pytest.raises(ValueError, match="the layout is corrupt"):
        layout.image_manifest(amd.digest)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"2.0.0"}')
    with pytest.raises(ValueError, match="only '1.0.0' is supported"):
        read_layout(root)


def test_docker_archive_shape(images) -> None:
    amd, _, _ = images
    archive = docker_archive(amd, {}, ["ko.local/app:latest", "registry.local:5000/team/app:v1"])
    assert archive == docker_archive(amd, {}, ["ko.local/app:latest", "registry.local:5000/team/app:v1"])
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert names == sorted(names) and names[:2] == ["blobs", "blobs/sha256"]
        assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 for m in members)

        def read(name: str) -> bytes:
            file = tar.extractfile(name)
            assert file is not None, name
            return file.read()

        manifest = json.loads(read("manifest.json"))
        assert manifest == [
            {
                "Config": blob_path(amd.config_descriptor.digest),
                "RepoTags": ["ko.local/app:latest", "registry.local:5000/team/app:v1"],
                "Layers": [blob_path(layer.digest) for layer in amd.layers],
            }
        ]
        assert read("manifest.json").endswith(b"\n")
        top_layer = amd.layers_diff_ids[-1][len("sha256:") :]
        assert json.loads(read("repositories")) == {
            "ko.local/app": {"latest": top_layer},
            "registry.local:5000/team/app": {"v1": top_layer},
        }
        index = json.loads(read("index.json"))
        assert [m["annotations"] for m in index["manifests"]] == [
            {"io.containerd.image.name": "ko.local/app:latest", ANNOTATION_REF_NAME: "latest"},
            {"io.containerd.image.name": "registry.local:5000/team/app:v1", ANNOTATION_REF_NAME: "v1"},
        ]
        assert read(blob_path(amd.digest)) == amd.manifest
        assert digest_of(read(blob_path(amd.config_descriptor.digest))) == amd.config_descriptor.digest
    untagged = docker_archive(amd, {}, [])
    with tarfile.open(fileobj=io.BytesIO(untagged)) as tar:
        assert "repositories" not in tar.getnames()
        file = tar.extractfile("manifest.json")
        assert file is not None and json.loads(file.read())[0]["RepoTags"] is None


def test_docker_archive_errors(images) -> None:
    amd, _, _ = images
    for bad in ["ko.local/app", "app@sha256:" + "a" * 64, "host:5000/app", "app:"]:
        with pytest.raises(ValueError, match="must look like 'name:tag'"):
            docker_archive(amd, {}, [bad])
    with pytest.raises(ValueError, match="the string"):
        docker_archive(amd, {}, "ko.local/app:latest")


def test_docker_archive_of_layout_equals_the_in_memory_archive(images) -> None:
    # package writes the archive from the layout's files: byte-identical to the archive of the
    # in-memory image, for an image, an image on a base with layers, and an index.
    amd, arm, index = images
    tags = ["ko.local/app:latest", "registry.local:5000/team/app:v1"]
    no_tags: list[str] = []
    for repo_tags in (tags, no_tags):
        assert docker_archive_of_layout(layout_files(amd, [amd], {}, "v1"), repo_tags) == docker_archive(
            amd, {}, repo_tags
        )
        assert docker_archive_of_layout(layout_files(index, [amd, arm], {}, None), repo_tags) == docker_archive_index(
            index, {}, repo_tags
        )
    base = BaseImage.from_manifest(amd.manifest, amd.config, name="registry.local/base:1")
    derived = _image(AMD64, b"derived", base=base)
    base_blobs = {layer.digest: amd.blobs[layer.digest] for layer in amd.layers}
    assert docker_archive_of_layout(layout_files(derived, [derived], base_blobs, "d"), tags) == docker_archive(
        derived, base_blobs, tags
    )


def test_tar_stream_from_files_on_disk_equals_tarfile_output(images, tmp_path: Path) -> None:
    # The daemon loader streams blobs from the layout on disk: the same bytes as from memory,
    # which are tarfile's own USTAR bytes (end blocks and record padding included).
    amd, _, _ = images
    files = layout_files(amd, [amd], {}, "v1")
    on_disk: dict[str, bytes | Path] = {}
    for path, data in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
        on_disk[path] = tmp_path / path if path.startswith("blobs/") else data
    streamed = b"".join(tar_stream(on_disk))
    assert streamed == b"".join(tar_stream(files))
    assert len(streamed) % tarfile.RECORDSIZE == 0
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for member in tarfile.open(fileobj=io.BytesIO(streamed)).getmembers():
            content = files.get(member.name)
            tar.addfile(member, io.BytesIO(content) if content is not None else None)
    assert buffer.getvalue() == streamed
