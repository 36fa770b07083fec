"""The read-only publish check (`oci/remote/status.py`) on real docker-registry 2.8 peers.

`pants publish` skips the push of an image the check calls published, so "published" must mean
exactly what a push + SBOM attach leaves: every part missing in turn must turn it false, the
check must never write, and a registry that cannot answer must not count as "published".
"""

from __future__ import annotations

import json

import pytest

from pants_backend_ko.oci.remote.attach import attach_sbom, cosign_sbom_tag, referrers_fallback_tag
from pants_backend_ko.oci.remote.credentials import Keychain
from pants_backend_ko.oci.remote.push import push_layout
from pants_backend_ko.oci.remote.status import ImageToCheck, check_images
from tests.peers.registry import client_for, write_docker_config, write_test_layout

pytestmark = pytest.mark.peers

INDEX_SBOM = b'{"spdxVersion": "SPDX-2.3", "name": "index"}'
CHILD_SBOM = b'{"spdxVersion": "SPDX-2.3", "name": "child"}'


@pytest.fixture(params=["plain", "token"])
def registry(request):
    return request.getfixturevalue({"plain": "registry_plain", "token": "registry_token"}[request.param])


def _check(peer, tmp_path, images):
    env = peer.docker_config_env(str(tmp_path / "check-config"))
    return check_images(images, keychain=Keychain(env), ca_bundle=peer.ca_bundle)


def _delete_manifest(client, repo: str, digest: str) -> None:
    resp = client.request("DELETE", f"/v2/{repo}/manifests/{digest}", scopes=[f"repository:{repo}:*"], expected=(202,))
    resp.close()


def test_published_only_when_every_part_is_there(registry, tmp_path, unique_repo) -> None:
    peer = registry
    layout = write_test_layout(str(tmp_path / "index"))
    child = layout.images[0]
    repository = f"{peer.host}/{unique_repo}"
    with client_for(peer, str(tmp_path)) as client:
        pushed = push_layout(layout.path, repository, ["v1"], client=client)
    image = ImageToCheck(repository, pushed.digest, ("v1", "latest"), ((pushed.digest, INDEX_SBOM), (child.manifest_digest, CHILD_SBOM)))
    untagged = ImageToCheck(repository, pushed.digest)
    elsewhere = ImageToCheck(f"{peer.host}/{unique_repo}-never-pushed", pushed.digest)

    mark = peer.mark()
    statuses = _check(peer, tmp_path, [image, untagged, elsewhere])
    assert [(s.published, s.missing) for s in statuses] == [
        (False, "tag latest"),
        (True, ""),
        (False, f"manifest {pushed.digest}"),
    ]
    # Read-only: the registry saw no write.
    assert {e.method for e in peer.requests_since(mark)} <= {"GET", "HEAD"}

    with client_for(peer, str(tmp_path)) as client:
        push_layout(layout.path, repository, ["v1", "latest"], client=client)
        (status,) = _check(peer, tmp_path, [image])
        assert status.missing == f"SBOM tag {cosign_sbom_tag(pushed.digest)}"
        attach_sbom(client, repository, pushed.digest, pushed.media_type, INDEX_SBOM)
        (status,) = _check(peer, tmp_path, [image])
        assert status.missing == f"SBOM tag {cosign_sbom_tag(child.manifest_digest)}"
        result = attach_sbom(client, repository, child.manifest_digest, "application/vnd.oci.image.manifest.v1+json", CHILD_SBOM)
        assert [s.published for s in _check(peer, tmp_path, [image])] == [True]

        # A different SBOM than the one attached is not published.
        (status,) = _check(peer, tmp_path, [ImageToCheck(repository, pushed.digest, (), ((pushed.digest, b'{"other": 1}'),))])
        assert status.missing == f"SBOM tag {cosign_sbom_tag(pushed.digest)}"

        # The referrer manifest gone (distribution 2.8 lists referrers only through the fallback tag).
        _delete_manifest(client, unique_repo, result.referrer_digest)
        (status,) = _check(peer, tmp_path, [image])
        assert status.missing == f"SBOM referrer {result.referrer_digest}"
        attach_sbom(client, repository, child.manifest_digest, "application/vnd.oci.image.manifest.v1+json", CHILD_SBOM)
        assert [s.published for s in _check(peer, tmp_path, [image])] == [True]

        # The fallback index no longer lists the referrer.
        fallback = referrers_fallback_tag(child.manifest_digest)
        empty_index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}).encode()
        resp = client.request(
            "PUT", f"/v2/{unique_repo}/manifests/{fallback}", scopes=[f"repository:{unique_repo}:pull,push"],
            headers={"Content-Type": "application/vnd.oci.image.index.v1+json"}, body=empty_index, expected=(201,),
        )
        resp.close()
        (status,) = _check(peer, tmp_path, [image])
        assert status.missing == f"referrers tag {fallback}"

        # A tag moved to another image (someone else pushed `latest`).
        other = write_test_layout(str(tmp_path / "other"), seed=7)
        push_layout(other.path, repository, ["latest"], client=client)
        (status,) = _check(peer, tmp_path, [ImageToCheck(repository, pushed.digest, ("v1", "latest"))])
        assert status.missing == "tag latest"


def test_a_registry_that_cannot_answer_is_not_published(registry_token, tmp_path, unique_repo) -> None:
    peer = registry_token
    layout = write_test_layout(str(tmp_path / "index"))
    with client_for(peer, str(tmp_path)) as client:
        pushed = push_layout(layout.path, f"{peer.host}/{unique_repo}", [], client=client)
    # Wrong credentials for a token registry: refused, so "not published" with the reason.
    write_docker_config(str(tmp_path / "wrong"), peer.host, "nobody", "wrong-password")
    keychain = Keychain({"DOCKER_CONFIG": str(tmp_path / "wrong")})
    (status,) = check_images([ImageToCheck(f"{peer.host}/{unique_repo}", pushed.digest)], keychain=keychain, ca_bundle=peer.ca_bundle)
    assert not status.published and status.missing.startswith("unknown: ")
    assert "wrong-password" not in status.missing
    # Nothing listens on this port.
    (status,) = check_images([ImageToCheck("127.0.0.1:9/x/y", pushed.digest)], keychain=Keychain({}), insecure_registries=["127.0.0.1:9"])
    assert not status.published and status.missing.startswith("unknown: ")
