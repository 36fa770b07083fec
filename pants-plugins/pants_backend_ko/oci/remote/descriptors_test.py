"""The registry client's lenient descriptor reader builds the image core's Descriptor."""

from __future__ import annotations

import json

import pytest

from pants_backend_ko.oci.manifest import Descriptor
from pants_backend_ko.oci.mediatypes import OCI_INDEX, OCI_MANIFEST
from pants_backend_ko.oci.platform import Platform
from pants_backend_ko.oci.remote.descriptors import descriptor_from_json, manifest_media_type

DIGEST = "sha256:" + "ab" * 32


def test_lenient_fields_are_coerced_or_dropped() -> None:
    desc = descriptor_from_json(
        {
            "mediaType": OCI_MANIFEST,
            "size": 12,
            "digest": DIGEST,
            "urls": "not-a-list",
            "annotations": {"b": 2, "a": "x"},
            "platform": {"os": "linux", "architecture": "arm64", "os.features": "oops"},
        },
        "index manifests[0]",
    )
    assert isinstance(desc, Descriptor)
    assert (desc.media_type, desc.size, desc.digest, desc.urls) == (OCI_MANIFEST, 12, DIGEST, ())
    assert list(desc.annotations.items()) == [("a", "x"), ("b", "2")]
    assert desc.platform == Platform("linux", "arm64")
    # The strict reader (our own output) refuses the same platform object.
    with pytest.raises(ValueError, match="'os.features' must be a list of strings"):
        Platform.from_json({"os": "linux", "architecture": "arm64", "os.features": "oops"})


def test_what_we_fetch_by_must_be_right() -> None:
    with pytest.raises(ValueError, match=r"^m\[1\]: descriptor sha256:(ab)+ has no 'mediaType'$"):
        descriptor_from_json({"size": 1, "digest": DIGEST}, "m[1]")
    with pytest.raises(ValueError, match="has no valid 'size'"):
        descriptor_from_json({"mediaType": OCI_MANIFEST, "size": True, "digest": DIGEST}, "m")
    with pytest.raises(ValueError, match=r"m: digest: 'sha256:AB' is not a sha256 digest"):
        descriptor_from_json({"mediaType": OCI_MANIFEST, "size": 1, "digest": "sha256:AB"}, "m")


def test_manifest_media_type_from_body_or_shape() -> None:
    assert manifest_media_type(json.dumps({"schemaVersion": 2, "manifests": []}).encode(), None, "x") == OCI_INDEX
    with pytest.raises(ValueError, match="Docker schema 1 manifests are not supported"):
        manifest_media_type(json.dumps({"schemaVersion": 1}).encode(), None, "x")
