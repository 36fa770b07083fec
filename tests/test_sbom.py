"""SBOM attachments on real docker-registry 2.8 peers, read back with skopeo and the registry log.

* ko's cosign-style attachment at ``sha256-<hex>.sbom`` (its layer is the SBOM, byte for byte);
* the OCI 1.1 referrer and the ``sha256-<hex>`` fallback index distribution 2.8 needs;
* idempotence (a second attach writes nothing), plain and token-auth registries, indexes;
* parity with the real ko v0.19.1: the SBOM attachment it publishes for the same program.
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from pants_backend_ko.golang.elfbuildinfo import build_info_from_binary
from pants_backend_ko.golang.gobuildinfo import parse_go_version_m
from pants_backend_ko.golang.gobuildinfo_test import build_sample, go_version_m, write_sample
from pants_backend_ko.oci.base import BaseImage
from pants_backend_ko.oci.image import build_image
from pants_backend_ko.oci.layout import layout_files
from pants_backend_ko.oci.platform import Platform
from pants_backend_ko.oci.remote.attach import (
    SPDX_ARTIFACT_TYPE,
    attach_sbom,
    cosign_sbom_image,
    cosign_sbom_tag,
    list_referrers,
    referrers_fallback_tag,
)
from pants_backend_ko.oci.remote.credentials import Keychain
from pants_backend_ko.oci.remote.errors import RegistryError
from pants_backend_ko.oci.remote.push import push_layout
from pants_backend_ko.oci.remote.transport import RegistryClient
from pants_backend_ko.oci.spdx import base_from_manifest, created_from_config, spdx_for_image, spdx_for_index
from pants_backend_ko.oci.spdx_test import check_spdx_document
from tests.peers.go_reference import go_env, ko_binary
from tests.peers.image_tools import write_tree
from tests.peers.registry import (
    TOKEN_READONLY_PASSWORD,
    TOKEN_READONLY_USER,
    client_for,
    skopeo,
    write_docker_config,
    write_test_layout,
)

pytestmark = pytest.mark.peers

AMD64 = Platform.parse("linux/amd64")


@pytest.fixture(scope="module")
def sample_binary(tmp_path_factory) -> Path:
    binary, _ = build_sample(tmp_path_factory.mktemp("sbom-app"), "-trimpath")
    return binary


@pytest.fixture(params=["plain", "token"])
def registry(request):
    return request.getfixturevalue({"plain": "registry_plain", "token": "registry_token"}[request.param])


def _push_image(peer, tmp_path: Path, repo: str, binary: Path):
    """Build a real image of the sample binary (our build_image), push it, return (image, result)."""
    image = build_image(
        BaseImage.scratch(AMD64), platform=AMD64, import_path="example.com/sbomapp", binaries=[("sbomapp", binary.read_bytes())]
    )
    layout = write_tree(tmp_path / "layout", layout_files(image, [image], {}, "latest"))
    with client_for(peer, str(tmp_path)) as client:
        result = push_layout(str(layout), f"{peer.host}/{repo}", ["latest"], client=client)
    assert result.digest == image.digest
    return image, result


def _sbom_for(image, binary: Path) -> bytes:
    info = parse_go_version_m(go_version_m(binary))
    config = json.loads(image.config)
    return spdx_for_image(
        info,
        image_digest=image.digest,
        image_media_type=image.media_type,
        binary_path_in_image="/ko-app/sbomapp",
        base=None,
        created=config["created"],
        tool_version="0.1.0",
    )


def _skopeo_blob(peer, tmp_path: Path, ref: str, digest: str) -> bytes:
    """The bytes of one blob of ``ref``, copied by skopeo (no code under test involved)."""
    out = tmp_path / f"copy-{digest[7:19]}"
    skopeo("copy", *peer.skopeo_flags("src"), f"docker://{ref}", f"dir:{out}")
    return (out / digest.split(":", 1)[1]).read_bytes()


def _writes(entries):
    return [e for e in entries if e.method in ("PUT", "POST", "PATCH", "DELETE")]


def test_attach_sbom_cosign_tag_and_referrer(registry, tmp_path, unique_repo, sample_binary) -> None:
    peer = registry
    image, pushed = _push_image(peer, tmp_path, unique_repo, sample_binary)
    sbom = _sbom_for(image, sample_binary)
    check_spdx_document(sbom)
    with client_for(peer, str(tmp_path)) as client:
        result = attach_sbom(client, f"{peer.host}/{unique_repo}", pushed.digest, pushed.media_type, sbom)
    assert result.cosign_tag == cosign_sbom_tag(image.digest) == f"sha256-{image.digest[7:]}.sbom"
    assert result.referrers_api is False and result.fallback_tag == f"sha256-{image.digest[7:]}"
    # Blobs: cosign config, SBOM as text/spdx+json (same digest as the referrer layer), empty {}.
    assert (result.blobs_uploaded, result.manifests_pushed) == (3, 3)

    # ko's attachment, read with skopeo: the manifest, its config and the SBOM layer.
    sbom_ref = peer.ref(unique_repo, result.cosign_tag)
    raw = skopeo("inspect", "--raw", *peer.skopeo_flags(), f"docker://{sbom_ref}")
    config, manifest = cosign_sbom_image(sbom)
    assert raw == manifest
    doc = json.loads(raw)
    assert doc["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert doc["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert [(l["mediaType"], l["size"]) for l in doc["layers"]] == [("text/spdx+json", len(sbom))]
    assert "annotations" not in doc
    assert skopeo("inspect", "--raw", "--config", *peer.skopeo_flags(), f"docker://{sbom_ref}") == config
    assert _skopeo_blob(peer, tmp_path, sbom_ref, doc["layers"][0]["digest"]) == sbom

    # The referrers fallback index lists the referrer with its artifactType.
    fallback_ref = peer.ref(unique_repo, referrers_fallback_tag(image.digest))
    index = json.loads(skopeo("inspect", "--raw", *peer.skopeo_flags(), f"docker://{fallback_ref}"))
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert [(m["digest"], m["artifactType"]) for m in index["manifests"]] == [(result.referrer_digest, "application/spdx+json")]
    referrer = json.loads(
        skopeo("inspect", "--raw", *peer.skopeo_flags(), f"docker://{peer.ref(unique_repo, result.referrer_digest)}")
    )
    assert referrer["artifactType"] == "application/spdx+json"
    assert referrer["subject"] == {"mediaType": image.media_type, "size": len(image.manifest), "digest": image.digest}
    assert referrer["config"]["mediaType"] == "application/vnd.oci.empty.v1+json" and referrer["config"]["size"] == 2
    assert _skopeo_blob(peer, tmp_path, peer.ref(unique_repo, result.referrer_digest), referrer["layers"][0]["digest"]) == sbom

    # list_referrers: distribution 2.8 has no referrers API, so it reads the fallback tag.
    with client_for(peer, str(tmp_path)) as client:
        listed = list_referrers(client, unique_repo, image.digest)
        assert [(r.digest, r.artifact_type) for r in listed] == [(result.referrer_digest, SPDX_ARTIFACT_TYPE)]
        assert list_referrers(client, unique_repo, image.digest, artifact_type="application/other") == ()
        assert list_referrers(client, unique_repo, "sha256:" + "0" * 64) == ()

    # The image itself is untouched.
    assert skopeo("inspect", "--raw", *peer.skopeo_flags(), f"docker://{peer.ref(unique_repo, 'latest')}") == image.manifest


def test_attach_twice_writes_nothing(registry, tmp_path, unique_repo, sample_binary) -> None:
    peer = registry
    image, pushed = _push_image(peer, tmp_path, unique_repo, sample_binary)
    sbom = _sbom_for(image, sample_binary)
    with client_for(peer, str(tmp_path)) as client:
        first = attach_sbom(client, unique_repo, pushed.digest, pushed.media_type, sbom)
        mark = peer.mark()
        again = attach_sbom(client, unique_repo, pushed.digest, pushed.media_type, sbom)
    assert first.changed and not again.changed
    assert (again.blobs_uploaded, again.manifests_pushed) == (0, 0)
    assert (again.cosign_manifest_digest, again.referrer_digest) == (first.cosign_manifest_digest, first.referrer_digest)
    seen = peer.requests_since(mark)
    assert _writes(seen) == []
    assert seen, "the second attach must still check the registry"
    index = json.loads(
        skopeo("inspect", "--raw", *peer.skopeo_flags(), f"docker://{peer.ref(unique_repo, first.fallback_tag)}")
    )
    assert len(index["manifests"]) == 1


def test_new_sbom_replaces_cosign_tag_and_adds_a_referrer(registry_plain, tmp_path, unique_repo, sample_binary) -> None:
    peer = registry_plain
    image, pushed = _push_image(peer, tmp_path, unique_repo, sample_binary)
    old = _sbom_for(image, sample_binary)
    new = old.replace(b"Tool: pants-backend-ko 0.1.0", b"Tool: pants-backend-ko 0.2.0")
    with client_for(peer, str(tmp_path)) as client:
        first = attach_sbom(client, unique_repo, pushed.digest, pushed.media_type, old)
        second = attach_sbom(client, unique_repo, pushed.digest, pushed.media_type, new)
        listed = list_referrers(client, unique_repo, pushed.digest)
    # The cosign tag holds one SBOM (ko overwrites it); the referrers keep both, oldest first.
    sbom_ref = peer.ref(unique_repo, first.cosign_tag)
    assert skopeo("inspect", "--raw", *peer.skopeo_flags(), f"docker://{sbom_ref}") == cosign_sbom_image(new)[1]
    assert [r.digest for r in listed] == [first.referrer_digest, second.referrer_digest]


def test_only_one_convention(registry_plain, tmp_path, unique_repo, sample_binary) -> None:
    peer = registry_plain
    image, pushed = _push_image(peer, tmp_path, unique_repo, sample_binary)
    sbom = _sbom_for(image, sample_binary)
    with client_for(peer, str(tmp_path)) as client:
        cosign_only = attach_sbom(client, unique_repo, pushed.digest, pushed.media_type, sbom, referrer=False)
        assert cosign_only.referrer_digest is None and cosign_only.fallback_tag is None
        assert list_referrers(client, unique_repo, pushed.digest) == ()
    # Referrer only, on a second repository holding the same image.
    second = unique_repo + "-r"
    _push_image(peer, tmp_path / "second", second, sample_binary)
    with client_for(peer, str(tmp_path)) as client:
        result = attach_sbom(client, second, pushed.digest, pushed.media_type, sbom, cosign_tag=False)
        assert result.cosign_tag is None and result.cosign_manifest_digest is None
        assert [r.digest for r in list_referrers(client, second, pushed.digest)] == [result.referrer_digest]
    with pytest.raises(AssertionError, match="manifest unknown"):
        skopeo("inspect", "--raw", *peer.skopeo_flags(), f"docker://{peer.ref(second, cosign_sbom_tag(pushed.digest))}")


def test_attach_to_index_and_children(registry_token, tmp_path, unique_repo) -> None:
    peer = registry_token
    layout = write_test_layout(str(tmp_path / "index"))
    with client_for(peer, str(tmp_path)) as client:
        pushed = push_layout(layout.path, unique_repo, ["latest"], client=client)
        index_sbom = spdx_for_index(
            pushed.digest,
            [(image.manifest_digest, image.platform) for image in layout.images],
            "1970-01-01T00:00:00Z",
            tool_version="0.1.0",
        )
        check_spdx_document(index_sbom)
        result = attach_sbom(client, unique_repo, pushed.digest, pushed.media_type, index_sbom)
        child = layout.images[0]
        child_result = attach_sbom(
            client, unique_repo, child.manifest_digest, "application/vnd.oci.image.manifest.v1+json", b'{"spdxVersion":"SPDX-2.3"}'
        )
        assert [r.digest for r in list_referrers(client, unique_repo, pushed.digest)] == [result.referrer_digest]
        assert [r.digest for r in list_referrers(client, unique_repo, child.manifest_digest)] == [child_result.referrer_digest]
    referrer = json.loads(
        skopeo("inspect", "--raw", *peer.skopeo_flags(), f"docker://{peer.ref(unique_repo, result.referrer_digest)}")
    )
    assert referrer["subject"]["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert referrer["subject"]["size"] == len(layout.root_bytes)
    sbom_ref = peer.ref(unique_repo, cosign_sbom_tag(pushed.digest))
    doc = json.loads(skopeo("inspect", "--raw", *peer.skopeo_flags(), f"docker://{sbom_ref}"))
    assert _skopeo_blob(peer, tmp_path, sbom_ref, doc["layers"][0]["digest"]) == index_sbom


def test_attach_errors(registry_plain, tmp_path, unique_repo) -> None:
    peer = registry_plain
    missing = "sha256:" + "9" * 64
    manifest = "application/vnd.oci.image.manifest.v1+json"
    with client_for(peer, str(tmp_path)) as client:
        with pytest.raises(RegistryError, match="is not in the repository; push the image before attaching its SBOM"):
            attach_sbom(client, unique_repo, missing, manifest, b"{}")
        with pytest.raises(ValueError, match="sbom is not valid JSON"):
            attach_sbom(client, unique_repo, missing, manifest, b"not json")
        with pytest.raises(ValueError, match="is not an image manifest or index type"):
            attach_sbom(client, unique_repo, missing, "text/plain", b"{}")
        with pytest.raises(ValueError, match="nothing to do"):
            attach_sbom(client, unique_repo, missing, manifest, b"{}", cosign_tag=False, referrer=False)
        with pytest.raises(ValueError, match="is on example.com, but the client talks to"):
            attach_sbom(client, "example.com/x/y", missing, manifest, b"{}")
        # A fallback tag that is not an index is reported, not overwritten.
        index = write_test_layout(str(tmp_path / "idx"))
        pushed_index = push_layout(index.path, unique_repo, ["index"], client=client)
        with pytest.raises(ValueError, match="is a application/vnd.oci.image.index.v1[+]json, not a application/vnd.oci.image.manifest"):
            attach_sbom(client, unique_repo, pushed_index.digest, manifest, b"{}")
        layout = write_test_layout(str(tmp_path / "img"), single=True)
        pushed = push_layout(layout.path, unique_repo, [referrers_fallback_tag(layout.root_digest)], client=client)
        with pytest.raises(RegistryError, match="cannot be the referrers fallback tag"):
            attach_sbom(client, unique_repo, pushed.digest, pushed.media_type, b"{}", cosign_tag=False)


def test_read_only_token_cannot_attach_and_no_secret_leaks(registry_token, tmp_path, unique_repo) -> None:
    peer = registry_token
    layout = write_test_layout(str(tmp_path / "img"), single=True)
    with client_for(peer, str(tmp_path)) as client:
        pushed = push_layout(layout.path, unique_repo, ["latest"], client=client)
    config_dir = tmp_path / "readonly"
    write_docker_config(str(config_dir), peer.host, TOKEN_READONLY_USER, TOKEN_READONLY_PASSWORD)
    mark = peer.mark()
    with RegistryClient(peer.host, keychain=Keychain({"DOCKER_CONFIG": str(config_dir)})) as client:
        with pytest.raises(RegistryError) as info:
            attach_sbom(client, unique_repo, pushed.digest, pushed.media_type, b'{"spdxVersion":"SPDX-2.3"}')
        # Reading still works for the read-only user: nothing is attached.
        assert list_referrers(client, unique_repo, pushed.digest) == ()
    message = str(info.value)
    assert "\n" not in message and TOKEN_READONLY_PASSWORD not in message and "401" in message
    assert f"credentials tried: basic auth for user '{TOKEN_READONLY_USER}'" in message
    assert [e for e in _writes(peer.requests_since(mark)) if e.status < 300] == []


# --------------------------------------------------------------------------- parity with ko


def test_matches_the_sbom_real_ko_publishes(registry_plain, tmp_path) -> None:
    """ko v0.19.1 builds and publishes the sample; its SBOM attachment is what we write.

    Known, deliberate differences (oci/spdx.py docstring) are applied to ko's document before the
    comparison: creator and namespace, SPDX ids without '(' ')', replaced modules' download
    location/checksum/sourceInfo, and our comment naming the binary.
    """
    peer = registry_plain
    base = build_image(BaseImage.scratch(AMD64), platform=AMD64, import_path="example.com/base", binaries=[("base", b"base")])
    base_layout = write_tree(tmp_path / "base", layout_files(base, [base], {}, "latest"))
    base_ref = f"{peer.host}/ko-sbom-base:latest"
    skopeo("copy", "--preserve-digests", "--dest-tls-verify=false", f"oci:{base_layout}:latest", f"docker://{base_ref}")

    app = write_sample(tmp_path / "src")
    (app / ".ko.yaml").write_text(f"defaultBaseImage: {base_ref}\n")
    env = go_env(offline=False)
    subprocess.run(["go", "mod", "tidy"], cwd=app, env=env, check=True, capture_output=True, timeout=900)
    env.update(KO_DOCKER_REPO=f"{peer.host}/ko-sbom-out", KOCACHE="", HOME=str(tmp_path), SOURCE_DATE_EPOCH="1700000000")
    env.pop("DOCKER_CONFIG", None)
    built = subprocess.run(
        [str(ko_binary()), "build", "--bare", "--insecure-registry", "--platform=linux/amd64", "."],
        cwd=app, env=env, capture_output=True, text=True, timeout=900,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    ko_ref = built.stdout.strip()
    repo_ref, digest = ko_ref.split("@")
    flags = ["--tls-verify=false"]
    ko_manifest_bytes = skopeo("inspect", "--raw", *flags, f"docker://{ko_ref}")
    ko_manifest = json.loads(ko_manifest_bytes)
    ko_config = json.loads(skopeo("inspect", "--raw", "--config", *flags, f"docker://{ko_ref}"))

    # ko's attachment: our cosign_sbom_image of ko's SBOM bytes gives exactly ko's manifest.
    sbom_ref = f"{repo_ref}:{cosign_sbom_tag(digest)}"
    ko_attachment = skopeo("inspect", "--raw", *flags, f"docker://{sbom_ref}")
    ko_attachment_doc = json.loads(ko_attachment)
    ko_sbom = _skopeo_blob(peer, tmp_path, sbom_ref, ko_attachment_doc["layers"][0]["digest"])
    config, manifest = cosign_sbom_image(ko_sbom)
    assert manifest == ko_attachment
    assert skopeo("inspect", "--raw", "--config", *flags, f"docker://{sbom_ref}") == config

    # Our SBOM of the binary inside ko's image.
    layer = _skopeo_blob(peer, tmp_path, ko_ref, ko_manifest["layers"][-1]["digest"])

    binary = tmp_path / "ko-app-binary"
    binary.write_bytes(tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))).extractfile("/ko-app/sbomapp").read())
    assert build_info_from_binary(binary.read_bytes(), str(binary)) == parse_go_version_m(go_version_m(binary))
    assert base_from_manifest(ko_manifest_bytes) == (f"{peer.host}/ko-sbom-base:latest", base.digest)
    assert created_from_config(json.dumps(ko_config).encode()) == "2023-11-14T22:13:20Z"  # SOURCE_DATE_EPOCH
    annotations = ko_manifest["annotations"]
    ours = json.loads(
        spdx_for_image(
            parse_go_version_m(go_version_m(binary)),
            image_digest=digest,
            image_media_type=ko_manifest["mediaType"],
            binary_path_in_image="/ko-app/sbomapp",
            base=(annotations["org.opencontainers.image.base.name"], annotations["org.opencontainers.image.base.digest"]),
            created=ko_config["created"],
            tool_version="0.1.0",
        )
    )
    theirs = json.loads(ko_sbom)
    # ko's bytes are json.Encoder's with a 2-space indent: the form sbom_test checks ours have.
    assert ko_sbom == (json.dumps(theirs, indent=2, ensure_ascii=False).replace("&", "\\u0026") + "\n").encode()
    check_spdx_document(ko_sbom.replace(b"-(devel)", b"--devel-"))  # ko's ids need the same fix to validate

    # Apply the documented differences to ko's document; then the two must be equal, key order too.
    assert theirs["creationInfo"]["creators"][0].startswith("Tool: ko ")
    theirs["creationInfo"]["creators"] = ["Tool: pants-backend-ko 0.1.0"]
    theirs["documentNamespace"] = theirs["documentNamespace"].replace("/spdxdocs/ko/", "/spdxdocs/pants-backend-ko/")
    theirs = json.loads(json.dumps(theirs).replace("-(devel)", "--devel-"))
    ours_by_name = {p["name"]: p for p in ours["packages"]}
    replaced = {"example.com/localdep", "github.com/google/go-cmp"}
    for i, pkg in enumerate(theirs["packages"]):
        mine = ours_by_name[pkg["name"]]
        if pkg["name"] == "example.com/sbomapp":
            assert "/ko-app/sbomapp" in mine["comment"]
            pkg["comment"] = mine["comment"]
        if pkg["name"] in replaced:
            ignored = ("downloadLocation", "checksums", "sourceInfo")
            assert {k: v for k, v in pkg.items() if k not in ignored} == {k: v for k, v in mine.items() if k not in ignored}
            assert "checksums" not in pkg and mine["sourceInfo"].startswith("replaced by")
            theirs["packages"][i] = mine
    assert json.dumps(ours) == json.dumps(theirs)
    assert {p["name"] for p in ours["packages"]} >= {"github.com/google/uuid", "example.com/sbomapp"}
