"""Credentials and tokens against the real Basic-auth and token-auth registries."""

from __future__ import annotations

import json
import stat
import time

import pytest
import requests

from pants_backend_ko.oci.remote.credentials import Keychain
from pants_backend_ko.oci.remote.pull import get_manifest, resolve_base
from pants_backend_ko.oci.remote.push import push_layout
from pants_backend_ko.oci.remote.transport import RegistryClient
from tests.peers.registry import (
    IDENTITY_TOKEN,
    TOKEN_PASSWORD,
    TOKEN_USER,
    RegistryPeer,
    client_for,
    skopeo,
    write_test_layout,
)
from tests.peers.token_server import TokenServer


@pytest.mark.parametrize("form", ["auth", "username_password"])
def test_basic_auth_config_forms(registry_tls, tmp_path, unique_repo, form):
    layout = write_test_layout(str(tmp_path / "l"), single=True)
    with client_for(registry_tls, str(tmp_path), form=form) as client:
        result = push_layout(layout.path, f"{registry_tls.host}/{unique_repo}", ["latest"], client=client)
        assert client.credential.username == "alice"
    assert skopeo("inspect", "--raw", *registry_tls.skopeo_flags(), f"docker://{registry_tls.ref(unique_repo)}") == layout.root_bytes
    assert result.blobs_uploaded == 3


def test_identity_token_uses_the_oauth2_refresh_grant(registry_token, token_server, tmp_path, unique_repo):
    peer = registry_token
    config = tmp_path / "dc"
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"auths": {peer.host: {"identitytoken": IDENTITY_TOKEN}}}))
    layout = write_test_layout(str(tmp_path / "l"), single=True)
    mark = token_server.mark()
    with RegistryClient(peer.host, keychain=Keychain({"DOCKER_CONFIG": str(config)})) as client:
        push_layout(layout.path, f"{peer.host}/{unique_repo}", ["latest"], client=client)
    [request] = token_server.requests_since(mark)
    assert (request.method, request.grant_type, request.user) == ("POST", "refresh_token", TOKEN_USER)
    assert request.scopes == (f"repository:{unique_repo}:pull,push",)


def test_registry_token_is_sent_as_is(registry_token, token_server, tmp_path, unique_repo):
    peer = registry_token
    answer = requests.get(
        token_server.realm,
        params={"service": token_server.service, "scope": f"repository:{unique_repo}:pull,push"},
        auth=(TOKEN_USER, TOKEN_PASSWORD),
        timeout=10,
    ).json()
    config = tmp_path / "dc"
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"auths": {peer.host: {"registrytoken": answer["token"]}}}))
    layout = write_test_layout(str(tmp_path / "l"), single=True)
    mark = token_server.mark()
    with RegistryClient(peer.host, keychain=Keychain({"DOCKER_CONFIG": str(config)})) as client:
        result = push_layout(layout.path, f"{peer.host}/{unique_repo}", ["latest"], client=client)
    assert result.digest == layout.root_digest
    assert token_server.requests_since(mark) == []  # the client never asked the token server


def test_credential_helper_on_path(registry_token, token_server, tmp_path, unique_repo):
    peer = registry_token
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-test"
    helper.write_text(
        "#!/bin/sh\n"
        f'echo "$1" > "{bin_dir}/argv"\n'
        f'cat > "{bin_dir}/stdin"\n'
        f"echo '{{\"ServerURL\":\"{peer.host}\",\"Username\":\"{TOKEN_USER}\",\"Secret\":\"{TOKEN_PASSWORD}\"}}'\n"
    )
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    config = tmp_path / "home" / ".docker"
    config.mkdir(parents=True)
    (config / "config.json").write_text(json.dumps({"credHelpers": {peer.host: "test"}}))
    layout = write_test_layout(str(tmp_path / "l"), single=True)
    mark = token_server.mark()
    env = {"HOME": str(tmp_path / "home"), "PATH": f"{bin_dir}:/usr/bin:/bin"}
    with RegistryClient(peer.host, keychain=Keychain(env)) as client:
        push_layout(layout.path, f"{peer.host}/{unique_repo}", ["latest"], client=client)
        assert client.credential.describe() == f"basic auth for user '{TOKEN_USER}' from docker-credential-test (credHelpers in {config}/config.json)"
    assert (bin_dir / "argv").read_text() == "get\n"
    assert (bin_dir / "stdin").read_text() == f"{peer.host}\n"
    assert [r.user for r in token_server.requests_since(mark)] == [TOKEN_USER]


def test_tokens_are_cached_per_scope_set(registry_token, token_server, tmp_path, unique_repo):
    peer = registry_token
    layout = write_test_layout(str(tmp_path / "l"))
    with client_for(peer, str(tmp_path)) as client:
        push_layout(layout.path, f"{peer.host}/{unique_repo}", ["latest"], client=client, jobs=4)
        mark = token_server.mark()
        for _ in range(3):
            get_manifest(client, unique_repo, "latest")
        for image in layout.images:
            get_manifest(client, unique_repo, image.manifest_digest)
    asked = token_server.requests_since(mark)
    assert [r.scopes for r in asked] == [(f"repository:{unique_repo}:pull",)]


def test_anonymous_pull_works_against_token_auth(registry_token, token_server, tmp_path, unique_repo):
    peer = registry_token
    layout = write_test_layout(str(tmp_path / "l"))
    with client_for(peer, str(tmp_path)) as client:
        push_layout(layout.path, f"{peer.host}/{unique_repo}", ["latest"], client=client)
    mark = token_server.mark()
    base = resolve_base(peer.ref(unique_repo), ["linux/arm64"])  # empty keychain: anonymous
    assert base.digest == layout.root_digest and base.images[0].manifest_bytes == layout.images[1].manifest_bytes
    assert {(r.user, r.granted) for r in token_server.requests_since(mark)} == {("", ((unique_repo, ("pull",)),))}


def test_a_401_challenge_with_more_scopes_gets_one_new_token(registry_token, token_server, tmp_path, unique_repo):
    peer = registry_token
    layout = write_test_layout(str(tmp_path / "l"), single=True)
    with client_for(peer, str(tmp_path)) as client:
        push_layout(layout.path, f"{peer.host}/{unique_repo}", ["latest"], client=client)
        digest = layout.images[0].config_digest
        mark = token_server.mark()
        # Ask only for push on the target: the registry's 401 names the source scope too.
        resp = client.request(
            "POST",
            f"/v2/{unique_repo}-2/blobs/uploads/",
            scopes=[f"repository:{unique_repo}-2:pull,push"],
            params={"mount": digest, "from": unique_repo},
            expected=(201,),
        )
        resp.close()
    asked = [set(r.scopes) for r in token_server.requests_since(mark)]
    assert asked == [
        {f"repository:{unique_repo}-2:pull,push"},
        {f"repository:{unique_repo}-2:pull,push", f"repository:{unique_repo}:pull"},
    ]


def test_expired_tokens_are_refreshed(tmp_path, unique_repo):
    server = TokenServer(str(tmp_path / "ts"), users={TOKEN_USER: TOKEN_PASSWORD}, expires_in=2).start()
    peer = RegistryPeer(str(tmp_path / "reg"), "token", token_server=server)
    try:
        peer.start()
        layout = write_test_layout(str(tmp_path / "l"), single=True)
        with client_for(peer, str(tmp_path)) as client:
            push_layout(layout.path, f"{peer.host}/{unique_repo}", ["latest"], client=client)
            mark = server.mark()
            get_manifest(client, unique_repo, "latest")
            get_manifest(client, unique_repo, "latest")
            assert len(server.requests_since(mark)) == 1
            time.sleep(1.7)  # lifetime 2s minus the 0.5s safety margin
            get_manifest(client, unique_repo, "latest")
            assert len(server.requests_since(mark)) == 2
    finally:
        peer.stop()
        server.stop()
