"""Parity with the real ko: the same inputs give the same config, tar and manifest bytes.

The real `ko` v0.19.1 (built once from the Go module proxy) builds a two-platform image of a
tiny Go program with kodata, labels, an annotation, a user and both epochs, on a base index
pushed to a real docker-registry. We rebuild the same image with `build_image`/`build_index`
from ko's own binaries and the same base, and compare:

- the config bytes (ko runs with TZ=UTC; we always write UTC);
- the diffIDs of the kodata and app layers (sha256 of the uncompressed tars);
- the manifest and index bytes, after swapping in ko's gzip'd layer descriptors and child
  digests: only Go's deflate stream differs (Go's compress/flate, not zlib).
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from pants_backend_ko.golang import gojson
from pants_backend_ko.oci.base import BaseImage
from pants_backend_ko.oci.digest import digest_of
from pants_backend_ko.oci.image import build_image, build_index
from pants_backend_ko.oci.layout import layout_files
from pants_backend_ko.oci.manifest import ImageIndex
from pants_backend_ko.oci.platform import Platform
from tests.peers.go_reference import go_env, ko_binary
from tests.peers.image_tools import write_tree
from tests.peers.registry import RegistryPeer, skopeo

pytestmark = pytest.mark.peers

AMD64 = Platform.parse("linux/amd64")
ARM64 = Platform.parse("linux/arm64")
KODATA = {"message.txt": b"hello kodata", "sub/b.txt": b"b"}
SOURCE_DATE_EPOCH = 1700000000
KODATA_DATE_EPOCH = 1600000000


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    peer = RegistryPeer(str(tmp_path_factory.mktemp("ko-parity-registry"))).start()
    try:
        yield peer
    finally:
        peer.stop()


def _layer_tars(workdir: Path, ref: str, manifest: dict) -> tuple[bytes, bytes]:
    """ko's kodata and app layer tars, pulled with skopeo."""
    skopeo("copy", "--src-tls-verify=false", f"docker://{ref}", f"dir:{workdir}")
    blob = lambda desc: (workdir / desc["digest"].split(":")[1]).read_bytes()  # noqa: E731
    return gzip.decompress(blob(manifest["layers"][-2])), gzip.decompress(blob(manifest["layers"][-1]))


def test_build_image_matches_real_ko(registry, tmp_path: Path) -> None:
    # A base index made with our own code (any real image would do), pushed byte-for-byte.
    bases = {
        p: build_image(
            BaseImage.scratch(p), platform=p, import_path="example.com/base",
            binaries=[("base", f"base for {p}".encode())], labels={"base": "yes"}, env={"BASEVAR": "x&y"},
        )
        for p in (AMD64, ARM64)
    }
    base_index = build_index([(bases[AMD64], AMD64), (bases[ARM64], ARM64)], child_artifact_type=False)
    base_layout = write_tree(tmp_path / "base", layout_files(base_index, list(bases.values()), {}, "latest"))
    base_ref = f"{registry.host}/base:latest"
    skopeo("copy", "--all", "--preserve-digests", "--dest-tls-verify=false", f"oci:{base_layout}:latest", f"docker://{base_ref}")

    module = tmp_path / "hello"
    (module / "kodata" / "sub").mkdir(parents=True)
    (module / "go.mod").write_text("module example.com/hello\n\ngo 1.22\n")
    (module / "main.go").write_text('package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hi") }\n')
    for rel, data in KODATA.items():
        (module / "kodata" / rel).write_bytes(data)
    (module / ".ko.yaml").write_text(f"defaultBaseImage: {base_ref}\n")
    env = go_env(offline=True)
    env.update(
        KO_DOCKER_REPO=f"{registry.host}/out",
        SOURCE_DATE_EPOCH=str(SOURCE_DATE_EPOCH),
        KO_DATA_DATE_EPOCH=str(KODATA_DATE_EPOCH),
        KOCACHE="",
        HOME=str(tmp_path),  # no docker config of the machine's user
    )
    env.pop("DOCKER_CONFIG", None)
    result = subprocess.run(
        [
            str(ko_binary()), "build", "--bare", "--sbom=none", "--insecure-registry",
            "--platform=linux/amd64,linux/arm64", "--image-label=team=<infra>",
            "--image-annotation=note=a&b", "--image-user=1000", ".",
        ],
        cwd=module, env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ko_ref = result.stdout.strip()
    ko_index_bytes = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{ko_ref}")
    ko_index = ImageIndex.parse(ko_index_bytes)
    assert [e.platform for e in ko_index.manifests] == [AMD64, ARM64]

    ours = []
    for entry in ko_index.manifests:
        ref = f"{registry.host}/out@{entry.digest}"
        ko_manifest_bytes = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{ref}")
        ko_config = skopeo("inspect", "--raw", "--config", "--tls-verify=false", f"docker://{ref}")
        ko_manifest = json.loads(ko_manifest_bytes)
        kodata_tar, app_tar = _layer_tars(tmp_path / f"pulled-{entry.platform.architecture}", ref, ko_manifest)
        ko_binary_bytes = tarfile.open(fileobj=io.BytesIO(app_tar)).extractfile("/ko-app/hello").read()

        base = bases[entry.platform]
        image = build_image(
            BaseImage.from_manifest(base.manifest, base.config, name=base_ref),
            platform=entry.platform,
            import_path="example.com/hello",
            binaries=[("hello", ko_binary_bytes)],
            kodata_files=KODATA,
            source_date_epoch=SOURCE_DATE_EPOCH,
            kodata_date_epoch=KODATA_DATE_EPOCH,
            user="1000",
            labels={"team": "<infra>"},
            annotations={"note": "a&b"},
        )
        ours.append(image)
        assert image.config == ko_config
        assert image.layers_diff_ids[-2:] == (digest_of(kodata_tar), digest_of(app_tar))
        swapped = json.loads(image.manifest)
        swapped["layers"][-2:] = ko_manifest["layers"][-2:]  # Go's gzip vs zlib: the only difference
        assert gojson.dumps(swapped) == ko_manifest_bytes

    index = build_index(
        [(image, entry.platform) for image, entry in zip(ours, ko_index.manifests)],
        annotations=dict(ko_index.annotations),  # user annotation plus ko's base name/digest
    )
    swapped = json.loads(index.manifest)
    for ours_entry, ko_entry in zip(swapped["manifests"], ko_index.manifests):
        ours_entry["digest"], ours_entry["size"] = ko_entry.digest, ko_entry.size
    assert gojson.dumps(swapped) == ko_index_bytes
    assert ko_index.annotations["note"] == "a&b" and b"a\\u0026b" in ko_index_bytes
