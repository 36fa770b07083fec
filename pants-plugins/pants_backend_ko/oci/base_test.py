"""BaseImage: a base from its manifest and config, checked against each other."""

from __future__ import annotations

import pytest

from pants_backend_ko.golang import gojson
from pants_backend_ko.oci.base import BaseImage
from pants_backend_ko.oci.configfile_test import CONFIGS, D2
from pants_backend_ko.oci.digest import digest_of
from pants_backend_ko.oci.manifest import Descriptor
from pants_backend_ko.oci.mediatypes import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
)
from pants_backend_ko.oci.platform import Platform


def test_base_image_from_manifest() -> None:
    config = CONFIGS[0].encode()
    manifest = gojson.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "size": len(config), "digest": digest_of(config)},
            "layers": [{"mediaType": DOCKER_LAYER_GZIP, "size": 5, "digest": D2}],
            "annotations": {"k": "v"},
        }
    )
    base = BaseImage.from_manifest(manifest, config, name="cgr.dev/chainguard/static:latest")
    assert base.digest == digest_of(manifest)
    assert base.layer_media_type == DOCKER_LAYER_GZIP
    assert base.effective_config_media_type == DOCKER_CONFIG
    assert base.layers == (Descriptor(media_type=DOCKER_LAYER_GZIP, size=5, digest=D2),)
    assert base.manifest_annotations == {"k": "v"}
    assert base.config_file().config.user == "65532"
    with pytest.raises(ValueError, match="does not match the manifest's"):
        BaseImage.from_manifest(manifest, config + b" ")
    with pytest.raises(ValueError, match="was served as"):
        BaseImage.from_manifest(manifest, config, media_type=OCI_MANIFEST)
    bare = manifest.replace(b'"mediaType":"' + DOCKER_MANIFEST.encode() + b'",', b"")
    with pytest.raises(ValueError, match="pass media_type="):
        BaseImage.from_manifest(bare, config)
    assert BaseImage.from_manifest(bare, config, media_type=DOCKER_MANIFEST).omit_media_type_field
    with pytest.raises(ValueError, match="needs a platform"):
        BaseImage(media_type=OCI_MANIFEST, config=None)
    with pytest.raises(ValueError, match="not an image manifest"):
        BaseImage(media_type="application/json", config=b"{}")
    scratch = BaseImage.scratch(Platform.parse("linux/amd64"))
    assert hash(scratch) == hash(BaseImage.scratch(Platform("linux", "amd64")))
    assert scratch.layer_media_type == OCI_LAYER_GZIP
