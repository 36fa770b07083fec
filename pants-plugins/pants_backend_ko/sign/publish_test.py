"""The typed messages that cross into the publish process (the registry work is in tests/test_signing.py)."""

from __future__ import annotations

import json

import pytest

from pants_backend_ko.sign.provenance import BinaryInput, ProvenanceInputs
from pants_backend_ko.sign.publish import SigningOptions, SignRequest

DIGEST = "sha256:" + "ab" * 32


def test_round_trips() -> None:
    options = SigningOptions(key="env://COSIGN_KEY", sign_sboms=False, annotations=(("team", "a"),))
    assert SigningOptions.from_json(json.loads(json.dumps(options.to_json()))) == options
    provenance = ProvenanceInputs("src:app", "go1.26.8", (BinaryInput("example.com/app", "linux/amd64"),))
    for request in (SignRequest("ghcr.io/acme/app", DIGEST, provenance), SignRequest("ghcr.io/acme/app", DIGEST)):
        assert SignRequest.from_json(json.loads(json.dumps(request.to_json()))) == request


def test_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="^signing options: expected an object with a 'key' string$"):
        SigningOptions.from_json({"key": None})
    with pytest.raises(ValueError, match="sign_sboms and provenance must be true or false"):
        SigningOptions.from_json({"key": "k", "provenance": "yes"})
    with pytest.raises(ValueError, match=r"annotations: expected a list of \[key, value\] pairs"):
        SigningOptions.from_json({"key": "k", "annotations": {"a": "b"}})
    with pytest.raises(ValueError, match="sign request for r/a: 'latest' is not a sha256 digest"):
        SignRequest.from_json({"repository": "r/a", "digest": "latest"})
