"""`BaseImage`: one single-platform base image, the input of `image.build_image`.

What ko keeps of a base (ko's `buildOne`, `pkg/build/gobuild.go`): its manifest's layers and
annotations, its config, its media type family (which types the new layers), and its name
and digest for the `org.opencontainers.image.base.*` annotations. No Pants imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pants_backend_ko.golang.frozendict import FrozenDict
from pants_backend_ko.oci.configfile import ConfigFile
from pants_backend_ko.oci.digest import check_digest, digest_of
from pants_backend_ko.oci.manifest import Descriptor, ImageManifest
from pants_backend_ko.oci.mediatypes import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    IMAGE_MANIFEST_TYPES,
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
)
from pants_backend_ko.oci.platform import Platform

__all__ = ["BaseImage"]


@dataclass(frozen=True)
class BaseImage:
    """One single-platform base image, as `build_image` needs it.

    `config` None means scratch: the config is made from `platform`. `layers` are the base
    manifest's layer descriptors (their blobs are referenced, never held). `name`/`digest`
    become the `org.opencontainers.image.base.*` annotations (ko's `Build`) when `name` is set.
    `manifest_annotations`, `config_media_type` and `manifest_artifact_type` carry what ggcr
    keeps from the base manifest; `omit_media_type_field` mirrors a base manifest JSON that
    had no `mediaType` key (ggcr then writes none either).
    """

    media_type: str
    config: bytes | None
    layers: tuple[Descriptor, ...] = ()
    name: str | None = None
    digest: str | None = None
    platform: Platform | None = None
    config_media_type: str | None = None
    manifest_annotations: FrozenDict = field(default_factory=FrozenDict)
    manifest_artifact_type: str | None = None
    config_data_inline: bool = False
    omit_media_type_field: bool = False

    def __post_init__(self) -> None:
        if self.media_type not in IMAGE_MANIFEST_TYPES:
            raise ValueError(
                f"base image media type {self.media_type!r} is not an image manifest "
                f"({' or '.join(IMAGE_MANIFEST_TYPES)})"
            )
        object.__setattr__(self, "layers", tuple(self.layers))
        if not isinstance(self.manifest_annotations, FrozenDict):
            object.__setattr__(self, "manifest_annotations", FrozenDict(self.manifest_annotations or {}))
        if self.config is None and self.platform is None:
            raise ValueError("a scratch base image (config=None) needs a platform")
        if self.digest is not None:
            check_digest(self.digest, "base image digest")

    @classmethod
    def scratch(cls, platform: Platform) -> BaseImage:
        """An empty base with OCI media types; no name, so no base annotations."""
        return cls(media_type=OCI_MANIFEST, config=None, layers=(), platform=platform)

    @classmethod
    def from_manifest(
        cls,
        manifest: bytes,
        config: bytes,
        *,
        name: str | None = None,
        digest: str | None = None,
        media_type: str | None = None,
    ) -> BaseImage:
        """A base from its manifest and config bytes (as pulled), checked against each other.

        `digest` defaults to the manifest's own digest (ko annotates the child manifest digest,
        as ko's `Build` does). `media_type` is needed only when the manifest JSON has no `mediaType`.
        """
        parsed = ImageManifest.parse(manifest, "base image manifest")
        effective = parsed.media_type or media_type
        if not effective:
            raise ValueError(
                "base image manifest has no mediaType; pass media_type= (the Content-Type it was served with)"
            )
        if parsed.media_type and media_type and parsed.media_type != media_type:
            raise ValueError(
                f"base image manifest says mediaType {parsed.media_type!r} but was served as {media_type!r}"
            )
        config_digest = digest_of(config)
        if parsed.config.digest != config_digest:
            raise ValueError(
                f"base image config digest {config_digest} does not match the manifest's {parsed.config.digest}"
            )
        return cls(
            media_type=effective,
            config=bytes(config),
            layers=tuple(parsed.layers or ()),
            name=name,
            digest=digest or digest_of(manifest),
            config_media_type=parsed.config.media_type or None,
            manifest_annotations=FrozenDict(parsed.annotations or {}),
            manifest_artifact_type=parsed.artifact_type or None,
            config_data_inline=parsed.config.data is not None,
            omit_media_type_field=not parsed.media_type,
        )

    def config_file(self) -> ConfigFile:
        if self.config is None:
            assert self.platform is not None
            return ConfigFile.for_platform(self.platform)
        return ConfigFile.parse(self.config, "base image config")

    @property
    def is_docker(self) -> bool:
        return self.media_type == DOCKER_MANIFEST

    @property
    def layer_media_type(self) -> str:
        """ko types new layers after the base manifest's family (ko's `buildOne`)."""
        return DOCKER_LAYER_GZIP if self.is_docker else OCI_LAYER_GZIP

    @property
    def effective_config_media_type(self) -> str:
        if self.config_media_type:
            return self.config_media_type
        return DOCKER_CONFIG if self.is_docker else OCI_CONFIG
