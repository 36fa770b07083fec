"""ggcr's Descriptor, Manifest and IndexManifest: re-encoding compared with go-containerregistry v0.21.9."""

from __future__ import annotations

import json

import pytest
from tests.peers.go_reference import b64, ggcr, unb64

from pants_backend_ko.golang import gojson
from pants_backend_ko.golang.frozendict import FrozenDict
from pants_backend_ko.oci.manifest import Descriptor, ImageIndex, ImageManifest
from pants_backend_ko.oci.mediatypes import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
)
from pants_backend_ko.oci.platform import Platform

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64

MANIFESTS = [
    json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "size": 100, "digest": D1, "data": "e30=", "unknown": 1},
            "layers": [
                {
                    "mediaType": OCI_LAYER_GZIP,
                    "size": 5,
                    "digest": D2,
                    "urls": ["https://example.com/x"],
                    "annotations": {"z": "1", "a": "<2>"},
                    "platform": {"os": "linux", "architecture": "amd64", "variant": "v2", "os.features": ["x"]},
                    "artifactType": "application/x",
                }
            ],
            "annotations": {"org.opencontainers.image.created": "now", "b": "&"},
            "subject": {"mediaType": OCI_MANIFEST, "size": 1, "digest": D1},
            "artifactType": "application/vnd.example",
            "extra": {"dropped": True},
        }
    ),
    json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "size": 1469, "digest": D1},
            "layers": [{"mediaType": DOCKER_LAYER_GZIP, "size": 2807, "digest": D2}],
        }
    ),
    '{"schemaVersion":2,"config":{"mediaType":"' + OCI_CONFIG + '","size":2,"digest":"' + D1 + '"},"layers":[]}',
]


def test_manifest_reencoding_matches_ggcr() -> None:
    reference = ggcr({"manifests": [b64(m.encode()) for m in MANIFESTS]})["manifests"]
    for text, ref in zip(MANIFESTS, reference):
        assert not ref.get("error"), (text, ref)
        assert ImageManifest.parse(text.encode()).to_bytes() == unb64(ref["ok"]), text


def test_descriptor_shape_and_validation() -> None:
    desc = Descriptor(
        media_type=OCI_MANIFEST,
        size=3,
        digest=D1,
        annotations={"b": "2", "a": "1"},  # type: ignore[arg-type]  # a plain dict on purpose: frozen on the way in
        platform=Platform.parse("linux/arm64/v8"),
        artifact_type=OCI_CONFIG,
    )
    assert gojson.dumps(desc.to_json()) == (
        b'{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":3,"digest":"' + D1.encode() + b'",'
        b'"annotations":{"a":"1","b":"2"},"platform":{"architecture":"arm64","os":"linux","variant":"v8"},'
        b'"artifactType":"application/vnd.oci.image.config.v1+json"}'
    )
    assert hash(desc) == hash(
        Descriptor(
            media_type=OCI_MANIFEST,
            size=3,
            digest=D1,
            annotations=FrozenDict(b="2", a="1"),
            platform=Platform("linux", "arm64", "v8"),
            artifact_type=OCI_CONFIG,
        )
    )
    with pytest.raises(ValueError, match="size: -1 is negative"):
        ImageManifest.parse(b'{"schemaVersion":2,"config":{"mediaType":"x","size":-1,"digest":"' + D1.encode() + b'"}}')
    with pytest.raises(ValueError, match="not an image manifest"):
        ImageManifest.parse(b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"}')
    with pytest.raises(ValueError, match="schemaVersion is 1"):
        ImageIndex.parse(b'{"schemaVersion":1,"manifests":[]}')
