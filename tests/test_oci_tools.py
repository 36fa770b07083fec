"""Images from the pure OCI core, checked with real tools: skopeo, umoci, chroot, runc, qemu.

A tiny static Go program (stdlib only, built offline for linux/amd64 and linux/arm64) is put
into images over a scratch base with a kodata tree. The layouts and the docker archive that
`pants_backend_ko.oci` writes must then be read by skopeo (digests equal to ours), unpacked by
umoci and run: with chroot, as PID 1 under runc, and for arm64 under qemu-user.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pants_backend_ko.oci.base import BaseImage
from pants_backend_ko.oci.configfile import ConfigFile
from pants_backend_ko.oci.digest import digest_of
from pants_backend_ko.oci.image import build_image, build_index
from pants_backend_ko.oci.layout import docker_archive, layout_files, read_layout
from pants_backend_ko.oci.mediatypes import OCI_CONFIG
from pants_backend_ko.oci.platform import Platform
from tests.peers.image_tools import (
    build_go_program,
    bundle_process,
    is_root,
    run_chroot,
    run_qemu_aarch64,
    run_runc,
    skopeo,
    skopeo_inspect,
    umoci_unpack,
    write_tree,
)

pytestmark = pytest.mark.peers

AMD64 = Platform.parse("linux/amd64")
ARM64 = Platform.parse("linux/arm64")
KODATA = {"message.txt": b"kodata says hi", "static/index.html": b"<h1>x</h1>"}
IMPORT_PATH = "example.com/hello"


class Built:
    """Everything the tests share: binaries, images, and their layouts on disk."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.binaries = {p: build_go_program(root / "go", p) for p in (AMD64, ARM64)}
        common = dict(import_path=IMPORT_PATH, kodata_files=KODATA, kodata_dirs=["empty"])
        self.amd64 = build_image(
            BaseImage.scratch(AMD64), platform=AMD64, binaries=[("hello", self.binaries[AMD64])],
            args=["first", "second"], **common,
        )
        self.arm64 = build_image(
            BaseImage.scratch(ARM64), platform=ARM64, binaries=[("hello", self.binaries[ARM64])], **common
        )
        self.index = build_index([(self.amd64, AMD64), (self.arm64, ARM64)], annotations={"example": "index"})
        self.index_layout = write_tree(root / "index-layout", layout_files(self.index, [self.amd64, self.arm64], {}, "latest"))
        self.image_layout = write_tree(root / "image-layout", layout_files(self.amd64, [self.amd64], {}, "v1"))
        self.archive = root / "hello.tar"
        self.archive.write_bytes(docker_archive(self.amd64, {}, ["ko.local/hello:latest", "ko.local/hello:v1"]))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    assert is_root(), "these tests run chroot and runc, which need root"
    return Built(tmp_path_factory.mktemp("oci-tools"))


def _expect_program_output(stdout: str, platform: Platform, args: str) -> None:
    assert f"hello from {platform.os}/{platform.architecture}" in stdout
    assert f"args={args}" in stdout
    assert "kodata: kodata says hi" in stdout


def test_skopeo_reads_the_index_layout(built: Built) -> None:
    ref = f"oci:{built.index_layout}:latest"
    assert skopeo_inspect(ref)["Digest"] == built.index.digest
    assert skopeo_inspect(ref, raw=True) == built.index.manifest
    arm = skopeo_inspect(ref, extra=["--override-arch", "arm64"])
    assert (arm["Architecture"], arm["Os"]) == ("arm64", "linux")
    assert arm["Env"] == ["PATH=/ko-app", "KO_DATA_PATH=/var/run/ko"]


def test_skopeo_reads_the_image_layout(built: Built) -> None:
    ref = f"oci:{built.image_layout}:v1"
    info = skopeo_inspect(ref)
    assert info["Digest"] == built.amd64.digest
    assert info["Layers"] == [layer.digest for layer in built.amd64.layers]
    assert skopeo_inspect(ref, raw=True) == built.amd64.manifest
    assert skopeo_inspect(ref, raw=True, extra=["--config"]) == built.amd64.config


def test_skopeo_copy_all_keeps_every_child_manifest(built: Built, tmp_path: Path) -> None:
    # A ko-style index (artifactType in each entry) is re-serialized by skopeo 1.9, which drops
    # that field: the children keep their digests, the index gets a new one.
    skopeo("copy", "--all", f"oci:{built.index_layout}:latest", f"oci:{tmp_path}/copy:latest")
    copied = read_layout(tmp_path / "copy")
    index = copied.image_index(copied.top("latest").digest)
    assert [entry.digest for entry in index.manifests] == [built.amd64.digest, built.arm64.digest]
    assert copied.read_blob(built.arm64.digest) == built.arm64.manifest


def test_skopeo_copy_all_preserves_an_index_without_artifact_type(built: Built, tmp_path: Path) -> None:
    index = build_index([(built.amd64, AMD64), (built.arm64, ARM64)], child_artifact_type=False)
    layout = write_tree(tmp_path / "plain-index", layout_files(index, [built.amd64, built.arm64], {}, "latest"))
    skopeo("copy", "--all", "--preserve-digests", f"oci:{layout}:latest", f"oci:{tmp_path}/copy:latest")
    assert skopeo_inspect(f"oci:{tmp_path}/copy:latest")["Digest"] == index.digest
    copied = read_layout(tmp_path / "copy")
    assert copied.read_blob(index.digest) == index.manifest


def test_umoci_unpack_and_chroot_run_the_entrypoint_with_kodata(built: Built, tmp_path: Path) -> None:
    bundle = umoci_unpack(built.image_layout, "v1", tmp_path / "bundle")
    process = bundle_process(bundle)
    assert process["args"] == ["/ko-app/hello", "first", "second"]
    assert "KO_DATA_PATH=/var/run/ko" in process["env"] and "PATH=/ko-app" in process["env"]
    rootfs = bundle / "rootfs"
    assert (rootfs / "var/run/ko/static/index.html").read_bytes() == b"<h1>x</h1>"
    assert (rootfs / "var/run/ko/empty").is_dir()
    assert (rootfs / "ko-app/hello").stat().st_mode & 0o777 == 0o555
    result = run_chroot(bundle)
    assert result.returncode == 0, result.stderr
    _expect_program_output(result.stdout, AMD64, '["first" "second"]')


def test_runc_runs_the_image_as_pid_1(built: Built, tmp_path: Path) -> None:
    bundle = umoci_unpack(built.image_layout, "v1", tmp_path / "bundle")
    result = run_runc(bundle, tmp_path / "runc-state")
    assert result.returncode == 0, result.stderr
    _expect_program_output(result.stdout, AMD64, '["first" "second"]')
    assert "pid=1 " in result.stdout


def test_arm64_child_of_the_index_runs_under_qemu(built: Built, tmp_path: Path) -> None:
    arm_layout = tmp_path / "arm"
    skopeo(
        "copy", "--override-arch", "arm64", "--preserve-digests",
        f"oci:{built.index_layout}:latest", f"oci:{arm_layout}:latest",
    )
    assert skopeo_inspect(f"oci:{arm_layout}:latest")["Digest"] == built.arm64.digest
    bundle = umoci_unpack(arm_layout, "latest", tmp_path / "bundle")
    result = run_qemu_aarch64(bundle)
    assert result.returncode == 0, result.stderr
    _expect_program_output(result.stdout, ARM64, "[]")


def test_skopeo_reads_the_docker_archive(built: Built, tmp_path: Path) -> None:
    skopeo("copy", f"docker-archive:{built.archive}:ko.local/hello:v1", f"oci:{tmp_path}/from-archive:x")
    config = json.loads(skopeo_inspect(f"oci:{tmp_path}/from-archive:x", raw=True, extra=["--config"]))
    assert config["rootfs"]["diff_ids"] == list(built.amd64.layers_diff_ids)
    assert config["config"]["Entrypoint"] == ["/ko-app/hello"]
    bundle = umoci_unpack(tmp_path / "from-archive", "x", tmp_path / "bundle")
    result = run_chroot(bundle)
    assert result.returncode == 0, result.stderr
    _expect_program_output(result.stdout, AMD64, '["first" "second"]')


def test_an_image_built_on_a_real_base_keeps_the_base_layers(built: Built, tmp_path: Path) -> None:
    # Our amd64 image becomes the base of another build: its layers are referenced and
    # supplied as base blobs, as a pulled base would be.
    base = BaseImage.from_manifest(built.amd64.manifest, built.amd64.config, name="registry.local/hello:base")
    derived = build_image(
        base,
        platform=AMD64,
        import_path="example.com/other",
        binaries=[("other", built.binaries[AMD64])],
        kodata_files={"message.txt": b"derived"},
        annotations={"stage": "two"},
    )
    assert [layer.digest for layer in derived.layers[:2]] == [layer.digest for layer in built.amd64.layers]
    base_blobs = {layer.digest: built.amd64.blobs[layer.digest] for layer in built.amd64.layers}
    layout = write_tree(tmp_path / "derived", layout_files(derived, [derived], base_blobs, "derived"))
    info = skopeo_inspect(f"oci:{layout}:derived")
    assert info["Digest"] == derived.digest
    assert len(info["Layers"]) == 4
    manifest = json.loads(skopeo_inspect(f"oci:{layout}:derived", raw=True))
    assert manifest["annotations"] == {
        "org.opencontainers.image.base.digest": digest_of(built.amd64.manifest),
        "org.opencontainers.image.base.name": "registry.local/hello:base",
        "stage": "two",
    }
    config = ConfigFile.parse(skopeo_inspect(f"oci:{layout}:derived", raw=True, extra=["--config"]))
    assert config.config.env == ("PATH=/ko-app:/ko-app", "KO_DATA_PATH=/var/run/ko", "KO_DATA_PATH=/var/run/ko")
    assert len(config.history) == 4
    bundle = umoci_unpack(layout, "derived", tmp_path / "bundle")
    assert (bundle / "rootfs/ko-app/hello").is_file() and (bundle / "rootfs/ko-app/other").is_file()
    result = run_chroot(bundle)
    assert result.returncode == 0, result.stderr
    assert "kodata: derived" in result.stdout
    assert manifest["config"]["mediaType"] == OCI_CONFIG
