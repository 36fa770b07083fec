"""The image model of go-containerregistry ("ggcr"), read and written the way Go does it.

ko edits images through ggcr's Go structs (`pkg/v1/config.go`, `manifest.go`, `platform.go`):
a base config is decoded into `v1.ConfigFile`, edited, and encoded with `json.Marshal`. So:

- fields unknown to the structs are dropped (Docker's `container_config`, for example);
- keys come out in struct field order, maps sorted by key, with `omitempty` rules;
- JSON keys are matched to fields case-insensitively on input (Go's encoding/json), the last
  duplicate wins;
- times are re-written by Go's `time.Time` (RFC 3339, nanoseconds with trailing zeros cut,
  a zero offset as `Z`); the zero time is `0001-01-01T00:00:00Z` and is never omitted.

This module holds those structs as frozen dataclasses with a small Go-struct codec, plus the
descriptor, manifest and index types and `BaseImage`, the input of `image.build_image`.
Nothing here imports Pants.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pants_backend_ko.golang import gojson
from pants_backend_ko.golang.gotime import ZERO_TIME, reformat_json_time
from pants_backend_ko.oci.platform import Platform

__all__ = [
    "OCI_MANIFEST",
    "OCI_INDEX",
    "OCI_CONFIG",
    "OCI_LAYER_GZIP",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "DOCKER_CONFIG",
    "DOCKER_LAYER_GZIP",
    "IMAGE_MANIFEST_TYPES",
    "INDEX_TYPES",
    "FrozenDict",
    "digest_of",
    "digest_hex",
    "check_digest",
    "Descriptor",
    "History",
    "RootFS",
    "HealthConfig",
    "ContainerConfig",
    "ConfigFile",
    "ImageManifest",
    "ImageIndex",
    "BaseImage",
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
IMAGE_MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)

_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")


# --------------------------------------------------------------------------- small helpers


class FrozenDict(Mapping):
    """An immutable, hashable mapping that keeps insertion order (so dataclasses stay hashable)."""

    __slots__ = ("_data", "_hash")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._data = dict(*args, **kwargs)
        self._hash: int | None = None

    def __getitem__(self, key: Any) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenDict):
            return self._data == other._data
        if isinstance(other, Mapping):
            return self._data == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenDict({self._data!r})"


def digest_of(data: bytes) -> str:
    """`sha256:<hex>` of the bytes, the content address used everywhere in OCI."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def digest_hex(digest: str) -> str:
    """The hex part of `sha256:<hex>`: a blob's file name in a layout, a cosign tag's stem."""
    return digest.split(":", 1)[1]


def check_digest(value: Any, where: str) -> str:
    """Accept only `sha256:<64 lower-case hex>` (what ggcr's Hash accepts for sha256)."""
    if not isinstance(value, str) or not _DIGEST_RE.fullmatch(value):
        raise ValueError(f"{where}: {value!r} is not a sha256 digest (sha256:<64 lower-case hex digits>)")
    return value


def _clean_str(value: str) -> str:
    # JSON may carry lone surrogate escapes; Go decodes them to U+FFFD.
    if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
    return value


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, gojson.FloatLiteral)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, gojson.JSONObject):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def _type_error(where: str, expected: str, value: Any) -> ValueError:
    return ValueError(f"{where}: expected {expected}, got {_type_name(value)}")


# --------------------------------------------------------------------------- Go-struct codec


class _Kind:
    """How one Go field type is decoded, encoded, and when `omitempty` drops it."""

    def decode(self, value: Any, current: Any, where: str) -> Any:
        raise NotImplementedError

    def encode(self, value: Any) -> Any:
        return value

    def empty(self, value: Any) -> bool:
        return not value


class _String(_Kind):
    def decode(self, value, current, where):
        if value is None:
            return current  # null leaves a Go string untouched
        if not isinstance(value, str):
            raise _type_error(where, "a string", value)
        return _clean_str(value)


class _Bool(_Kind):
    def decode(self, value, current, where):
        if value is None:
            return current
        if not isinstance(value, bool):
            raise _type_error(where, "true or false", value)
        return value


class _Int(_Kind):
    def decode(self, value, current, where):
        if value is None:
            return current
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(where, "an integer", value)
        if not -(1 << 63) <= value < (1 << 63):
            raise ValueError(f"{where}: {value} does not fit a 64-bit integer")
        return value


class _Strings(_Kind):
    """[]string: null is nil (None); a null element is ""."""

    def decode(self, value, current, where):
        if value is None:
            return None
        if not isinstance(value, list) or isinstance(value, gojson.JSONObject):
            raise _type_error(where, "an array of strings", value)
        out = []
        for i, item in enumerate(value):
            if item is None:
                out.append("")
            elif isinstance(item, str):
                out.append(_clean_str(item))
            else:
                raise _type_error(f"{where}[{i}]", "a string", item)
        return tuple(out)

    def encode(self, value):
        return None if value is None else list(value)


class _Hashes(_Strings):
    """[]v1.Hash (diff_ids): each element must parse as a digest."""

    def decode(self, value, current, where):
        if value is None:
            return None
        if not isinstance(value, list) or isinstance(value, gojson.JSONObject):
            raise _type_error(where, "an array of digests", value)
        return tuple(check_digest(item, f"{where}[{i}]") for i, item in enumerate(value))


class _StringMap(_Kind):
    """map[string]string: decoded into the existing map, encoded sorted by key."""

    def decode(self, value, current, where):
        if value is None:
            return None
        if not isinstance(value, gojson.JSONObject):
            raise _type_error(where, "an object of strings", value)
        out = dict(current or {})
        for key, item in value:
            if item is None:
                item = ""
            elif not isinstance(item, str):
                raise _type_error(f"{where}[{key!r}]", "a string", item)
            out[_clean_str(key)] = _clean_str(item)
        return FrozenDict(out)

    def encode(self, value):
        return None if value is None else gojson.sorted_map(value)


class _EmptyStructMap(_Kind):
    """map[string]struct{} (Volumes, ExposedPorts): only the keys matter; `{}` on output."""

    def decode(self, value, current, where):
        if value is None:
            return None
        if not isinstance(value, gojson.JSONObject):
            raise _type_error(where, "an object", value)
        keys = set(current or ())
        for key, item in value:
            if item is not None and not isinstance(item, gojson.JSONObject):
                raise _type_error(f"{where}[{key!r}]", "an object", item)
            keys.add(_clean_str(key))
        return tuple(sorted(keys))

    def encode(self, value):
        return None if value is None else {key: {} for key in sorted(value)}


class _Time(_Kind):
    """v1.Time: a struct, so `omitempty` never drops it; the zero time is written out."""

    def decode(self, value, current, where):
        if value is None:
            return current
        return reformat_json_time(value, where)

    def empty(self, value):
        return False


class _Bytes(_Kind):
    """[]byte: base64 in JSON."""

    def decode(self, value, current, where):
        if value is None:
            return None
        if not isinstance(value, str):
            raise _type_error(where, "a base64 string", value)
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"{where}: {value!r} is not standard base64") from None

    def encode(self, value):
        return None if value is None else bytes(value)

    def empty(self, value):
        return not value


class _Struct(_Kind):
    """A struct value field (never omitted); null leaves it untouched."""

    def __init__(self, cls: type) -> None:
        self.cls = cls

    def decode(self, value, current, where):
        if value is None:
            return current
        return _decode_struct(self.cls, value, current, where)

    def encode(self, value):
        return value.to_json()

    def empty(self, value):
        return False


class _StructPointer(_Struct):
    """A *Struct field: null is nil (None) and `omitempty` drops nil."""

    def decode(self, value, current, where):
        if value is None:
            return None
        return _decode_struct(self.cls, value, current, where)

    def encode(self, value):
        return None if value is None else value.to_json()

    def empty(self, value):
        return value is None


class _StructList(_Struct):
    """[]Struct: null is nil; a null element is the zero struct."""

    def decode(self, value, current, where):
        if value is None:
            return None
        if not isinstance(value, list) or isinstance(value, gojson.JSONObject):
            raise _type_error(where, "an array of objects", value)
        return tuple(
            self.cls() if item is None else _decode_struct(self.cls, item, None, f"{where}[{i}]")
            for i, item in enumerate(value)
        )

    def encode(self, value):
        return None if value is None else [item.to_json() for item in value]

    def empty(self, value):
        return not value


class _PlatformPointer(_Kind):
    """*v1.Platform, read into our `Platform` (empty strings become None)."""

    _FIELDS = {
        "architecture": ("architecture", _String()),
        "os": ("os", _String()),
        "os.version": ("os_version", _String()),
        "os.features": ("os_features", _Strings()),
        "variant": ("variant", _String()),
        "features": ("features", _Strings()),
    }

    def decode(self, value, current, where):
        if value is None:
            return None
        if not isinstance(value, gojson.JSONObject):
            raise _type_error(where, "an object", value)
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
            name = _match_field(key, self._FIELDS)
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
class _Field:
    json: str
    attr: str
    kind: _Kind
    omitempty: bool = True


def _fold(name: str) -> str:
    # Go matches keys with simple case folding; K (Kelvin) and ſ (long s) fold to ASCII.
    return "".join({"\u212a": "k", "\u017f": "s"}.get(c, c.lower() if c < "\x80" else c) for c in name)


def _match_field(key: str, names: Mapping[str, Any]) -> str | None:
    """Go's field lookup: an exact match first, otherwise the first case-insensitive match."""
    if key in names:
        return key
    folded = _fold(key)
    for name in names:
        if _fold(name) == folded:
            return name
    return None


def _decode_struct(cls: type, value: Any, current: Any, where: str) -> Any:
    if not isinstance(value, gojson.JSONObject):
        raise _type_error(where, "an object", value)
    fields = {f.json: f for f in cls._GO_FIELDS}
    base = current if current is not None else cls()
    attrs = {f.attr: getattr(base, f.attr) for f in cls._GO_FIELDS}
    for key, item in value:
        name = _match_field(key, fields)
        if name is None:
            continue  # unknown to the Go struct: dropped, as ggcr does
        f = fields[name]
        attrs[f.attr] = f.kind.decode(item, attrs[f.attr], f"{where}.{name}")
    return cls(**attrs)


def _encode_struct(instance: Any) -> dict:
    out: dict[str, Any] = {}
    for f in instance._GO_FIELDS:
        value = getattr(instance, f.attr)
        if f.omitempty and f.kind.empty(value):
            continue
        out[f.json] = f.kind.encode(value)
    return out


class _GoStruct:
    """Mixin: `to_json()` gives a dict in Go field order; `from_json_value` decodes one."""

    _GO_FIELDS: ClassVar[tuple[_Field, ...]] = ()

    def to_json(self) -> dict:
        return _encode_struct(self)

    def to_bytes(self) -> bytes:
        return gojson.dumps(self.to_json())

    @classmethod
    def from_json_value(cls, value: Any, where: str) -> Any:
        return _decode_struct(cls, value, None, where)


# --------------------------------------------------------------------------- descriptors


@dataclass(frozen=True)
class Descriptor(_GoStruct):
    """ggcr `v1.Descriptor`: mediaType, size, digest, data, urls, annotations, platform, artifactType."""

    media_type: str = ""
    size: int = 0
    digest: str = ""
    data: bytes | None = None
    urls: tuple[str, ...] = ()
    annotations: FrozenDict = field(default_factory=FrozenDict)
    platform: Platform | None = None
    artifact_type: str | None = None

    _GO_FIELDS: ClassVar[tuple[_Field, ...]] = (
        _Field("mediaType", "media_type", _String(), omitempty=False),
        _Field("size", "size", _Int(), omitempty=False),
        _Field("digest", "digest", _String(), omitempty=False),
        _Field("data", "data", _Bytes()),
        _Field("urls", "urls", _Strings()),
        _Field("annotations", "annotations", _StringMap()),
        _Field("platform", "platform", _PlatformPointer()),
        _Field("artifactType", "artifact_type", _String()),
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
        desc = _decode_struct(cls, value, None, where)
        check_digest(desc.digest, f"{where}.digest")
        if desc.size < 0:
            raise ValueError(f"{where}.size: {desc.size} is negative")
        return desc


# --------------------------------------------------------------------------- config file


@dataclass(frozen=True)
class History(_GoStruct):
    """ggcr `v1.History`."""

    author: str = ""
    created: str = ZERO_TIME
    created_by: str = ""
    comment: str = ""
    empty_layer: bool = False

    _GO_FIELDS: ClassVar[tuple[_Field, ...]] = (
        _Field("author", "author", _String()),
        _Field("created", "created", _Time()),
        _Field("created_by", "created_by", _String()),
        _Field("comment", "comment", _String()),
        _Field("empty_layer", "empty_layer", _Bool()),
    )


@dataclass(frozen=True)
class RootFS(_GoStruct):
    """ggcr `v1.RootFS`; `diff_ids` None is Go's nil slice and is written as `null`."""

    type: str = ""
    diff_ids: tuple[str, ...] | None = None

    _GO_FIELDS: ClassVar[tuple[_Field, ...]] = (
        _Field("type", "type", _String(), omitempty=False),
        _Field("diff_ids", "diff_ids", _Hashes(), omitempty=False),
    )


@dataclass(frozen=True)
class HealthConfig(_GoStruct):
    """ggcr `v1.HealthConfig` (durations in nanoseconds)."""

    test: tuple[str, ...] | None = None
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    retries: int = 0

    _GO_FIELDS: ClassVar[tuple[_Field, ...]] = (
        _Field("Test", "test", _Strings()),
        _Field("Interval", "interval", _Int()),
        _Field("Timeout", "timeout", _Int()),
        _Field("StartPeriod", "start_period", _Int()),
        _Field("Retries", "retries", _Int()),
    )


@dataclass(frozen=True)
class ContainerConfig(_GoStruct):
    """ggcr `v1.Config` (the `config` object of an image config), in its Go field order."""

    attach_stderr: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = False
    cmd: tuple[str, ...] | None = None
    healthcheck: HealthConfig | None = None
    domainname: str = ""
    entrypoint: tuple[str, ...] | None = None
    env: tuple[str, ...] | None = None
    hostname: str = ""
    image: str = ""
    labels: FrozenDict | None = None
    on_build: tuple[str, ...] | None = None
    open_stdin: bool = False
    stdin_once: bool = False
    tty: bool = False
    user: str = ""
    volumes: tuple[str, ...] | None = None
    working_dir: str = ""
    exposed_ports: tuple[str, ...] | None = None
    args_escaped: bool = False
    network_disabled: bool = False
    mac_address: str = ""
    stop_signal: str = ""
    shell: tuple[str, ...] | None = None

    _GO_FIELDS: ClassVar[tuple[_Field, ...]] = (
        _Field("AttachStderr", "attach_stderr", _Bool()),
        _Field("AttachStdin", "attach_stdin", _Bool()),
        _Field("AttachStdout", "attach_stdout", _Bool()),
        _Field("Cmd", "cmd", _Strings()),
        _Field("Healthcheck", "healthcheck", _StructPointer(HealthConfig)),
        _Field("Domainname", "domainname", _String()),
        _Field("Entrypoint", "entrypoint", _Strings()),
        _Field("Env", "env", _Strings()),
        _Field("Hostname", "hostname", _String()),
        _Field("Image", "image", _String()),
        _Field("Labels", "labels", _StringMap()),
        _Field("OnBuild", "on_build", _Strings()),
        _Field("OpenStdin", "open_stdin", _Bool()),
        _Field("StdinOnce", "stdin_once", _Bool()),
        _Field("Tty", "tty", _Bool()),
        _Field("User", "user", _String()),
        _Field("Volumes", "volumes", _EmptyStructMap()),
        _Field("WorkingDir", "working_dir", _String()),
        _Field("ExposedPorts", "exposed_ports", _EmptyStructMap()),
        _Field("ArgsEscaped", "args_escaped", _Bool()),
        _Field("NetworkDisabled", "network_disabled", _Bool()),
        _Field("MacAddress", "mac_address", _String()),
        _Field("StopSignal", "stop_signal", _String()),
        _Field("Shell", "shell", _Strings()),
    )


@dataclass(frozen=True)
class ConfigFile(_GoStruct):
    """ggcr `v1.ConfigFile`, the image config, in its Go field order."""

    architecture: str = ""
    author: str = ""
    container: str = ""
    created: str = ZERO_TIME
    docker_version: str = ""
    history: tuple[History, ...] | None = None
    os: str = ""
    rootfs: RootFS = field(default_factory=RootFS)
    config: ContainerConfig = field(default_factory=ContainerConfig)
    os_version: str = ""
    variant: str = ""
    os_features: tuple[str, ...] | None = None

    _GO_FIELDS: ClassVar[tuple[_Field, ...]] = (
        _Field("architecture", "architecture", _String(), omitempty=False),
        _Field("author", "author", _String()),
        _Field("container", "container", _String()),
        _Field("created", "created", _Time()),
        _Field("docker_version", "docker_version", _String()),
        _Field("history", "history", _StructList(History)),
        _Field("os", "os", _String(), omitempty=False),
        _Field("rootfs", "rootfs", _Struct(RootFS), omitempty=False),
        _Field("config", "config", _Struct(ContainerConfig), omitempty=False),
        _Field("os.version", "os_version", _String()),
        _Field("variant", "variant", _String()),
        _Field("os.features", "os_features", _Strings()),
    )

    @classmethod
    def parse(cls, data: bytes, what: str = "image config") -> ConfigFile:
        """Decode config bytes as ggcr's `v1.ParseConfigFile` does (unknown fields dropped)."""
        value = gojson.loads(data, what)
        if not isinstance(value, gojson.JSONObject):
            raise ValueError(f"{what}: expected a JSON object, got {_type_name(value)}")
        return _decode_struct(cls, value, None, what)

    @classmethod
    def for_platform(cls, platform: Platform) -> ConfigFile:
        """The config of an empty ("scratch") image for `platform` (ggcr's empty image plus os/arch)."""
        return cls(
            architecture=platform.architecture,
            os=platform.os,
            os_version=platform.os_version or "",
            variant=platform.variant or "",
            os_features=tuple(platform.os_features) or None,
            rootfs=RootFS(type="layers"),
        )

    @property
    def platform(self) -> Platform:
        return Platform(
            os=self.os,
            architecture=self.architecture,
            variant=self.variant or None,
            os_version=self.os_version or None,
            os_features=tuple(self.os_features or ()),
        )


# --------------------------------------------------------------------------- manifests


class _DescriptorList(_StructList):
    """[]v1.Descriptor, each element checked like a descriptor read on its own."""

    def decode(self, value, current, where):
        if value is None:
            return None
        if not isinstance(value, list) or isinstance(value, gojson.JSONObject):
            raise _type_error(where, "an array of descriptors", value)
        return tuple(Descriptor.from_json_value(item, f"{where}[{i}]") for i, item in enumerate(value))


class _DescriptorValue(_Struct):
    def decode(self, value, current, where):
        if value is None:
            return current
        return Descriptor.from_json_value(value, where)


class _DescriptorPointer(_StructPointer):
    def decode(self, value, current, where):
        if value is None:
            return None
        return Descriptor.from_json_value(value, where)


# ggcr's Manifest and IndexManifest share these fields, before and after their own ones.
_SCHEMA2_HEAD = (
    _Field("schemaVersion", "schema_version", _Int(), omitempty=False),
    _Field("mediaType", "media_type", _String()),
)
_SCHEMA2_TAIL = (
    _Field("annotations", "annotations", _StringMap()),
    _Field("subject", "subject", _DescriptorPointer(Descriptor)),
    _Field("artifactType", "artifact_type", _String()),
)


def _parse_schema2(cls: type, data: bytes, what: str, media_types: tuple[str, ...], kind: str) -> Any:
    """Decode a schema-2 manifest or index as ggcr does, then check `schemaVersion` and `mediaType`.

    Shared by `ImageManifest` and `ImageIndex`, which differ only in the media types they allow.
    """
    value = gojson.loads(data, what)
    if not isinstance(value, gojson.JSONObject):
        raise ValueError(f"{what}: expected a JSON object, got {_type_name(value)}")
    parsed = _decode_struct(cls, value, None, what)
    if parsed.schema_version != 2:
        raise ValueError(f"{what}: schemaVersion is {parsed.schema_version}, only 2 is supported")
    if parsed.media_type and parsed.media_type not in media_types:
        raise ValueError(f"{what}: mediaType {parsed.media_type!r} is not {kind} ({' or '.join(media_types)})")
    return parsed


@dataclass(frozen=True)
class ImageManifest(_GoStruct):
    """ggcr `v1.Manifest` (OCI image manifest or Docker schema 2)."""

    schema_version: int = 0
    media_type: str = ""
    config: Descriptor = field(default_factory=Descriptor)
    layers: tuple[Descriptor, ...] | None = None
    annotations: FrozenDict | None = None
    subject: Descriptor | None = None
    artifact_type: str = ""

    _GO_FIELDS: ClassVar[tuple[_Field, ...]] = (
        *_SCHEMA2_HEAD,
        _Field("config", "config", _DescriptorValue(Descriptor), omitempty=False),
        _Field("layers", "layers", _DescriptorList(Descriptor), omitempty=False),
        *_SCHEMA2_TAIL,
    )

    @classmethod
    def parse(cls, data: bytes, what: str = "image manifest") -> ImageManifest:
        return _parse_schema2(cls, data, what, IMAGE_MANIFEST_TYPES, "an image manifest")


@dataclass(frozen=True)
class ImageIndex(_GoStruct):
    """ggcr `v1.IndexManifest` (OCI image index or Docker manifest list)."""

    schema_version: int = 0
    media_type: str = ""
    manifests: tuple[Descriptor, ...] | None = None
    annotations: FrozenDict | None = None
    subject: Descriptor | None = None
    artifact_type: str = ""

    _GO_FIELDS: ClassVar[tuple[_Field, ...]] = (
        *_SCHEMA2_HEAD,
        _Field("manifests", "manifests", _DescriptorList(Descriptor), omitempty=False),
        *_SCHEMA2_TAIL,
    )

    @classmethod
    def parse(cls, data: bytes, what: str = "image index") -> ImageIndex:
        return _parse_schema2(cls, data, what, INDEX_TYPES, "an image index")


# --------------------------------------------------------------------------- base image


@dataclass(frozen=True)
class BaseImage:
    """One single-platform base image, as `build_image` needs it.

    `config` None means scratch: the config is made from `platform`. `layers` are the base
    manifest's layer descriptors (their blobs are referenced, never held). `name`/`digest`
    become the `org.opencontainers.image.base.*` annotations (ko §7) when `name` is set.
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
        §7). `media_type` is needed only when the manifest JSON has no `mediaType`.
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
        """ko types new layers after the base manifest's family (ko §4.9)."""
        return DOCKER_LAYER_GZIP if self.is_docker else OCI_LAYER_GZIP

    @property
    def effective_config_media_type(self) -> str:
        if self.config_media_type:
            return self.config_media_type
        return DOCKER_CONFIG if self.is_docker else OCI_CONFIG
