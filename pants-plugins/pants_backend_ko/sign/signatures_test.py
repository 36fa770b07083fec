"""Signature images and the duplicate check, without a registry (tests/test_signing.py has the
real cosign verify them)."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from pants_backend_ko.oci.manifest import Descriptor, ImageManifest
from pants_backend_ko.sign.images import append_layer
from pants_backend_ko.sign.keys import SigningKey, VerifyingKey
from pants_backend_ko.sign.payloads import SIMPLE_SIGNING_MEDIA_TYPE, simple_signing_payload
from pants_backend_ko.sign.signatures import (
    SIGNATURE_ANNOTATION,
    SIGNATURE_ARTIFACT_TYPE,
    find_signature,
    signature_referrer,
    signature_tag,
)

DIGEST = "sha256:" + "ab" * 32


def _key() -> SigningKey:
    private = ec.generate_private_key(ec.SECP256R1())
    return SigningKey("test", private, VerifyingKey.from_public_key(private.public_key()))


def _signed(key: SigningKey, payload: bytes, media_type: str = SIMPLE_SIGNING_MEDIA_TYPE) -> ImageManifest:
    signature = base64.b64encode(key.sign(payload)).decode()
    return ImageManifest.parse(append_layer(None, payload, media_type, {SIGNATURE_ANNOTATION: signature})[1])


def test_signature_tag() -> None:
    assert signature_tag(DIGEST) == "sha256-" + "ab" * 32 + ".sig"
    with pytest.raises(ValueError, match="signed digest"):
        signature_tag("latest")


def test_find_signature_needs_our_key_and_our_payload() -> None:
    key, other = _key(), _key()
    payload = simple_signing_payload("r/a", DIGEST)
    manifest = _signed(key, payload)
    assert find_signature(manifest, payload, key.verifying_key) == manifest.layers[0]  # type: ignore[index]
    assert find_signature(manifest, payload, other.verifying_key) is None  # another key: sign again
    assert find_signature(manifest, simple_signing_payload("r/b", DIGEST), key.verifying_key) is None
    assert find_signature(_signed(key, payload, "text/plain"), payload, key.verifying_key) is None
    assert find_signature(None, payload, key.verifying_key) is None


def test_signature_referrer() -> None:
    _, manifest = append_layer(None, b"payload", SIMPLE_SIGNING_MEDIA_TYPE, {SIGNATURE_ANNOTATION: "c2ln"})
    subject = Descriptor(media_type="application/vnd.oci.image.index.v1+json", size=123, digest=DIGEST)
    doc = json.loads(signature_referrer(manifest, subject))
    assert doc["config"]["mediaType"] == SIGNATURE_ARTIFACT_TYPE  # cosign's artifact type, on the config
    assert doc["subject"] == {"mediaType": "application/vnd.oci.image.index.v1+json", "size": 123, "digest": DIGEST}
    assert doc["layers"] == json.loads(manifest)["layers"] and "artifactType" not in doc
