"""The signed bytes, by Go's rules (tests/test_signing.py compares them with the real cosign's)."""

from __future__ import annotations

import base64
import json

import pytest

from pants_backend_ko.sign.payloads import (
    INTOTO_PAYLOAD_TYPE,
    dsse_envelope,
    intoto_statement,
    pae,
    parse_dsse_envelope,
    simple_signing_payload,
)

DIGEST = "sha256:" + "ab" * 32


def test_simple_signing_payload() -> None:
    assert simple_signing_payload("ghcr.io/acme/app", DIGEST) == (
        b'{"critical":{"identity":{"docker-reference":"ghcr.io/acme/app"},"image":{"docker-manifest-digest":"'
        + DIGEST.encode()
        + b'"},"type":"cosign container image signature"},"optional":null}'
    )
    # Annotations: Go's map order and HTML escaping.
    annotated = simple_signing_payload("r/a", DIGEST, {"z": "<&>", "a": "é"})
    assert annotated.endswith('"optional":{"a":"é","z":"\\u003c\\u0026\\u003e"}}'.encode())
    with pytest.raises(ValueError, match="signed digest"):
        simple_signing_payload("r/a", "sha256:abc")


def test_pae_is_dsse_protocols_example() -> None:
    # secure-systems-lab/dsse protocol.md's test vector.
    assert (
        pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    assert pae("t", "é".encode()) == "DSSEv1 1 t 2 é".encode()  # lengths in bytes


def test_dsse_envelope_round_trip() -> None:
    envelope = dsse_envelope(INTOTO_PAYLOAD_TYPE, b'{"a":1}', b"\x01\x02")
    assert envelope == (
        b'{"payloadType":"application/vnd.in-toto+json","payload":"eyJhIjoxfQ==","signatures":[{"keyid":"","sig":"AQI="}]}'
    )
    parsed = parse_dsse_envelope(envelope)
    assert parsed is not None and (parsed.payload_type, parsed.payload, parsed.signatures) == (
        INTOTO_PAYLOAD_TYPE,
        b'{"a":1}',
        (b"\x01\x02",),
    )
    url_safe = json.dumps(
        {"payloadType": "x", "payload": base64.urlsafe_b64encode(b"\xfb\xff").decode(), "signatures": []}
    )
    assert parse_dsse_envelope(url_safe.encode()).payload == b"\xfb\xff"  # type: ignore[union-attr]
    for garbage in (b"", b"[]", b'{"payloadType": 1}', b'{"payloadType": "x", "payload": "%%"}'):
        assert parse_dsse_envelope(garbage) is None


def test_intoto_statement() -> None:
    statement = intoto_statement([("r/a", DIGEST)], "https://slsa.dev/provenance/v1", {"b": 1})
    assert statement == (
        b'{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://slsa.dev/provenance/v1",'
        b'"subject":[{"name":"r/a","digest":{"sha256":"' + b"ab" * 32 + b'"}}],"predicate":{"b":1}}'
    )
    with pytest.raises(ValueError, match="at least one subject"):
        intoto_statement([], "p", {})
