"""Keychain lookups for every config form, file order, Docker Hub keys and real helper scripts."""

from __future__ import annotations

import base64
import copy
import json
import os
import pickle
import stat
from pathlib import Path

import pytest

from pants_backend_ko.oci.remote.credentials import (
    ANONYMOUS,
    BASIC,
    IDENTITY_TOKEN,
    REGISTRY_TOKEN,
    Credential,
    CredentialError,
    Keychain,
    Secret,
    helper_server_url,
    registry_key,
)

REG = "127.0.0.1:5000"


def write_config(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def write_helper(bin_dir: Path, name: str, body: str) -> Path:
    """A real docker-credential-<name> script that records its argv and stdin."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / f"docker-credential-{name}"
    script.write_text("#!/bin/sh\n" f'echo "$@" > "{bin_dir}/{name}.argv"\n' f'cat > "{bin_dir}/{name}.stdin"\n' + body)
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


def test_auth_field_is_basic(tmp_path):
    write_config(tmp_path / "cfg" / "config.json", {"auths": {REG: {"auth": b64("alice:pa:ss")}}})
    cred = Keychain({"DOCKER_CONFIG": str(tmp_path / "cfg")}).resolve(REG)
    assert (cred.kind, cred.username, cred.secret.reveal()) == (BASIC, "alice", "pa:ss")
    assert cred.source == f"{tmp_path / 'cfg' / 'config.json'} (auths['{REG}'])"
    assert cred.describe() == f"basic auth for user 'alice' from {cred.source}"


def test_username_password_identitytoken_registrytoken_and_empty_forms(tmp_path):
    cfg = write_config(
        tmp_path / "config.json",
        {
            "auths": {
                "a.example": {"username": "u1", "password": "p1"},
                "b.example": {"identitytoken": "refresh-123", "username": "<token>"},
                "c.example": {"registrytoken": "bearer-xyz"},
                "d.example": {},
                "e.example": {"auth": b64("user2:pw2"), "email": "x@example.com"},
            }
        },
    )
    kc = Keychain({"REGISTRY_AUTH_FILE": str(cfg)})
    a, b, c, d, e = (kc.resolve(f"{x}.example") for x in "abcde")
    assert (a.kind, a.username, a.secret.reveal()) == (BASIC, "u1", "p1")
    assert (b.kind, b.secret.reveal()) == (IDENTITY_TOKEN, "refresh-123")
    assert (c.kind, c.secret.reveal()) == (REGISTRY_TOKEN, "bearer-xyz")
    assert d.kind == ANONYMOUS and d.searched == (str(cfg),)  # {} with no credsStore: anonymous
    assert (e.kind, e.username) == (BASIC, "user2")


def test_empty_entry_falls_through_to_creds_store(tmp_path):
    bin_dir = tmp_path / "bin"
    write_helper(bin_dir, "store", 'echo \'{"ServerURL":"x","Username":"helperuser","Secret":"helper-pw"}\'\n')
    cfg = write_config(tmp_path / "c" / "config.json", {"auths": {REG: {}}, "credsStore": "store"})
    cred = Keychain({"DOCKER_CONFIG": str(cfg.parent), "PATH": f"{bin_dir}:/usr/bin:/bin"}).resolve(REG)
    assert (cred.kind, cred.username, cred.secret.reveal()) == (BASIC, "helperuser", "helper-pw")
    assert (bin_dir / "store.argv").read_text().strip() == "get"
    assert (bin_dir / "store.stdin").read_text() == f"{REG}\n"
    assert "docker-credential-store (credsStore in" in cred.source


def test_cred_helpers_win_over_auths_and_get_host_on_stdin(tmp_path):
    bin_dir = tmp_path / "bin"
    write_helper(bin_dir, "test", 'echo \'{"ServerURL":"127.0.0.1:5000","Username":"<token>","Secret":"idtok"}\'\n')
    cfg = write_config(
        tmp_path / "home" / ".docker" / "config.json",
        {"credHelpers": {REG: "test"}, "auths": {REG: {"auth": b64("alice:pw")}}},
    )
    cred = Keychain({"HOME": str(tmp_path / "home"), "PATH": f"{bin_dir}:/usr/bin:/bin"}).resolve(REG)
    assert cred.kind == IDENTITY_TOKEN and cred.secret.reveal() == "idtok"
    assert (bin_dir / "test.stdin").read_text() == "127.0.0.1:5000\n"
    assert f"credHelpers in {cfg}" in cred.describe()


def test_helper_not_found_answer_means_anonymous(tmp_path):
    bin_dir = tmp_path / "bin"
    write_helper(bin_dir, "empty", 'echo "credentials not found in native keychain"\nexit 1\n')
    cfg = write_config(tmp_path / "config.json", {"credsStore": "empty"})
    cred = Keychain({"REGISTRY_AUTH_FILE": str(cfg), "PATH": f"{bin_dir}:/usr/bin:/bin"}).resolve("ghcr.io")
    assert cred.kind == ANONYMOUS
    assert any("docker-credential-empty" in s for s in cred.searched)


def test_helper_failure_and_missing_helper_are_clear_errors(tmp_path):
    bin_dir = tmp_path / "bin"
    write_helper(bin_dir, "broken", 'echo "keyring locked" >&2\nexit 3\n')
    cfg = write_config(tmp_path / "config.json", {"credHelpers": {"ghcr.io": "broken", "quay.io": "absent"}})
    kc = Keychain({"REGISTRY_AUTH_FILE": str(cfg), "PATH": f"{bin_dir}:/usr/bin:/bin"})
    with pytest.raises(CredentialError) as info:
        kc.resolve("ghcr.io")
    assert str(info.value) == (
        "credential helper docker-credential-broken failed for ghcr.io (exit 3): keyring locked; "
        "log in again or fix the helper"
    )
    with pytest.raises(
        CredentialError, match=r"docker-credential-absent \(configured by credHelpers in .*\) is not on PATH"
    ):
        kc.resolve("quay.io")


def test_helper_timeout_is_bounded(tmp_path):
    bin_dir = tmp_path / "bin"
    write_helper(bin_dir, "slow", "sleep 30\n")
    cfg = write_config(tmp_path / "config.json", {"credsStore": "slow"})
    kc = Keychain({"REGISTRY_AUTH_FILE": str(cfg), "PATH": f"{bin_dir}:/usr/bin:/bin"}, helper_timeout=0.5)
    with pytest.raises(CredentialError, match=r"did not answer for ghcr.io within 0.5s"):
        kc.resolve("ghcr.io")


def test_docker_hub_keys_and_helper_server_url(tmp_path):
    bin_dir = tmp_path / "bin"
    write_helper(bin_dir, "hub", 'echo \'{"Username":"hubuser","Secret":"hubpw"}\'\n')
    cfg = write_config(
        tmp_path / "config.json",
        {
            "auths": {"https://index.docker.io/v1/": {"auth": b64("dockeruser:dockerpw")}},
            "credHelpers": {"quay.io": "hub"},
        },
    )
    kc = Keychain({"REGISTRY_AUTH_FILE": str(cfg), "PATH": f"{bin_dir}:/usr/bin:/bin"})
    for alias in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        assert kc.resolve(alias).username == "dockeruser"
    assert registry_key("https://ghcr.io/v1/") == "ghcr.io"
    assert registry_key("registry-1.docker.io") == "index.docker.io"
    assert helper_server_url("docker.io") == "https://index.docker.io/v1/"
    assert helper_server_url("ghcr.io") == "ghcr.io"
    # Legacy URL keys for other registries match too.
    cfg2 = write_config(tmp_path / "c2.json", {"auths": {"https://ghcr.io/v1/": {"auth": b64("gh:pw")}}})
    assert Keychain({"REGISTRY_AUTH_FILE": str(cfg2)}).resolve("ghcr.io").username == "gh"


def test_file_order_docker_then_registry_auth_file_then_xdg(tmp_path):
    docker_cfg = write_config(
        tmp_path / "docker" / "config.json", {"auths": {"one.example": {"auth": b64("docker:1")}}}
    )
    auth_file = write_config(
        tmp_path / "auth.json",
        {"auths": {"one.example": {"auth": b64("podman:1")}, "two.example": {"auth": b64("podman:2")}}},
    )
    xdg = tmp_path / "run"
    write_config(xdg / "containers" / "auth.json", {"auths": {"three.example": {"auth": b64("xdg:3")}}})
    kc = Keychain(
        {"DOCKER_CONFIG": str(docker_cfg.parent), "REGISTRY_AUTH_FILE": str(auth_file), "XDG_RUNTIME_DIR": str(xdg)}
    )
    assert kc.config_files() == [str(docker_cfg), str(auth_file), str(xdg / "containers" / "auth.json")]
    assert kc.resolve("one.example").username == "docker"
    assert kc.resolve("two.example").username == "podman"
    assert kc.resolve("three.example").username == "xdg"
    nothing = kc.resolve("four.example")
    assert nothing.kind == ANONYMOUS and len(nothing.searched) == 3
    assert nothing.describe().startswith("none (anonymous; searched ")


def test_environment_is_explicit(tmp_path, monkeypatch):
    cfg = write_config(tmp_path / "config.json", {"auths": {REG: {"auth": b64("alice:pw")}}})
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(cfg))
    assert Keychain({}).resolve(REG).kind == ANONYMOUS  # os.environ is never consulted
    assert Keychain({"DOCKER_CONFIG": str(tmp_path)}).resolve(REG).kind == BASIC


def test_broken_config_files_are_one_line_errors(tmp_path):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    with pytest.raises(CredentialError, match=r"is not valid JSON .*; fix or remove it"):
        Keychain({"REGISTRY_AUTH_FILE": str(bad_json)}).resolve(REG)
    bad_auth = write_config(tmp_path / "bad-auth.json", {"auths": {REG: {"auth": "%%%not-base64"}}})
    with pytest.raises(CredentialError) as info:
        Keychain({"REGISTRY_AUTH_FILE": str(bad_auth)}).resolve(REG)
    assert "'auth' is not base64" in str(info.value) and "%%%" not in str(info.value)


def test_secrets_never_show(tmp_path):
    write_config(tmp_path / "config.json", {"auths": {REG: {"auth": b64("alice:TOPSECRET-1")}}})
    cred = Keychain({"DOCKER_CONFIG": str(tmp_path)}).resolve(REG)
    for text in (repr(cred), str(cred), f"{cred}", f"{cred.secret}", repr(copy.deepcopy(cred)), cred.describe()):
        assert "TOPSECRET" not in text
    assert cred.secret.reveal() == "TOPSECRET-1"
    with pytest.raises(TypeError):
        pickle.dumps(cred)
    with pytest.raises(TypeError):
        json.dumps({"s": cred.secret})
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b")
    assert Credential().describe() == "none (anonymous; no credential files found)"
    assert not os.path.exists(tmp_path / "leak")
