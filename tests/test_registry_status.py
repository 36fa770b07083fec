"""The read-only registry check (`oci/remote/status.py`) on real docker-registry 2.8 peers.

`pants publish` skips the push of an image the check calls published, so "published" must mean
what a push + SBOM attach leaves: every part missing in turn must turn it false, the check must
never write, and a registry that cannot answer must not count as "published".
"""

from __future__ import annotations

import json
from contextlib import closing

import pytest

from pants_backend_ko.oci.remote.attach import attach_sbom, cosign_sbom_tag, referrers_fallback_tag
from pants_backend_ko.oci.remote.credentials import Keychain
from pants_backend_ko.oci.remote.push import push_layout
from pants_backend_ko.oci.remote.status import RepositoryQuery, registry_state
from pants_backend_ko.oci.remote.transport import ClientPool
from tests.peers.registry import client_for, write_docker_config, write_test_layout

pytestmark = pytest.mark.peers

INDEX_SBOM = b'{"spdxVersion": "SPDX-2.3", "name": "index"}'
CHILD_SBOM = b'{"spdxVersion": "SPDX-2.3", "name": "child"}'
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture(params=["plain", "token"])
def registry(request):
    return request.getfixturevalue({"plain": "registry_plain", "token": "registry_token"}[request.param])


def _state(peer, tmp_path, queries, sbom=True):
    env = peer.docker_config_env(str(tmp_path / "check-config"))
    with closing(ClientPool(keychain=Keychain(env), ca_bundle=peer.ca_bundle, retries=1)) as pool:
        return registry_state(queries, sbom=sbom, pool=pool)


def _delete_manifest(client, repo: str, digest: str) -> None:
    resp = client.request("DELETE", f"/v2/{repo}/manifests/{digest}", scopes=[f"repository:{repo}:*"], expected=(202,))
    resp.close()


def test_published_only_when_every_part_is_there(registry, tmp_path, unique_repo) -> None:
    peer = registry
    layout = write_test_layout(str(tmp_path / "index"))
    children = [image.manifest_digest for image in layout.images]
    repository = f"{peer.host}/{unique_repo}"
    with client_for(peer, str(tmp_path)) as client:
        pushed = push_layout(layout.path, repository, ["v1"], client=client)
    digest = pushed.digest
    query = RepositoryQuery(repository, ("v1", "latest"))
    elsewhere = RepositoryQuery(f"{repository}-never-pushed", ("v1",), (digest,))

    mark = peer.mark()
    state = _state(peer, tmp_path, [query, elsewhere])
    assert state.tags == {f"{repository}:v1": digest, f"{repository}:latest": None, f"{repository}-never-pushed:v1": None}
    assert state.complete == {
        f"{repository}@{digest}": f"SBOM tag {cosign_sbom_tag(digest)}",
        f"{repository}-never-pushed@{digest}": f"manifest {digest}",
    }
    assert not state.is_published(repository, digest, ["v1"])  # no SBOM yet
    assert _state(peer, tmp_path, [query], sbom=False).is_published(repository, digest, ["v1"])
    assert not _state(peer, tmp_path, [query], sbom=False).is_published(repository, digest, ["v1", "latest"])
    # Read-only: the registry saw no write.
    assert {e.method for e in peer.requests_since(mark)} <= {"GET", "HEAD"}

    with client_for(peer, str(tmp_path)) as client:
        push_layout(layout.path, repository, ["v1", "latest"], client=client)
        attach_sbom(client, repository, digest, pushed.media_type, INDEX_SBOM)
        # The index has its SBOM, its platform manifests not yet.
        assert _state(peer, tmp_path, [query]).complete[f"{repository}@{digest}"] == f"SBOM tag {cosign_sbom_tag(children[0])}"
        results = [attach_sbom(client, repository, child, OCI_MANIFEST, CHILD_SBOM) for child in children]
        state = _state(peer, tmp_path, [query])
        assert state.is_published(repository, digest, ["v1", "latest"])

        # A referrer missing from the fallback index (distribution 2.8 has no referrers API).
        fallback = referrers_fallback_tag(children[-1])
        empty_index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}).encode()
        resp = client.request(
            "PUT", f"/v2/{unique_repo}/manifests/{fallback}", scopes=[f"repository:{unique_repo}:pull,push"],
            headers={"Content-Type": "application/vnd.oci.image.index.v1+json"}, body=empty_index, expected=(201,),
        )
        resp.close()
        assert _state(peer, tmp_path, [query]).complete[f"{repository}@{digest}"] == f"SBOM referrer of {children[-1]}"
        attach_sbom(client, repository, children[-1], OCI_MANIFEST, CHILD_SBOM)
        assert _state(peer, tmp_path, [query]).is_published(repository, digest, ["v1", "latest"])

        # The cosign tag of one platform gone.
        _delete_manifest(client, unique_repo, results[0].cosign_manifest_digest)
        assert _state(peer, tmp_path, [query]).complete[f"{repository}@{digest}"] == f"SBOM tag {cosign_sbom_tag(children[0])}"

        # A tag moved to another image (someone else pushed `latest`): both digests are reported.
        other = write_test_layout(str(tmp_path / "other"), seed=7)
        moved = push_layout(other.path, repository, ["latest"], client=client)
        state = _state(peer, tmp_path, [query], sbom=False)
        assert state.tags[f"{repository}:latest"] == moved.digest
        assert state.complete == {f"{repository}@{digest}": "", f"{repository}@{moved.digest}": ""}
        assert not state.is_published(repository, digest, ["v1", "latest"])


def test_a_registry_that_cannot_answer_is_not_published(registry_token, tmp_path, unique_repo) -> None:
    peer = registry_token
    layout = write_test_layout(str(tmp_path / "index"))
    repository = f"{peer.host}/{unique_repo}"
    with client_for(peer, str(tmp_path)) as client:
        pushed = push_layout(layout.path, repository, ["v1"], client=client)
    # Wrong credentials for a token registry: refused, so nothing is known to be there.
    write_docker_config(str(tmp_path / "wrong"), peer.host, "nobody", "wrong-password")
    keychain = Keychain({"DOCKER_CONFIG": str(tmp_path / "wrong")})
    with closing(ClientPool(keychain=keychain, ca_bundle=peer.ca_bundle, retries=1)) as pool:
        state = registry_state([RepositoryQuery(repository, ("v1",), (pushed.digest,))], sbom=False, pool=pool)
    assert state.tags == {f"{repository}:v1": None}
    assert state.complete[f"{repository}@{pushed.digest}"].startswith("unknown: ")
    assert "wrong-password" not in json.dumps(state.to_json())
    assert not state.is_published(repository, pushed.digest, ["v1"])
    # Nothing listens on this port.
    with closing(ClientPool(retries=1)) as pool:
        state = registry_state([RepositoryQuery("127.0.0.1:9/x/y", ("v1",), (pushed.digest,))], sbom=False, pool=pool)
    assert state.tags == {"127.0.0.1:9/x/y:v1": None} and not state.is_published("127.0.0.1:9/x/y", pushed.digest, ["v1"])
