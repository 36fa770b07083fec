"""Challenge parsing, scope merging and loopback detection (pure functions)."""

from __future__ import annotations

import pytest

from pants_backend_ko.oci.remote.auth import (
    Challenge,
    is_loopback_host,
    merge_scopes,
    parse_www_authenticate,
    scopes_cover,
)


def test_parse_bearer_challenge_with_space_separated_scopes():
    header = 'Bearer realm="http://127.0.0.1:5990/token",service="test-registry",scope="repository:demo/hello-copy:pull,push repository:demo/hello:pull"'
    assert parse_www_authenticate(header) == Challenge(
        "bearer",
        "http://127.0.0.1:5990/token",
        "test-registry",
        ("repository:demo/hello-copy:pull,push", "repository:demo/hello:pull"),
    )


def test_parse_basic_and_unknown_challenges():
    assert parse_www_authenticate('Basic realm="basic-realm"') == Challenge("basic", "basic-realm")
    bearer = parse_www_authenticate('BEARER realm="r"')
    assert bearer is not None and bearer.scheme == "bearer"
    assert parse_www_authenticate("Negotiate abc") is None
    assert parse_www_authenticate("") is None
    assert parse_www_authenticate(None) is None
    err = parse_www_authenticate('Bearer realm="r",service="s",error="insufficient_scope"')
    assert err is not None and err.error == "insufficient_scope"


def test_merge_scopes_unions_actions_and_sorts():
    assert merge_scopes(
        ["repository:b:pull", "repository:a:push", "repository:a:pull", "repository:127.0.0.1:5000/x:pull", ""]
    ) == ("repository:127.0.0.1:5000/x:pull", "repository:a:pull,push", "repository:b:pull")
    assert merge_scopes(["registry:catalog:*"]) == ("registry:catalog:*",)


def test_scopes_cover():
    have = merge_scopes(["repository:a:pull,push", "repository:b:pull"])
    assert scopes_cover(have, ["repository:a:push"])
    assert scopes_cover(have, ["repository:b:pull", "repository:a:pull"])
    assert not scopes_cover(have, ["repository:b:push"])
    assert not scopes_cover(have, ["repository:c:pull"])


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("localhost", True),
        ("localhost:5000", True),
        ("foo.localhost:1234", True),
        ("127.0.0.1", True),
        ("127.0.0.1:5000", True),
        ("127.1.2.3:80", True),
        ("[::1]:5000", True),
        ("::1", True),
        ("127.0.0.1.evil.com", False),
        ("my127.0.0.1registry.io", False),
        ("10.0.0.1:5000", False),
        ("ghcr.io", False),
        ("[2001:db8::1]:5000", False),
    ],
)
def test_is_loopback_host(host, loopback):
    assert is_loopback_host(host) is loopback
