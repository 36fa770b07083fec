"""push_layout against real docker-registry 2.8 peers, checked with skopeo and the registry's own log."""

from __future__ import annotations

import os

import pytest

from pants_backend_ko.oci.remote.errors import DigestMismatchError, RegistryError
from pants_backend_ko.oci.layout import LayoutError
from pants_backend_ko.oci.remote.push import push_layout
from pants_backend_ko.oci.remote.transport import RegistryClient
from tests.peers.registry import Rule, client_for, make_layer, skopeo, write_test_layout


def _blob_writes(entries):
    """Requests that upload or mount blob content."""
    return [e for e in entries if "/blobs/uploads/" in e.path and e.method in ("POST", "PUT", "PATCH")]


def _manifest_puts(entries):
    return [e for e in entries if e.method == "PUT" and "/manifests/" in e.path]


def test_push_index_and_single_image(any_registry, tmp_path, unique_repo):
    peer = any_registry
    index_layout = write_test_layout(str(tmp_path / "index"))
    single_layout = write_test_layout(str(tmp_path / "single"), single=True)
    with client_for(peer, str(tmp_path)) as client:
        result = push_layout(index_layout.path, f"{peer.host}/{unique_repo}", ["latest", "v1"], client=client)
        single = push_layout(single_layout.path, f"{peer.host}/{unique_repo}-single", ["v2"], client=client)

    assert result.digest == index_layout.root_digest
    assert result.reference == f"{peer.host}/{unique_repo}@{index_layout.root_digest}"
    # 2 configs + 2 own layers + 1 shared base layer, each uploaded once.
    assert (result.blobs_uploaded, result.blobs_mounted, result.blobs_skipped) == (5, 0, 0)
    assert (result.manifests_pushed, result.tags_pushed) == (3, 2)
    for tag in ("latest", "v1"):
        ref = f"docker://{peer.ref(unique_repo, tag)}"
        assert skopeo("inspect", "--raw", *peer.skopeo_flags(), ref) == index_layout.root_bytes
        assert skopeo("inspect", "--format", "{{.Digest}}", *peer.skopeo_flags(), ref).decode().strip() == result.digest
    for image in index_layout.images:
        ref = f"docker://{peer.ref(unique_repo, image.manifest_digest)}"
        assert skopeo("inspect", "--raw", *peer.skopeo_flags(), ref) == image.manifest_bytes

    assert single.digest == single_layout.root_digest and single.media_type.endswith("manifest.v1+json")
    assert (single.blobs_uploaded, single.manifests_pushed) == (3, 1)
    ref = f"docker://{peer.ref(unique_repo + '-single', 'v2')}"
    assert skopeo("inspect", "--raw", *peer.skopeo_flags(), ref) == single_layout.root_bytes
    assert skopeo("inspect", "--format", "{{.Digest}}", *peer.skopeo_flags(), ref).decode().strip() == single.digest


def test_second_push_uploads_nothing(any_registry, tmp_path, unique_repo):
    peer = any_registry
    layout = write_test_layout(str(tmp_path / "layout"))
    with client_for(peer, str(tmp_path)) as client:
        push_layout(layout.path, f"{peer.host}/{unique_repo}", ["latest"], client=client)
        mark = peer.mark()
        again = push_layout(layout.path, f"{peer.host}/{unique_repo}", ["latest"], client=client)
    seen = peer.requests_since(mark)
    assert (again.blobs_uploaded, again.blobs_mounted, again.blobs_skipped) == (0, 0, 5)
    assert (again.manifests_pushed, again.tags_pushed, again.tags_skipped) == (0, 0, 1)
    assert _blob_writes(seen) == [] and _manifest_puts(seen) == []
    # Only the root HEAD and the tag HEAD (plus token-less /v2/ pings never repeat: one client).
    assert [(e.method, e.path.rsplit("/", 1)[-1], e.status) for e in seen if e.status != 401] == [
        ("HEAD", layout.root_digest, 200),
        ("HEAD", "latest", 200),
    ]


def test_push_to_second_repository_mounts(any_registry, tmp_path, unique_repo):
    peer = any_registry
    layout = write_test_layout(str(tmp_path / "layout"))
    first, second = unique_repo, unique_repo + "-copy"
    with client_for(peer, str(tmp_path)) as client:
        push_layout(layout.path, f"{peer.host}/{first}", ["latest"], client=client)
        token_mark = peer.token_server.mark() if peer.token_server else 0
        mark = peer.mark()
        result = push_layout(
            layout.path,
            f"{peer.host}/{second}",
            ["latest"],
            client=client,
            mount_sources={d: first for d in layout.blob_digests},
        )
    seen = peer.requests_since(mark)
    assert (result.blobs_uploaded, result.blobs_mounted, result.blobs_skipped) == (0, 5, 0)
    mounts = [e for e in _blob_writes(seen) if e.status != 401]
    assert len(mounts) == 5
    assert all(e.method == "POST" and "mount=sha256" in e.query and f"from={first.replace('/', '%2F')}" in e.query and e.status == 201 for e in mounts)
    assert skopeo("inspect", "--raw", *peer.skopeo_flags(), f"docker://{peer.ref(second)}") == layout.root_bytes
    if peer.token_server:
        # The mount needs pull on the source repository in the same token as push on the target.
        asked = [r.scopes for r in peer.token_server.requests_since(token_mark)]
        assert {f"repository:{first}:pull", f"repository:{second}:pull,push"} in [set(s) for s in asked]


def test_push_order_blobs_then_children_then_index_then_tags(registry_plain, tmp_path, unique_repo):
    peer = registry_plain
    layout = write_test_layout(str(tmp_path / "layout"), platforms=("linux/amd64", "linux/arm64", "linux/arm/v7"))
    mark = peer.mark()
    with client_for(peer, str(tmp_path)) as client:
        push_layout(layout.path, f"{peer.host}/{unique_repo}", ["a", "b"], client=client, jobs=4)
    seen = peer.requests_since(mark)
    blob_puts = [i for i, e in enumerate(seen) if e.method == "PUT" and "/blobs/uploads/" in e.path]
    manifest_puts = [(i, e.path.rsplit("/", 1)[-1]) for i, e in enumerate(seen) if e.method == "PUT" and "/manifests/" in e.path]
    assert len(blob_puts) == 7  # 3 configs + 3 own layers + the shared layer
    children = {image.manifest_digest for image in layout.images}
    assert {ref for _, ref in manifest_puts[:3]} == children
    assert [ref for _, ref in manifest_puts[3:]] == [layout.root_digest, "a", "b"]
    assert max(blob_puts) < manifest_puts[0][0]
    assert all(e.status == 201 for e in seen if e.method == "PUT")


def test_base_layers_absent_from_layout_are_mounted_from_the_base_repository(registry_token, tmp_path, unique_repo):
    peer = registry_token
    base_layer = make_layer({"etc/os-release": b"base os\n"})
    base = write_test_layout(str(tmp_path / "base"), single=True, shared_layer=base_layer)
    app = write_test_layout(str(tmp_path / "app"), shared_layer=base_layer)
    shared_digest = app.images[0].layer_digests[0]
    assert shared_digest == base.images[0].layer_digests[0]
    os.unlink(os.path.join(app.path, "blobs", "sha256", shared_digest.split(":")[1]))  # ko never downloads base layers
    with client_for(peer, str(tmp_path)) as client:
        push_layout(base.path, f"{peer.host}/{unique_repo}-base", ["latest"], client=client)
        result = push_layout(
            app.path, f"{peer.host}/{unique_repo}", ["latest"], client=client, mount_sources={shared_digest: f"{unique_repo}-base"}
        )
    assert (result.blobs_uploaded, result.blobs_mounted) == (4, 1)
    assert skopeo("inspect", "--raw", *peer.skopeo_flags(), f"docker://{peer.ref(unique_repo)}") == app.root_bytes


def test_base_layers_are_streamed_from_another_registry_only_when_missing(registry_plain, registry_tls, tmp_path, unique_repo):
    base_layer = make_layer({"etc/os-release": bytes(range(256)) * 64})
    base = write_test_layout(str(tmp_path / "base"), single=True, shared_layer=base_layer)
    app = write_test_layout(str(tmp_path / "app"), single=True, shared_layer=base_layer)
    shared = app.images[0].layer_digests[0]
    os.unlink(os.path.join(app.path, "blobs", "sha256", shared.split(":")[1]))
    with client_for(registry_plain, str(tmp_path)) as plain_client:
        push_layout(base.path, f"{registry_plain.host}/{unique_repo}-base", ["latest"], client=plain_client)
    sources = {shared: (registry_plain.host, f"{unique_repo}-base")}
    plain_mark = registry_plain.mark()
    with client_for(registry_tls, str(tmp_path)) as client:
        result = push_layout(app.path, f"{registry_tls.host}/{unique_repo}", ["latest"], client=client, blob_sources=sources)
        assert (result.blobs_uploaded, result.blobs_mounted) == (3, 0)
        fetched = [e for e in registry_plain.requests_since(plain_mark) if e.method == "GET" and "/blobs/" in e.path]
        assert [(e.path.rsplit("/", 1)[-1], e.status) for e in fetched] == [(shared, 200)]
        # A second app image sharing the layer: the target has it, so the source is not read again.
        app2 = write_test_layout(str(tmp_path / "app2"), single=True, shared_layer=base_layer)
        os.unlink(os.path.join(app2.path, "blobs", "sha256", shared.split(":")[1]))
        plain_mark = registry_plain.mark()
        again = push_layout(app2.path, f"{registry_tls.host}/{unique_repo}", ["v2"], client=client, blob_sources=sources)
    assert again.blobs_skipped == 1 and again.blobs_uploaded == 2
    assert [e for e in registry_plain.requests_since(plain_mark) if "/blobs/" in e.path] == []
    out = tmp_path / "copied"
    skopeo("copy", *registry_tls.skopeo_flags("src"), f"docker://{registry_tls.ref(unique_repo)}", f"oci:{out}:x")
    assert (out / "blobs" / "sha256" / shared.split(":")[1]).is_file()


def test_chunked_upload_when_the_registry_asks(fault_proxy, tmp_path, unique_repo):
    fault_proxy.add_rule(Rule("POST", r"/blobs/uploads/$", "add_header", headers={"OCI-Chunk-Min-Length": "1048576"}))
    big = os.urandom(2_500_000)  # incompressible, so the gzip layer stays ~2.5 MB: three 1 MiB chunks
    layout = write_test_layout(str(tmp_path / "layout"), single=True, shared_layer=make_layer({"big.bin": big}))
    with RegistryClient(fault_proxy.host, backoff=0.05) as client:
        result = push_layout(layout.path, f"{fault_proxy.host}/{unique_repo}", ["latest"], client=client)
    big_digest = layout.images[0].layer_digests[0]
    size = os.path.getsize(os.path.join(layout.path, "blobs", "sha256", big_digest.split(":")[1]))
    patches = [e for e in fault_proxy.log if e.method == "PATCH"]
    ranges = [e.header("Content-Range") for e in patches]
    assert f"0-{1048576 - 1}" in ranges and f"1048576-{2 * 1048576 - 1}" in ranges and f"{2 * 1048576}-{size - 1}" in ranges
    assert all(e.status == 202 for e in patches)
    assert result.blobs_uploaded == 3
    peer = fault_proxy.upstream
    assert skopeo("inspect", "--raw", *peer.skopeo_flags(), f"docker://{peer.ref(unique_repo)}") == layout.root_bytes
    out = tmp_path / "copied"
    skopeo("copy", *peer.skopeo_flags("src"), f"docker://{peer.ref(unique_repo)}", f"oci:{out}:x")
    assert (out / "blobs" / "sha256" / big_digest.split(":")[1]).stat().st_size == size


def layout_config_size(layout) -> int:
    return os.path.getsize(os.path.join(layout.path, "blobs", "sha256", layout.images[0].config_digest[7:]))


def test_chunked_upload_resumes_after_416_and_relative_locations_work(fault_proxy, tmp_path, unique_repo):
    fault_proxy.add_rule(Rule("POST", r"/blobs/uploads/$", "add_header", headers={"OCI-Chunk-Min-Length": "1048576"}))
    # The second PATCH is refused as out of order; the client asks for the upload status and resumes.
    # (jobs=1: the config's single PATCH comes first, then the big layer's chunks.)
    fault_proxy.add_rule(Rule("PATCH", r"/blobs/uploads/", "respond", 416, {}, b"", times=1, after=2))
    fault_proxy.add_rule(Rule("PATCH", r"/blobs/uploads/", "relative_location"))
    layout = write_test_layout(str(tmp_path / "l"), single=True, shared_layer=make_layer({"big.bin": os.urandom(2_200_000)}))
    with RegistryClient(fault_proxy.host, backoff=0.05) as client:
        result = push_layout(layout.path, f"{fault_proxy.host}/{unique_repo}", ["latest"], client=client, jobs=1)
    assert result.blobs_uploaded == 3
    big = [e for e in fault_proxy.log if e.method in ("PATCH", "GET") and "/blobs/uploads/" in e.path]
    assert [(e.method, e.status, e.header("Content-Range")) for e in big[:5]] == [
        ("PATCH", 202, f"0-{layout_config_size(layout) - 1}"),
        ("PATCH", 202, "0-1048575"),
        ("PATCH", 416, "1048576-2097151"),
        ("GET", 204, None),
        ("PATCH", 202, "1048576-2097151"),
    ]
    peer = fault_proxy.upstream
    out = tmp_path / "copied"
    skopeo("copy", *peer.skopeo_flags("src"), f"docker://{peer.ref(unique_repo)}", f"oci:{out}:x")
    assert skopeo("inspect", "--raw", *peer.skopeo_flags(), f"docker://{peer.ref(unique_repo)}") == layout.root_bytes


def test_tags_are_skipped_when_current_and_moved_when_not(registry_plain, tmp_path, unique_repo):
    peer = registry_plain
    one = write_test_layout(str(tmp_path / "one"), single=True)
    two = write_test_layout(str(tmp_path / "two"), single=True)
    with client_for(peer, str(tmp_path)) as client:
        push_layout(one.path, f"{peer.host}/{unique_repo}", ["stable", "v1"], client=client)
        result = push_layout(two.path, f"{peer.host}/{unique_repo}", ["stable", "v1", "v2", "v2"], client=client)
        same = push_layout(two.path, f"{peer.host}/{unique_repo}", ["stable"], client=client)
    assert result.tags == ("stable", "v1", "v2") and result.tags_pushed == 3
    assert (same.tags_pushed, same.tags_skipped) == (0, 1)
    for tag in ("stable", "v1", "v2"):
        assert skopeo("inspect", "--raw", *peer.skopeo_flags(), f"docker://{peer.ref(unique_repo, tag)}") == two.root_bytes


def test_registry_digest_header_is_verified(fault_proxy, tmp_path, unique_repo):
    wrong = "sha256:" + "0" * 64
    fault_proxy.add_rule(Rule("PUT", r"/manifests/", "add_header", headers={"Docker-Content-Digest": wrong}))
    layout = write_test_layout(str(tmp_path / "layout"), single=True)
    with RegistryClient(fault_proxy.host, backoff=0.05) as client, pytest.raises(DigestMismatchError) as info:
        push_layout(layout.path, f"{fault_proxy.host}/{unique_repo}", ["latest"], client=client)
    assert str(info.value) == (
        f"registry {fault_proxy.host}: PUT /v2/{unique_repo}/manifests/{layout.root_digest}: "
        f"the registry stored {wrong} instead of {layout.root_digest}; refusing to continue"
    )


def test_upload_location_on_another_host_is_refused(fault_proxy, tmp_path, unique_repo):
    fault_proxy.add_rule(Rule("POST", r"/blobs/uploads/$", "rewrite_location", headers={"netloc": fault_proxy.storage_host}))
    layout = write_test_layout(str(tmp_path / "layout"), single=True)
    with RegistryClient(fault_proxy.host, backoff=0.05) as client, pytest.raises(RegistryError) as info:
        push_layout(layout.path, f"{fault_proxy.host}/{unique_repo}", ["latest"], client=client, jobs=1)
    assert f"refusing to send a request to http://{fault_proxy.storage_host}/v2/{unique_repo}/blobs/uploads/" in str(info.value)
    assert fault_proxy.storage_log == []  # nothing was sent to the other host


def test_missing_blob_without_a_source_fails_before_any_request(registry_plain, tmp_path, unique_repo):
    layout = write_test_layout(str(tmp_path / "layout"), single=True)
    missing = layout.images[0].layer_digests[0]
    os.unlink(os.path.join(layout.path, "blobs", "sha256", missing.split(":")[1]))
    mark = registry_plain.mark()
    with client_for(registry_plain, str(tmp_path)) as client, pytest.raises(LayoutError) as info:
        push_layout(layout.path, f"{registry_plain.host}/{unique_repo}", ["latest"], client=client)
    assert f"blob {missing} (referenced by manifest {layout.root_digest}) is not in the layout" in str(info.value)
    assert registry_plain.requests_since(mark) == []


def test_bad_arguments_are_rejected_up_front(registry_plain, tmp_path, unique_repo):
    layout = write_test_layout(str(tmp_path / "layout"), single=True)
    with client_for(registry_plain, str(tmp_path)) as client:
        with pytest.raises(ValueError, match="invalid tag '-bad'"):
            push_layout(layout.path, f"{registry_plain.host}/{unique_repo}", ["-bad"], client=client)
        with pytest.raises(ValueError, match="is on ghcr.io, but the client talks to"):
            push_layout(layout.path, "ghcr.io/acme/app", [], client=client)
        with pytest.raises(ValueError, match="upper-case"):
            push_layout(layout.path, f"{registry_plain.host}/Upper/case", [], client=client)
        with pytest.raises(LayoutError, match="no oci-layout file"):
            push_layout(str(tmp_path), f"{registry_plain.host}/{unique_repo}", [], client=client)
