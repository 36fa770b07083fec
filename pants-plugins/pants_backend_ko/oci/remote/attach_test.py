"""The documents attach.py pushes, without a registry (tests/test_sbom.py pushes them for real
and compares the cosign attachment with the one the real ko publishes)."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from pants_backend_ko.oci.remote.attach import (
    EMPTY_CONFIG,
    cosign_sbom_image,
    cosign_sbom_tag,
    referrer_manifest,
    referrers_fallback_tag,
)

DIGEST = "sha256:" + "ab" * 32
SBOM = b'{"spdxVersion": "SPDX-2.3"}\n'


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_tags() -> None:
    assert cosign_sbom_tag(DIGEST) == "sha256-" + "ab" * 32 + ".sbom"
    assert referrers_fallback_tag(DIGEST) == "sha256-" + "ab" * 32
    with pytest.raises(ValueError, match="subject digest: 'sha256:AB' is not a sha256 digest"):
        cosign_sbom_tag("sha256:AB")


def test_cosign_sbom_image() -> None:
    config, manifest = cosign_sbom_image(SBOM)
    doc = json.loads(manifest)
    assert doc["config"] == {
        "mediaType": "application/vnd.oci.image.config.v1+json",
        "size": len(config),
        "digest": _digest(config),
    }
    assert doc["layers"] == [{"mediaType": "text/spdx+json", "size": len(SBOM), "digest": _digest(SBOM)}]
    assert json.loads(config)["rootfs"] == {"type": "layers", "diff_ids": [_digest(SBOM)]}
    # Compact Go JSON in ggcr's field order (byte-compared with real ko in tests/test_sbom.py).
    assert list(json.loads(config)) == ["architecture", "created", "history", "os", "rootfs", "config"]
    assert b" " not in manifest and cosign_sbom_image(SBOM) == (config, manifest)


def test_referrer_manifest() -> None:
    data = referrer_manifest(SBOM, DIGEST, "application/vnd.oci.image.index.v1+json", 321)
    doc = json.loads(data)
    assert doc["artifactType"] == "application/spdx+json"
    assert doc["subject"] == {"mediaType": "application/vnd.oci.image.index.v1+json", "size": 321, "digest": DIGEST}
    assert doc["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
    assert base64.b64decode(doc["config"]["data"]) == EMPTY_CONFIG == b"{}"
    assert doc["config"]["digest"] == _digest(b"{}") and doc["config"]["size"] == 2
    assert doc["layers"] == [{"mediaType": "application/spdx+json", "size": len(SBOM), "digest": _digest(SBOM)}]
