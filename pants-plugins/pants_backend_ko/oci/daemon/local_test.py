"""ko's local publisher without a daemon: the local domain, names, the platform picked, the reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from pants_backend_ko.oci.base import BaseImage
from pants_backend_ko.oci.daemon.local import (
    choose_from_index,
    daemon_platform,
    is_local_docker_repo,
    local_reference,
    platform_image,
)
from pants_backend_ko.oci.image import build_image, build_index
from pants_backend_ko.oci.layout import layout_files, read_layout
from pants_backend_ko.oci.manifest import Descriptor, ImageIndex
from pants_backend_ko.oci.naming import repository_for
from pants_backend_ko.oci.platform import Platform

IMPORT_PATH = "example.com/app/cmd/server"


def test_local_domain_as_ko_reads_ko_docker_repo() -> None:
    assert is_local_docker_repo("ko.local") and is_local_docker_repo("ko.local/other")
    assert not is_local_docker_repo("ghcr.io/acme") and not is_local_docker_repo("kind.local")
    # ko's prefix test would take this registry for the daemon; it is a registry.
    assert not is_local_docker_repo("ko.localhost:5000/acme")


def test_names_under_the_local_domain_follow_the_naming_mode() -> None:
    # ko: namer(base, importpath) with base = KO_DOCKER_REPO under the local domain.
    assert repository_for("ko.local", IMPORT_PATH) == "ko.local/server-" + "961d4f7e2040039f268e0cc4cb46e0c9"
    assert repository_for("ko.local/other", IMPORT_PATH, "base") == "ko.local/other/server"
    assert repository_for("ko.local", IMPORT_PATH, "preserve") == "ko.local/example.com/app/cmd/server"


def test_reference_is_the_repository_tagged_with_the_image_digest_hex() -> None:
    digest = "sha256:" + "ab" * 32
    assert local_reference("ko.local/server-x", digest) == "ko.local/server-x:" + "ab" * 32


def test_goos_goarch_default_to_linux_amd64() -> None:
    assert daemon_platform({}) == ("linux", "amd64")
    assert daemon_platform({"GOOS": "linux", "GOARCH": "arm64", "GOARM": "7"}) == ("linux", "arm64")
    assert daemon_platform({"GOOS": "", "GOARCH": ""}) == ("linux", "amd64")


def _entry(platform: str, n: int) -> Descriptor:
    return Descriptor(
        media_type="application/vnd.oci.image.manifest.v1+json",
        size=1,
        digest="sha256:" + f"{n:064x}",
        platform=Platform.parse(platform),
    )


def test_choice_from_an_index_is_kos_first_os_arch_match() -> None:
    index = ImageIndex(
        schema_version=2,
        manifests=(_entry("linux/arm/v6", 1), _entry("linux/arm/v7", 2), _entry("linux/amd64", 3)),
    )
    assert choose_from_index(index, "linux", "amd64", "t").digest.endswith("3")
    assert choose_from_index(index, "linux", "arm", "t").digest.endswith("1")  # the variant is not compared
    with pytest.raises(ValueError) as e:
        choose_from_index(index, "linux", "s390x", "src/go/cmd/server:server")
    assert str(e.value) == (
        "src/go/cmd/server:server: the image has no linux/s390x platform to load into the Docker daemon "
        "(it has linux/arm/v6, linux/arm/v7, linux/amd64); ko.local loads the platform of GOOS/GOARCH "
        "(default linux/amd64): set them to one it has, or add linux/s390x to the target's platforms"
    )


def _write(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def test_platform_image_of_a_layout(tmp_path: Path) -> None:
    images = {
        p: build_image(
            BaseImage.scratch(p), platform=p, import_path=IMPORT_PATH, binaries=[("server", str(p).encode())]
        )
        for p in (Platform.parse("linux/amd64"), Platform.parse("linux/arm64"))
    }
    index = build_index([(image, p) for p, image in images.items()])
    layout = read_layout(_write(tmp_path / "index", layout_files(index, list(images.values()), {}, "latest")))
    for (goos, goarch), platform in ((("linux", "arm64"), "linux/arm64"), (("linux", "amd64"), "linux/amd64")):
        assert platform_image(layout, goos, goarch, "t").digest == images[Platform.parse(platform)].digest
    single = images[Platform.parse("linux/arm64")]
    layout = read_layout(_write(tmp_path / "single", layout_files(single, [single], {}, "latest")))
    # A single image is loaded whatever GOOS/GOARCH say (ko loads a v1.Image as it is).
    assert platform_image(layout, "linux", "amd64", "t").digest == single.digest
