"""cosign's attachment image: the small image under a ``.sig`` or ``.att`` tag, one layer per entry.

cosign starts from go-containerregistry's empty image with OCI media types (cosign
``pkg/oci/empty/empty.go``: ``Signatures``) and appends each signature or attestation with
``mutate.Append`` (``pkg/oci/mutate/signatures.go``: ``AppendSignatures``): the config gains one
diff ID (the layer is stored uncompressed, so it is the layer digest) and one empty history
entry; the manifest gains the layer's descriptor with its annotations. The config is decoded
and re-encoded through ggcr's ``v1.ConfigFile`` on the way, as here through ``oci.configfile``.
No Pants imports.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from pants_backend_ko.golang.frozendict import FrozenDict
from pants_backend_ko.oci.configfile import ConfigFile, History, RootFS
from pants_backend_ko.oci.digest import digest_of
from pants_backend_ko.oci.manifest import Descriptor, ImageManifest
from pants_backend_ko.oci.mediatypes import OCI_CONFIG, OCI_MANIFEST
from pants_backend_ko.oci.remote.artifacts import ArtifactStore

__all__ = ["TagImage", "append_layer", "read_tag_image", "push_layer"]


@dataclass(frozen=True)
class TagImage:
    """The attachment image at a tag: its manifest (bytes and parsed) and, once needed, its config."""

    data: bytes
    manifest: ImageManifest
    config: ConfigFile | None

    @property
    def digest(self) -> str:
        return digest_of(self.data)

    @property
    def media_type(self) -> str:
        return self.manifest.media_type or OCI_MANIFEST


def append_layer(
    base: TagImage | None, layer: bytes, media_type: str, annotations: Mapping[str, str]
) -> tuple[bytes, bytes]:
    """(config, manifest) bytes of ``base`` (None: the empty image) plus one layer."""
    if base is None:
        manifest = ImageManifest(schema_version=2, media_type=OCI_MANIFEST, config=Descriptor(media_type=OCI_CONFIG))
        config = ConfigFile(rootfs=RootFS(type="layers"))
    else:
        assert base.config is not None, "read the tag image with its config to append to it"
        manifest, config = base.manifest, base.config
    digest = digest_of(layer)
    config_bytes = dataclasses.replace(
        config,
        rootfs=dataclasses.replace(config.rootfs, diff_ids=(*(config.rootfs.diff_ids or ()), digest)),
        history=(*(config.history or ()), History()),
    ).to_bytes()
    descriptor = Descriptor(media_type=media_type, size=len(layer), digest=digest, annotations=FrozenDict(annotations))
    manifest_bytes = dataclasses.replace(
        manifest,
        config=dataclasses.replace(manifest.config, size=len(config_bytes), digest=digest_of(config_bytes)),
        layers=(*(manifest.layers or ()), descriptor),
    ).to_bytes()
    return config_bytes, manifest_bytes


def read_tag_image(store: ArtifactStore, tag: str) -> TagImage | None:
    """The attachment image at ``tag`` (its config is read only to append to it), or None."""
    fetched = store.manifest(tag)
    if fetched is None:
        return None
    manifest = ImageManifest.parse(fetched.data, f"{store.repo}:{tag}")
    return TagImage(fetched.data, manifest, None)


def _with_config(store: ArtifactStore, tag: str, image: TagImage) -> TagImage:
    if image.config is not None:
        return image
    raw = store.blob(image.manifest.config.digest, image.manifest.config.size)
    return dataclasses.replace(image, config=ConfigFile.parse(raw, f"{store.repo}:{tag} config"))


def push_layer(
    store: ArtifactStore,
    tag: str,
    existing: TagImage | None,
    layer: bytes,
    media_type: str,
    annotations: Mapping[str, str],
) -> TagImage:
    """Append ``layer`` to the image at ``tag`` (or start one), push blobs then the manifest; the new image."""
    base = _with_config(store, tag, existing) if existing is not None else None
    config, manifest = append_layer(base, layer, media_type, annotations)
    parsed = ImageManifest.parse(manifest, f"{store.repo}:{tag}")
    store.ensure_blob(layer, media_type)
    store.ensure_blob(config, parsed.config.media_type)
    image = TagImage(manifest, parsed, ConfigFile.parse(config, f"{store.repo}:{tag} config"))
    store.put_manifest(manifest, image.media_type, tag)
    return image
