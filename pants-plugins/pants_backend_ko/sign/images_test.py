"""cosign's attachment images, built without a registry (tests/test_signing.py compares them
byte for byte with the ones the real cosign pushes)."""

from __future__ import annotations

import json

from pants_backend_ko.oci.configfile import ConfigFile
from pants_backend_ko.oci.manifest import ImageManifest
from pants_backend_ko.oci.remote.attach import cosign_sbom_image
from pants_backend_ko.sign.images import TagImage, append_layer


def test_the_first_layer_is_ggcrs_empty_image_plus_one_layer() -> None:
    # ko's SBOM attachment (checked against the real ko) is the same construction.
    assert append_layer(None, b"sbom", "text/spdx+json", {}) == cosign_sbom_image(b"sbom")


def test_layers_accumulate_with_their_annotations() -> None:
    config, manifest = append_layer(None, b"one", "application/x.one", {"z": "1", "a": "2"})
    first = TagImage(manifest, ImageManifest.parse(manifest), ConfigFile.parse(config))
    config2, manifest2 = append_layer(first, b"two", "application/x.two", {"k": ""})
    doc, cfg = json.loads(manifest2), json.loads(config2)
    assert [layer["mediaType"] for layer in doc["layers"]] == ["application/x.one", "application/x.two"]
    assert doc["layers"][0]["annotations"] == {"a": "2", "z": "1"} and doc["layers"][1]["annotations"] == {"k": ""}
    assert manifest2.index(b'"a":"2"') < manifest2.index(b'"z":"1"')  # Go's map order
    assert cfg["rootfs"]["diff_ids"] == [layer["digest"] for layer in doc["layers"]]
    assert cfg["history"] == [{"created": "0001-01-01T00:00:00Z"}] * 2
    assert doc["config"]["size"] == len(config2)
