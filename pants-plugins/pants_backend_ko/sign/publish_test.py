"""The typed messages that cross into the publish process (the registry work is in tests/test_signing.py)."""

from __future__ import annotations

import pytest

from pants_backend_ko.codec import MessageError, decode, encode
from pants_backend_ko.sign.options import SigningOptions
from pants_backend_ko.sign.provenance import BinaryInput, ProvenanceInputs
from pants_backend_ko.sign.publish import SignRequest

DIGEST = "sha256:" + "ab" * 32


def test_round_trips() -> None:
    options = SigningOptions(key="env://COSIGN_KEY", public_key="PEM", sign_sboms=False, annotations=(("team", "a"),))
    assert decode(SigningOptions, encode(options), "plan") == options
    provenance = ProvenanceInputs("src:app", "go1.26.8", (BinaryInput("example.com/app", "linux/amd64"),))
    assert decode(ProvenanceInputs, encode(provenance), "plan") == provenance


def test_errors_name_the_field() -> None:
    with pytest.raises(MessageError, match="^plan: key must be a string, got None$"):
        decode(SigningOptions, b'{"key": null}', "plan")
    with pytest.raises(MessageError, match="^plan: provenance must be true or false, got 'yes'$"):
        decode(SigningOptions, b'{"key": "k", "provenance": "yes"}', "plan")
    with pytest.raises(MessageError, match=r"^plan: annotations must be a list"):
        decode(SigningOptions, b'{"key": "k", "annotations": {"a": "b"}}', "plan")
    with pytest.raises(ValueError, match="sign request for r/a: 'latest' is not a sha256 digest"):
        SignRequest("r/a", "latest")
