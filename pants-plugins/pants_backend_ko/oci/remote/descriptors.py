"""Media types, descriptors, platforms and digests as the registry client needs them.

Kept small and self-contained so that the registry client has no dependency
on the image model; values are plain frozen dataclasses built from the JSON
documents. No Pants imports.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

INDEX_MEDIA_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
IMAGE_MANIFEST_MEDIA_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
MANIFEST_MEDIA_TYPES = INDEX_MEDIA_TYPES | IMAGE_MANIFEST_MEDIA_TYPES
# Every type a manifest GET must accept (distribution 2.8 hides OCI indexes otherwise).
MANIFEST_ACCEPT = (OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST)

_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
MAX_MANIFEST_BYTES = 8 * 1024 * 1024


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(digest: object, where: str) -> str:
    if not isinstance(digest, str) or not _DIGEST_RE.match(digest):
        raise ValueError(f"{where}: {digest!r} is not a sha256 digest (sha256:<64 lower-case hex digits)")
    return digest


def digest_hex(digest: str) -> str:
    return digest.split(":", 1)[1]


@dataclass(frozen=True)
class Platform:
    """``os/architecture[/variant][:os_version]``, as ko's ``--platform`` spells it."""

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""

    @classmethod
    def parse(cls, text: str) -> "Platform":
        spec = text.strip()
        os_version = ""
        if ":" in spec:
            spec, os_version = spec.split(":", 1)
        parts = spec.split("/")
        if not 1 <= len(parts) <= 3 or not all(parts):
            raise ValueError(
                f"invalid platform {text!r}: write it as os/arch[/variant], e.g. linux/amd64 or linux/arm/v7, or 'all'"
            )
        return cls(parts[0], parts[1] if len(parts) > 1 else "", parts[2] if len(parts) > 2 else "", os_version)

    @classmethod
    def from_json(cls, data: Any) -> Optional["Platform"]:
        if not isinstance(data, dict):
            return None
        return cls(
            str(data.get("os") or ""),
            str(data.get("architecture") or ""),
            str(data.get("variant") or ""),
            str(data.get("os.version") or ""),
        )

    def matches(self, candidate: "Platform") -> bool:
        """ko's rule: every field set in this (requested) platform equals the candidate's.
        On Windows an ``X.Y.Z`` os version also matches ``X.Y.Z.N``."""
        if self.os and self.os != candidate.os:
            return False
        if self.architecture and self.architecture != candidate.architecture:
            return False
        if self.variant and self.variant != candidate.variant:
            return False
        if self.os_version and self.os_version != candidate.os_version:
            if not (
                self.os == "windows"
                and self.os_version.count(".") == 2
                and candidate.os_version.startswith(self.os_version + ".")
            ):
                return False
        return True

    @property
    def is_unknown(self) -> bool:
        return self.os == "unknown" or self.architecture == "unknown"

    def __str__(self) -> str:
        out = "/".join(p for p in (self.os, self.architecture, self.variant) if p)
        return out + (f":{self.os_version}" if self.os_version else "")


@dataclass(frozen=True)
class Descriptor:
    """A content descriptor (``mediaType``, ``digest``, ``size``, and optional extras)."""

    media_type: str
    digest: str
    size: int
    urls: Tuple[str, ...] = ()
    annotations: Tuple[Tuple[str, str], ...] = ()
    platform: Optional[Platform] = None

    @classmethod
    def from_json(cls, data: Any, where: str) -> "Descriptor":
        if not isinstance(data, dict):
            raise ValueError(f"{where}: a descriptor must be a JSON object")
        digest = check_digest(data.get("digest"), f"{where}: digest")
        size = data.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError(f"{where}: descriptor {digest} has no valid 'size'")
        media_type = data.get("mediaType")
        if not isinstance(media_type, str) or not media_type:
            raise ValueError(f"{where}: descriptor {digest} has no 'mediaType'")
        urls = data.get("urls") or ()
        annotations = data.get("annotations") or {}
        return cls(
            media_type,
            digest,
            size,
            tuple(str(u) for u in urls) if isinstance(urls, list) else (),
            tuple(sorted((str(k), str(v)) for k, v in annotations.items())) if isinstance(annotations, dict) else (),
            Platform.from_json(data.get("platform")),
        )

    def annotation(self, key: str) -> Optional[str]:
        return dict(self.annotations).get(key)

    def to_json(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"mediaType": self.media_type, "size": self.size, "digest": self.digest}
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform is not None:
            p: Dict[str, Any] = {"architecture": self.platform.architecture, "os": self.platform.os}
            if self.platform.os_version:
                p["os.version"] = self.platform.os_version
            if self.platform.variant:
                p["variant"] = self.platform.variant
            out["platform"] = p
        return out


def parse_manifest_json(data: bytes, where: str) -> Dict[str, Any]:
    try:
        doc = json.loads(data)
    except ValueError:
        raise ValueError(f"{where}: the manifest is not valid JSON") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{where}: the manifest is not a JSON object")
    return doc


def manifest_media_type(data: bytes, declared: Optional[str], where: str) -> str:
    """The media type of a manifest or index, checked against ``declared``.

    ``declared`` is the ``Content-Type`` of the answer or the descriptor's
    ``mediaType``. Schema 1 is rejected; a body ``mediaType`` that disagrees with
    ``declared`` is rejected; a body without ``mediaType`` (allowed by OCI) takes
    ``declared`` or, failing that, is recognised by its shape.
    """
    doc = parse_manifest_json(data, where)
    declared = (declared or "").split(";", 1)[0].strip()
    body_type = doc.get("mediaType")
    if doc.get("schemaVersion") == 1 or declared in (DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED) or body_type in (
        DOCKER_SCHEMA1,
        DOCKER_SCHEMA1_SIGNED,
    ):
        raise ValueError(
            f"{where}: Docker schema 1 manifests are not supported; re-push the image with a current tool (schema 2 or OCI)"
        )
    if body_type is not None and not isinstance(body_type, str):
        raise ValueError(f"{where}: the manifest's mediaType is not a string")
    if body_type and declared and declared in MANIFEST_MEDIA_TYPES and body_type != declared:
        raise ValueError(f"{where}: the registry says {declared} but the manifest says {body_type}; refusing an ambiguous manifest")
    media_type = body_type or (declared if declared in MANIFEST_MEDIA_TYPES else "")
    if not media_type:
        media_type = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    if media_type not in MANIFEST_MEDIA_TYPES:
        raise ValueError(f"{where}: unsupported manifest media type {media_type!r}")
    return media_type
