"""go-containerregistry's `v1.Descriptor`, `v1.Manifest` and `v1.IndexManifest` (`pkg/v1/manifest.go`).

Frozen dataclasses in Go field order, read and written with `golang.gostruct` the way ggcr's
`json.Unmarshal`/`json.Marshal` do: a manifest or index parsed here and written back gives
ggcr's bytes. Descriptors are checked as ggcr checks them (a sha256 digest, a size that is
not negative); `parse` also checks `schemaVersion` 2 and the media type. No Pants imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from pants_backend_ko.golang.frozendict import FrozenDict
from pants_backend_ko.golang.gostruct import (
    Bytes,
    Field,
    GoStruct,
    Int,
    Kind,
    Slice,
    String,
    StringMap,
    Strings,
    Struct,
    StructPointer,
    decode_struct,
    is_object,
    match_field,
    type_error,
)
from pants_backend_ko.oci.digest import check_digest
from pants_backend_ko.oci.mediatypes import IMAGE_MANIFEST_TYPES, INDEX_TYPES
from pants_backend_ko.oci.platform import Platform

__all__ = ["Descriptor", "ImageManifest", "ImageIndex"]


class _PlatformPointer(Kind):
    """*v1.Platform, read into our `Platform` (empty strings become None)."""

    _FIELDS = {
        "architecture": ("architecture", String()),
        "os": ("os", String()),
        "os.version": ("os_version", String()),
        "os.features": ("os_features", Strings()),
        "variant": ("variant", String()),
        "features": ("features", Strings()),
    }

    def decode(self, value, current, where):
        if value is None:
            return None
        if not is_object(value):
            raise type_error(where, "an object", value)
        attrs: dict[str, Any] = {
            "architecture": "",
            "os": "",
            "os_version": "",
            "os_features": None,
            "variant": "",
            "features": None,
        }
        if current is not None:
            attrs.update(
                architecture=current.architecture,
                os=current.os,
                os_version=current.os_version or "",
                os_features=current.os_features,
                variant=current.variant or "",
                features=current.features,
            )
        for key, item in value:
            name = match_field(key, self._FIELDS)
            if name is None:
                continue
            attr, kind = self._FIELDS[name]
            attrs[attr] = kind.decode(item, attrs[attr], f"{where}.{name}")
        return Platform(
            os=attrs["os"],
            architecture=attrs["architecture"],
            variant=attrs["variant"] or None,
            os_version=attrs["os_version"] or None,
            os_features=tuple(attrs["os_features"] or ()),
            features=tuple(attrs["features"] or ()),
        )

    def encode(self, value):
        return None if value is None else value.to_json()

    def empty(self, value):
        return value is None


@dataclass(frozen=True)
class Descriptor(GoStruct):
    """ggcr `v1.Descriptor`: mediaType, size, digest, data, urls, annotations, platform, artifactType."""

    media_type: str = ""
    size: int = 0
    digest: str = ""
    data: bytes | None = None
    urls: tuple[str, ...] = ()
    annotations: FrozenDict = field(default_factory=FrozenDict)
    platform: Platform | None = None
    artifact_type: str | None = None

    _GO_FIELDS: ClassVar[tuple[Field, ...]] = (
        Field("mediaType", "media_type", String(), omitempty=False),
        Field("size", "size", Int(), omitempty=False),
        Field("digest", "digest", String(), omitempty=False),
        Field("data", "data", Bytes()),
        Field("urls", "urls", Strings()),
        Field("annotations", "annotations", StringMap()),
        Field("platform", "platform", _PlatformPointer()),
        Field("artifactType", "artifact_type", String()),
    )

    def __post_init__(self) -> None:
        # Normalise Go's nil/empty distinctions that omitempty hides anyway, keep it hashable.
        object.__setattr__(self, "urls", tuple(self.urls or ()))
        annotations = self.annotations
        if not isinstance(annotations, FrozenDict):
            object.__setattr__(self, "annotations", FrozenDict(annotations or {}))
        if self.artifact_type == "":
            object.__setattr__(self, "artifact_type", None)

    @classmethod
    def from_json_value(cls, value: Any, where: str) -> Descriptor:
        desc = decode_struct(cls, value, None, where)
        check_digest(desc.digest, f"{where}.digest")
        if desc.size < 0:
            raise ValueError(f"{where}.size: {desc.size} is negative")
        return desc


# []v1.Descriptor, each element checked like a descriptor read on its own.
_DESCRIPTORS = Slice(Descriptor.from_json_value, "an array of descriptors", lambda item: item.to_json())


class _DescriptorValue(Struct):
    def decode(self, value, current, where):
        if value is None:
            return current
        return Descriptor.from_json_value(value, where)


class _DescriptorPointer(StructPointer):
    def decode(self, value, current, where):
        if value is None:
            return None
        return Descriptor.from_json_value(value, where)


# ggcr's Manifest and IndexManifest share these fields, before and after their own ones.
_SCHEMA2_HEAD = (
    Field("schemaVersion", "schema_version", Int(), omitempty=False),
    Field("mediaType", "media_type", String()),
)
_SCHEMA2_TAIL = (
    Field("annotations", "annotations", StringMap()),
    Field("subject", "subject", _DescriptorPointer(Descriptor)),
    Field("artifactType", "artifact_type", String()),
)


def _parse_schema2(cls: type[GoStruct], data: bytes, what: str, media_types: tuple[str, ...], kind: str) -> Any:
    """Decode a schema-2 manifest or index as ggcr does, then check `schemaVersion` and `mediaType`.

    Shared by `ImageManifest` and `ImageIndex`, which differ only in the media types they allow.
    """
    parsed = cls.parse_object(data, what)
    if parsed.schema_version != 2:
        raise ValueError(f"{what}: schemaVersion is {parsed.schema_version}, only 2 is supported")
    if parsed.media_type and parsed.media_type not in media_types:
        raise ValueError(f"{what}: mediaType {parsed.media_type!r} is not {kind} ({' or '.join(media_types)})")
    return parsed


@dataclass(frozen=True)
class ImageManifest(GoStruct):
    """ggcr `v1.Manifest` (OCI image manifest or Docker schema 2)."""

    schema_version: int = 0
    media_type: str = ""
    config: Descriptor = field(default_factory=Descriptor)
    layers: tuple[Descriptor, ...] | None = None
    annotations: FrozenDict | None = None
    subject: Descriptor | None = None
    artifact_type: str = ""

    _GO_FIELDS: ClassVar[tuple[Field, ...]] = (
        *_SCHEMA2_HEAD,
        Field("config", "config", _DescriptorValue(Descriptor), omitempty=False),
        Field("layers", "layers", _DESCRIPTORS, omitempty=False),
        *_SCHEMA2_TAIL,
    )

    @classmethod
    def parse(cls, data: bytes, what: str = "image manifest") -> ImageManifest:
        return _parse_schema2(cls, data, what, IMAGE_MANIFEST_TYPES, "an image manifest")


@dataclass(frozen=True)
class ImageIndex(GoStruct):
    """ggcr `v1.IndexManifest` (OCI image index or Docker manifest list)."""

    schema_version: int = 0
    media_type: str = ""
    manifests: tuple[Descriptor, ...] | None = None
    annotations: FrozenDict | None = None
    subject: Descriptor | None = None
    artifact_type: str = ""

    _GO_FIELDS: ClassVar[tuple[Field, ...]] = (
        *_SCHEMA2_HEAD,
        Field("manifests", "manifests", _DESCRIPTORS, omitempty=False),
        *_SCHEMA2_TAIL,
    )

    @classmethod
    def parse(cls, data: bytes, what: str = "image index") -> ImageIndex:
        return _parse_schema2(cls, data, what, INDEX_TYPES, "an image index")
