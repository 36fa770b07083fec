"""Error lines for 401/403/404/429/5xx, retries, TLS trust and connection failures (real peers)."""

from __future__ import annotations

import json
import time

import pytest

from pants_backend_ko.oci.remote.credentials import Keychain
from pants_backend_ko.oci.remote.errors import RegistryError
from pants_backend_ko.oci.remote.pull import get_manifest
from pants_backend_ko.oci.remote.push import push_layout
from pants_backend_ko.oci.remote.transport import RegistryClient
from tests.peers.registry import (
    BASIC_PASSWORD,
    TOKEN_PASSWORD,
    TOKEN_READONLY_PASSWORD,
    TOKEN_READONLY_USER,
    Rule,
    free_port,
    write_docker_config,
    write_test_layout,
)

SECRETS = (BASIC_PASSWORD, TOKEN_PASSWORD, TOKEN_READONLY_PASSWORD, "wrong-password-123")


def _assert_one_clean_line(message: str) -> None:
    assert "\n" not in message
    for secret in SECRETS:
        assert secret not in message


def test_401_without_credentials_names_what_was_tried(registry_tls, tmp_path, unique_repo):
    peer = registry_tls
    layout = write_test_layout(str(tmp_path / "l"), single=True)
    empty = tmp_path / "empty-docker-config"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    with RegistryClient(peer.host, keychain=Keychain({"DOCKER_CONFIG": str(empty)}), ca_bundle=peer.ca_bundle) as client:
        with pytest.raises(RegistryError) as info:
            push_layout(layout.path, f"{peer.host}/{unique_repo}", ["latest"], client=client)
    assert str(info.value) == (
        f"registry {peer.host}: HEAD /v2/{unique_repo}/manifests/{layout.root_digest}: 401 UNAUTHORIZED "
        f"(credentials tried: none (anonymous; searched {empty}/config.json); log in to the registry or fix the credentials)"
    )
    assert info.value.status == 401 and info.value.is_unauthorized


def test_401_with_a_wrong_password_never_shows_it(registry_tls, tmp_path, unique_repo):
    peer = registry_tls
    config = write_docker_config(str(tmp_path / "dc"), peer.host, "alice", "wrong-password-123")
    with RegistryClient(peer.host, keychain=Keychain({"DOCKER_CONFIG": str(tmp_path / "dc")}), ca_bundle=peer.ca_bundle) as client:
        with pytest.raises(RegistryError) as info:
            get_manifest(client, unique_repo, "latest")
    message = str(info.value)
    _assert_one_clean_line(message)
    assert message == (
        f"registry {peer.host}: GET /v2/{unique_repo}/manifests/latest: 401 UNAUTHORIZED: authentication required "
        f"(credentials tried: basic auth for user 'alice' from {config} (auths['{peer.host}']); "
        "log in to the registry or fix the credentials)"
    )


@pytest.mark.parametrize("who", ["anonymous", "read-only user"])
def test_token_without_push_fails_once_without_looping(registry_token, token_server, tmp_path, unique_repo, who):
    peer = registry_token
    layout = write_test_layout(str(tmp_path / "l"), single=True)
    env = {}
    if who == "read-only user":
        write_docker_config(str(tmp_path / "dc"), peer.host, TOKEN_READONLY_USER, TOKEN_READONLY_PASSWORD)
        env = {"DOCKER_CONFIG": str(tmp_path / "dc")}
    mark = token_server.mark()
    with RegistryClient(peer.host, keychain=Keychain(env)) as client, pytest.raises(RegistryError) as info:
        push_layout(layout.path, f"{peer.host}/{unique_repo}", ["latest"], client=client, jobs=1)
    message = str(info.value)
    _assert_one_clean_line(message)
    tried = "none (anonymous; no credential files found)" if who == "anonymous" else f"basic auth for user '{TOKEN_READONLY_USER}'"
    assert message.startswith(
        f"registry {peer.host}: POST /v2/{unique_repo}/blobs/uploads/: 401 UNAUTHORIZED: authentication required "
        f"(credentials tried: {tried}"
    )
    assert message.endswith(f"the token did not grant repository:{unique_repo}:pull,push; log in to the registry or fix the credentials)")
    asked = token_server.requests_since(mark)
    # One token up front, one retry after the 401, then the error: no loop.
    assert len(asked) == 2
    assert all(r.granted == ((unique_repo, ("pull",)),) for r in asked)


def test_403_from_the_registry(fault_proxy, tmp_path, unique_repo):
    body = json.dumps({"errors": [{"code": "DENIED", "message": "requested access to the resource is denied"}]}).encode()
    fault_proxy.add_rule(Rule("POST", r"/blobs/uploads/$", "respond", 403, {"Content-Type": "application/json"}, body))
    layout = write_test_layout(str(tmp_path / "l"), single=True)
    with RegistryClient(fault_proxy.host, backoff=0.01) as client, pytest.raises(RegistryError) as info:
        push_layout(layout.path, f"{fault_proxy.host}/{unique_repo}", ["latest"], client=client, jobs=1)
    assert str(info.value) == (
        f"registry {fault_proxy.host}: POST /v2/{unique_repo}/blobs/uploads/: 403 DENIED: requested access to the "
        "resource is denied (credentials tried: none (anonymous; no credential files found); they are not allowed "
        "to do this on the repository)"
    )
    assert [e.status for e in fault_proxy.log if e.method == "POST"] == [403]  # 403 is not retried


def test_429_and_5xx_are_retried_then_succeed(fault_proxy, tmp_path, unique_repo):
    fault_proxy.add_rule(Rule("HEAD", r"/blobs/", "respond", 429, {"Retry-After": "0"}, times=2))
    fault_proxy.add_rule(Rule("PUT", r"/manifests/", "respond", 503, {}, b"try later", times=2))
    layout = write_test_layout(str(tmp_path / "l"), single=True)
    with RegistryClient(fault_proxy.host, backoff=0.01, retries=3) as client:
        result = push_layout(layout.path, f"{fault_proxy.host}/{unique_repo}", ["latest"], client=client, jobs=1)
    assert result.blobs_uploaded == 3 and result.manifests_pushed == 1
    statuses = [(e.method, e.status) for e in fault_proxy.log if e.method in ("HEAD", "PUT") and "/manifests/" in e.path or "/blobs/sha256" in e.path]
    assert statuses.count(("HEAD", 429)) == 2 and statuses.count(("PUT", 503)) == 2
    peer = fault_proxy.upstream
    status, _, _ = peer.raw_request("HEAD", f"/v2/{unique_repo}/manifests/latest", {"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert status == 200


@pytest.mark.parametrize(
    "status, body, expected",
    [
        (429, {"errors": [{"code": "TOOMANYREQUESTS", "message": "slow down"}]}, "429 TOOMANYREQUESTS: slow down (rate limited after 3 attempts; try again later)"),
        (500, {"errors": [{"code": "UNKNOWN", "message": "unknown error"}]}, "500 UNKNOWN: unknown error (the registry failed after 3 attempts; try again later)"),
        (502, None, "502 Bad Gateway: <html>bad gateway</html> (the registry failed after 3 attempts; try again later)"),
    ],
)
def test_persistent_429_and_5xx_give_up_after_bounded_attempts(fault_proxy, status, body, expected):
    data = json.dumps(body).encode() if body else b"<html>bad gateway</html>"
    headers = {"Content-Type": "application/json" if body else "text/html"}
    fault_proxy.add_rule(Rule("GET", r"/manifests/latest$", "respond", status, headers, data))
    with RegistryClient(fault_proxy.host, backoff=0.01, retries=2) as client, pytest.raises(RegistryError) as info:
        get_manifest(client, "some/repo", "latest")
    assert str(info.value) == f"registry {fault_proxy.host}: GET /v2/some/repo/manifests/latest: {expected}"
    assert len([e for e in fault_proxy.log if e.path.endswith("/manifests/latest")]) == 3


def test_retry_after_is_honoured_within_the_budget(fault_proxy, tmp_path):
    fault_proxy.add_rule(Rule("GET", r"/manifests/a$", "respond", 429, {"Retry-After": "1"}, times=1))
    fault_proxy.add_rule(Rule("GET", r"/manifests/b$", "respond", 429, {"Retry-After": "30"}))
    with RegistryClient(fault_proxy.host, backoff=0.01, retries=3, retry_budget=3.0) as client:
        start = time.monotonic()
        with pytest.raises(RegistryError, match="404 MANIFEST_UNKNOWN"):  # retried after 1s, then the real answer
            get_manifest(client, "x/y", "a")
        assert time.monotonic() - start >= 0.95
        start = time.monotonic()
        with pytest.raises(RegistryError, match=r"429 TOOMANYREQUESTS \(rate limited after 1 attempt; try again later\)"):
            get_manifest(client, "x/y", "b")  # waiting 30s would exceed the 3s budget: give up at once
        assert time.monotonic() - start < 2.0


def test_connection_refused_is_bounded_and_clear():
    port = free_port()
    start = time.monotonic()
    with RegistryClient(f"127.0.0.1:{port}", retries=2, backoff=0.05) as client, pytest.raises(RegistryError) as info:
        client.ping()
    assert time.monotonic() - start < 10
    # Loopback: https is tried once, then plain http with bounded retries.
    assert str(info.value) == (
        f"registry 127.0.0.1:{port}: GET /v2/: cannot connect after 3 attempts (ConnectionError); "
        "check that the registry is running and reachable"
    )


def test_tls_certificate_must_be_trusted_unless_insecure(registry_tls, tmp_path, unique_repo):
    peer = registry_tls
    env = peer.docker_config_env(str(tmp_path / "dc"))
    with RegistryClient(peer.host, keychain=Keychain(env)) as client, pytest.raises(RegistryError) as info:
        get_manifest(client, unique_repo, "latest")
    assert str(info.value) == (
        f"registry {peer.host}: GET /v2/: the TLS certificate is not trusted; pass the CA bundle that signed it, "
        "or list the host as an insecure registry"
    )
    layout = write_test_layout(str(tmp_path / "l"), single=True)
    with RegistryClient(peer.host, keychain=Keychain(env), insecure_registries=[peer.host]) as client:
        result = push_layout(layout.path, f"{peer.host}/{unique_repo}", ["latest"], client=client)
    assert result.digest == layout.root_digest


def test_plain_http_is_never_tried_for_a_tls_registry_that_is_trusted(registry_tls, tmp_path, unique_repo):
    peer = registry_tls
    mark = peer.mark()
    with RegistryClient(peer.host, keychain=Keychain(peer.docker_config_env(str(tmp_path / "dc"))), ca_bundle=peer.ca_bundle) as client:
        with pytest.raises(RegistryError, match="404 MANIFEST_UNKNOWN|404 NAME_UNKNOWN"):
            get_manifest(client, unique_repo, "latest")
        assert client.base_url == f"https://{peer.host}"
    assert all(e.status != 400 for e in peer.requests_since(mark))  # no plain-HTTP request reached the TLS port
