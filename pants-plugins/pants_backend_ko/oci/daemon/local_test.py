"""ko's local publisher without a daemon: the local domain, names, the platform picked, the reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from pants_backend_ko.errors import KoError
from pants_backend_ko.oci.base import BaseImage
from pants_backend_ko.oci.daemon.local import (
    choose_platform,
    daemon_platform,
    is_local_docker_repo,
    local_reference,
    manifest_in_layout,
)
from pants_backend_ko.oci.image import build_image, build_index
from pants_backend_ko.oci.layout import layout_files, read_layout
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


def test_choice_from_an_index_is_kos_first_os_arch_match() -> None:
    entries = [(Platform.parse(p), n) for n, p in enumerate(("linux/arm/v6", "linux/arm/v7", "linux/amd64"))]
    assert choose_platform(entries, "linux", "amd64", "t") == 2
    assert choose_platform(entries, "linux", "arm", "t") == 0  # the variant is not compared
    with pytest.raises(KoError) as e:
        choose_platform(entries, "linux", "s390x", "src/go/cmd/server:server")
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


def test_the_image_to_load_is_found_in_a_layout(tmp_path: Path) -> None:
    images = {
        p: build_image(
            BaseImage.scratch(p), platform=p, import_path=IMPORT_PATH, binaries=[("server", str(p).encode())]
        )
        for p in (Platform.parse("linux/amd64"), Platform.parse("linux/arm64"))
    }
    index = build_index([(image, p) for p, image in images.items()])
    layout = read_layout(_write(tmp_path / "index", layout_files(index, list(images.values()), {}, "latest")))
    for image in images.values():
        assert manifest_in_layout(layout, image.digest).digest == image.digest
    with pytest.raises(KoError, match=r"is not an image manifest; only an image can be loaded$"):
        manifest_in_layout(layout, index.digest)
    single = images[Platform.parse("linux/arm64")]
    layout = read_layout(_write(tmp_path / "single", layout_files(single, [single], {}, "latest")))
    assert manifest_in_layout(layout, single.digest).digest == single.digest
    other = images[Platform.parse("linux/amd64")].digest
    with pytest.raises(KoError, match=rf"^OCI layout {tmp_path}/single has no image manifest {other}; package"):
        manifest_in_layout(layout, other)
