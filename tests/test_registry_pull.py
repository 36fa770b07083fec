"""Manifests, base-image resolution, blob downloads and the cache against real registries."""

from __future__ import annotations

import json
import re
import os

import pytest

from pants_backend_ko.oci.mediatypes import DOCKER_CONFIG, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST
from pants_backend_ko.oci.platform import Platform
from pants_backend_ko.oci.remote.errors import DigestMismatchError, RegistryError
from pants_backend_ko.oci.remote.pull import (
    ContentCache,
    fetch_blob,
    get_manifest,
    resolve_base,
    resolve_base_from_layout,
)
from pants_backend_ko.oci.remote.push import push_layout
from pants_backend_ko.oci.remote.transport import ClientPool, RegistryClient
from pants_backend_ko.oci.remote.credentials import Keychain
from tests.peers.registry import Rule, client_for, skopeo, write_test_layout


@pytest.fixture(scope="module")
def seeded_bases(registry_plain, tmp_path_factory):
    """A 2-platform OCI index and a Docker-typed single image, put there by skopeo."""
    peer = registry_plain
    work = tmp_path_factory.mktemp("bases")
    multi = write_test_layout(str(work / "multi"), platforms=("linux/amd64", "linux/arm64"))
    single = write_test_layout(str(work / "single"), single=True)
    skopeo("copy", "--all", "--preserve-digests", *peer.skopeo_flags("dest"), f"oci:{multi.path}:latest", f"docker://{peer.ref('base/multi', 'latest')}")
    skopeo("copy", "--format", "v2s2", *peer.skopeo_flags("dest"), f"oci:{single.path}:latest", f"docker://{peer.ref('base/docker', '1')}")
    return multi, single


def _pool(peer, tmp_path):
    return ClientPool(keychain=Keychain(peer.docker_config_env(str(tmp_path / "dc"))), ca_bundle=peer.ca_bundle, backoff=0.05)


def test_resolve_base_index_per_platform(registry_plain, seeded_bases, tmp_path):
    multi, _ = seeded_bases
    ref = registry_plain.ref("base/multi", "latest")
    arm = resolve_base(ref, ["linux/arm64"], clients=_pool(registry_plain, tmp_path))
    assert arm.digest == multi.root_digest and arm.media_type == OCI_INDEX and arm.is_index
    assert arm.index_bytes == multi.root_bytes
    assert arm.name == f"{registry_plain.host}/base/multi:latest"
    assert arm.digest_reference == f"{registry_plain.host}/base/multi@{multi.root_digest}"
    [image] = arm.images
    expected = multi.images[1]
    assert image.platform == Platform("linux", "arm64")
    assert (image.manifest_digest, image.manifest_bytes) == (expected.manifest_digest, expected.manifest_bytes)
    assert image.manifest_media_type == OCI_MANIFEST
    assert image.config_digest == expected.config_digest and json.loads(image.config_bytes)["architecture"] == "arm64"
    assert tuple(l.digest for l in image.layers) == expected.layer_digests
    assert image.index_descriptor is not None and image.index_descriptor.digest == expected.manifest_digest
    assert arm.blob_sources()[expected.layer_digests[1]] == (registry_plain.host, "base/multi")

    both = resolve_base(ref, ["linux/arm64", "linux/amd64"], clients=_pool(registry_plain, tmp_path))
    assert [str(i.platform) for i in both.images] == ["linux/amd64", "linux/arm64"]  # base index order
    every = resolve_base(ref, ["all"], clients=_pool(registry_plain, tmp_path))
    assert [i.manifest_digest for i in every.images] == [i.manifest_digest for i in multi.images]
    linux = resolve_base(ref, ["linux"], clients=_pool(registry_plain, tmp_path))
    assert len(linux.images) == 2  # unset fields match anything


def test_resolve_base_docker_single_image_and_platform_mismatch(registry_plain, seeded_bases, tmp_path):
    ref = registry_plain.ref("base/docker", "1")
    base = resolve_base(ref, ["linux/amd64"], clients=_pool(registry_plain, tmp_path))
    assert base.media_type == DOCKER_MANIFEST and not base.is_index and base.index_bytes is None
    [image] = base.images
    assert image.config_media_type == DOCKER_CONFIG and image.platform == Platform("linux", "amd64")
    assert image.manifest_digest == base.digest
    assert skopeo("inspect", "--raw", *registry_plain.skopeo_flags(), f"docker://{ref}") == image.manifest_bytes
    with pytest.raises(ValueError) as info:
        resolve_base(ref, ["linux/arm64"], clients=_pool(registry_plain, tmp_path))
    assert str(info.value) == (
        f"base image {ref} (linux/amd64) does not match desired platforms linux/arm64; "
        "choose a base for those platforms or change the platforms"
    )
    with pytest.raises(ValueError, match=r"has no image for linux/s390x \(it has linux/amd64, linux/arm64\)"):
        resolve_base(registry_plain.ref("base/multi"), ["linux/amd64", "linux/s390x"], clients=_pool(registry_plain, tmp_path))
    with pytest.raises(ValueError, match="'all' cannot be combined"):
        resolve_base(ref, ["all", "linux/amd64"])


def test_unknown_platforms_are_dropped_and_nested_indexes_rejected(registry_plain, tmp_path, unique_repo):
    peer = registry_plain
    layout = write_test_layout(str(tmp_path / "l"), platforms=("linux/amd64", "unknown/unknown"))
    with client_for(peer, str(tmp_path)) as client:
        push_layout(layout.path, f"{peer.host}/{unique_repo}", ["latest"], client=client)
        every = resolve_base(peer.ref(unique_repo), ["all"], clients=_pool(peer, tmp_path))
        assert [str(i.platform) for i in every.images] == ["linux/amd64"]
        # An index whose only child is an index (pushed with our client, children first).
        nested = tmp_path / "nested"
        os.makedirs(nested / "blobs" / "sha256")
        for name in os.listdir(os.path.join(layout.path, "blobs", "sha256")):
            os.link(os.path.join(layout.path, "blobs", "sha256", name), nested / "blobs" / "sha256" / name)
        outer = json.dumps(
            {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{"mediaType": OCI_INDEX, "size": len(layout.root_bytes), "digest": layout.root_digest}]},
            sort_keys=True, separators=(",", ":"),
        ).encode()
        import hashlib

        outer_digest = "sha256:" + hashlib.sha256(outer).hexdigest()
        (nested / "blobs" / "sha256" / outer_digest[7:]).write_bytes(outer)
        (nested / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        (nested / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": OCI_INDEX, "size": len(outer), "digest": outer_digest}]}))
        pushed = push_layout(str(nested), f"{peer.host}/{unique_repo}-nested", ["latest"], client=client)
        assert pushed.digest == outer_digest and pushed.manifests_pushed == 4  # 2 images, inner and outer index
    with pytest.raises(ValueError, match=r"is an index that contains another index \(" + layout.root_digest):
        resolve_base(peer.ref(unique_repo + "-nested"), ["all"], clients=_pool(peer, tmp_path))


def test_digest_pinned_base_needs_no_network_and_a_tag_one_manifest_request(registry_plain, seeded_bases, tmp_path):
    multi, _ = seeded_bases
    peer = registry_plain
    cache = tmp_path / "cache"
    first = resolve_base(peer.ref("base/multi", "latest"), ["all"], clients=_pool(peer, tmp_path), cache_dir=cache)
    mark = peer.mark()
    pinned = resolve_base(peer.ref("base/multi", multi.root_digest), ["all"], clients=_pool(peer, tmp_path), cache_dir=cache)
    assert peer.requests_since(mark) == []
    assert pinned.images == first.images and pinned.digest == first.digest
    mark = peer.mark()
    by_tag = resolve_base(peer.ref("base/multi", "latest"), ["linux/arm64"], clients=_pool(peer, tmp_path), cache_dir=cache)
    seen = [(e.method, e.path) for e in peer.requests_since(mark)]
    assert seen == [("GET", "/v2/"), ("GET", "/v2/base/multi/manifests/latest")]
    assert by_tag.images[0].config_bytes == first.images[1].config_bytes
    stored = ContentCache(cache)
    assert all(stored.has(d) for d in (multi.root_digest, *(i.manifest_digest for i in multi.images), *(i.config_digest for i in multi.images)))
    assert not any(stored.has(d) for i in multi.images for d in i.layer_digests)  # base layers are never downloaded


def test_get_manifest_by_tag_and_digest(registry_plain, seeded_bases, tmp_path):
    multi, _ = seeded_bases
    with client_for(registry_plain, str(tmp_path)) as client:
        media_type, data, digest = get_manifest(client, "base/multi", "latest")
        assert (media_type, data, digest) == (OCI_INDEX, multi.root_bytes, multi.root_digest)
        child = multi.images[0]
        fetched = get_manifest(client, "base/multi", child.manifest_digest)
        assert (fetched.media_type, fetched.data, fetched.digest) == (OCI_MANIFEST, child.manifest_bytes, child.manifest_digest)
        with pytest.raises(RegistryError) as info:
            get_manifest(client, "base/multi", "nope")
    assert str(info.value) == (
        f"registry {registry_plain.host}: GET /v2/base/multi/manifests/nope: 404 MANIFEST_UNKNOWN "
        "(not found; check the registry, repository and reference)"
    )
    assert info.value.status == 404 and info.value.code == "MANIFEST_UNKNOWN"


def test_manifest_answers_are_checked(fault_proxy, seeded_bases, tmp_path):
    multi, _ = seeded_bases
    child = multi.images[0]
    schema1 = json.dumps({"schemaVersion": 1, "name": "x", "tag": "old", "fsLayers": []}).encode()
    fault_proxy.add_rule(Rule("GET", r"/manifests/old$", "respond", 200, {"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"}, schema1))
    fault_proxy.add_rule(Rule("GET", r"/manifests/liar$", "respond", 200, {"Content-Type": DOCKER_MANIFEST}, child.manifest_bytes))
    fault_proxy.add_rule(Rule("GET", r"/manifests/" + multi.images[1].manifest_digest, "respond", 200, {"Content-Type": OCI_MANIFEST}, child.manifest_bytes))
    with RegistryClient(fault_proxy.host, backoff=0.05) as client:
        with pytest.raises(RegistryError, match="Docker schema 1 manifests are not supported"):
            get_manifest(client, "base/multi", "old")
        with pytest.raises(RegistryError, match=re.escape(f"the registry says {DOCKER_MANIFEST} but the manifest says {OCI_MANIFEST}")):
            get_manifest(client, "base/multi", "liar")
        with pytest.raises(DigestMismatchError, match=f"hashes to {child.manifest_digest}; refusing it"):
            get_manifest(client, "base/multi", multi.images[1].manifest_digest, cache=tmp_path / "cache")
    assert not ContentCache(tmp_path / "cache").has(child.manifest_digest)
    accepts = [e.header("Accept") for e in fault_proxy.log if "/manifests/" in e.path]
    assert accepts and all(
        a == f"{OCI_INDEX}, {OCI_MANIFEST}, application/vnd.docker.distribution.manifest.list.v2+json, {DOCKER_MANIFEST}"
        for a in accepts
    )


def test_fetch_blob_verifies_streams_and_caches(registry_tls, tmp_path, unique_repo):
    peer = registry_tls
    layout = write_test_layout(str(tmp_path / "l"), single=True, layer_size=300_000)
    layer = layout.images[0].layer_digests[1]
    with client_for(peer, str(tmp_path)) as client:
        push_layout(layout.path, f"{peer.host}/{unique_repo}", ["latest"], client=client)
        cache = ContentCache(tmp_path / "cache")
        dest = fetch_blob(client, unique_repo, layer, tmp_path / "out" / "layer.tgz", cache=cache)
        original = open(os.path.join(layout.path, "blobs", "sha256", layer[7:]), "rb").read()
        assert dest.read_bytes() == original and cache.path(layer).read_bytes() == original
        mark = peer.mark()
        again = fetch_blob(client, unique_repo, layer, tmp_path / "out2" / "layer.tgz", cache=cache)
        assert again.read_bytes() == original
        assert [e for e in peer.requests_since(mark) if "/blobs/" in e.path] == []


def test_corrupted_blob_is_detected_and_never_cached(registry_plain, tmp_path, unique_repo):
    peer = registry_plain
    layout = write_test_layout(str(tmp_path / "l"), single=True)
    image = layout.images[0]
    with client_for(peer, str(tmp_path)) as client:
        push_layout(layout.path, f"{peer.host}/{unique_repo}", ["latest"], client=client)
    for digest in (image.layer_digests[1], image.config_digest):
        path = peer.blob_data_path(digest)
        data = bytearray(open(path, "rb").read())
        data[len(data) // 2] ^= 0xFF  # same size, one byte flipped
        with open(path, "wb") as f:
            f.write(bytes(data))
    cache = ContentCache(tmp_path / "cache")
    out_dir = tmp_path / "out"
    with client_for(peer, str(tmp_path)) as client:
        with pytest.raises(DigestMismatchError) as info:
            fetch_blob(client, unique_repo, image.layer_digests[1], out_dir / "layer", cache=cache)
        assert f"blob {unique_repo}@{image.layer_digests[1]}: the downloaded content hashes to sha256:" in str(info.value)
        assert "refusing it and not caching it" in str(info.value)
        assert os.listdir(out_dir) == []  # no partial or unverified file left behind
        assert not cache.has(image.layer_digests[1])
        with pytest.raises(DigestMismatchError, match=f"blob {unique_repo}@{image.config_digest}: the content hashes to"):
            resolve_base(peer.ref(unique_repo), ["linux/amd64"], clients=_pool(peer, tmp_path), cache_dir=cache.root)
        assert not cache.has(image.config_digest)


def test_blob_redirects_do_not_carry_authorization(fault_proxy, tmp_path, unique_repo):
    peer = fault_proxy.upstream
    layout = write_test_layout(str(tmp_path / "l"), single=True)
    layer = layout.images[0].layer_digests[1]
    with client_for(peer, str(tmp_path)) as client:
        push_layout(layout.path, f"{peer.host}/{unique_repo}", ["latest"], client=client)
    # The proxy asks for Basic auth (so the client sends Authorization) and redirects blob GETs to "storage".
    fault_proxy.add_rule(Rule("GET", r"^/v2/$", "respond", 401, {"WWW-Authenticate": 'Basic realm="proxy"'}))
    fault_proxy.add_rule(Rule("GET", r"/blobs/sha256:", "redirect_blob"))
    config = tmp_path / "proxy-config"
    config.mkdir()
    import base64

    (config / "config.json").write_text(json.dumps({"auths": {fault_proxy.host: {"auth": base64.b64encode(b"alice:pw-for-proxy").decode()}}}))
    with RegistryClient(fault_proxy.host, keychain=Keychain({"DOCKER_CONFIG": str(config)}), backoff=0.05) as client:
        dest = fetch_blob(client, unique_repo, layer, tmp_path / "out" / "blob")
    assert dest.read_bytes() == open(os.path.join(layout.path, "blobs", "sha256", layer[7:]), "rb").read()
    [registry_get] = [e for e in fault_proxy.log if e.method == "GET" and "/blobs/" in e.path]
    assert registry_get.status == 307 and registry_get.header("Authorization", ).startswith("Basic ")
    [storage_get] = fault_proxy.storage_log
    assert storage_get.path == f"/v2/{unique_repo}/blobs/{layer}" and storage_get.header("Authorization") is None


def test_resolve_base_from_an_oci_layout_directory(tmp_path):
    layout = write_test_layout(str(tmp_path / "l"), platforms=("linux/amd64", "linux/arm64", "linux/arm/v7"))
    base = resolve_base_from_layout(layout.path, ["linux/arm/v7"])
    assert base.layout_dir == layout.path and base.registry == "" and base.blob_sources() == {}
    assert base.digest == layout.root_digest and base.index_bytes == layout.root_bytes
    [image] = base.images
    assert image.platform == Platform("linux", "arm", "v7") and image.manifest_bytes == layout.images[2].manifest_bytes
    same = resolve_base(f"oci-layout:{layout.path}", ["linux/arm/v7"])
    assert same.images == base.images
    named = resolve_base_from_layout(layout.path, ["all"], ref_name="latest")
    assert len(named.images) == 3
    with pytest.raises(ValueError, match=r"no image named 'other' in index.json \(names: latest\)"):
        resolve_base_from_layout(layout.path, ["all"], ref_name="other")
    os.unlink(os.path.join(layout.path, "blobs", "sha256", layout.images[0].config_digest[7:]))
    with pytest.raises(ValueError, match=f"blob {layout.images[0].config_digest} is missing"):
        resolve_base_from_layout(layout.path, ["linux/amd64"])
