"""The registry client's view of manifests: accepted media types, lenient descriptors, schema 1 refusal.

Digests, media-type constants and ``Platform`` are the image core's (``oci.digest``, ``oci.mediatypes``,
``oci.platform``); what is here is what only a registry client needs: the ``Accept`` list, a
size limit for manifests, a descriptor reader that tolerates oddities in base images we only
pick from, and the check of a served manifest's media type. No Pants imports.
"""

from __future__ import annotations

import json
from typing import Any

from pants_backend_ko.golang.frozendict import FrozenDict
from pants_backend_ko.oci.digest import check_digest
from pants_backend_ko.oci.manifest import Descriptor
from pants_backend_ko.oci.mediatypes import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    IMAGE_MANIFEST_TYPES,
    INDEX_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
)
from pants_backend_ko.oci.platform import Platform

DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

MANIFEST_MEDIA_TYPES = frozenset(INDEX_TYPES + IMAGE_MANIFEST_TYPES)
# Every type a manifest GET must accept (distribution 2.8 hides OCI indexes otherwise).
MANIFEST_ACCEPT = (OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST)

MAX_MANIFEST_BYTES = 8 * 1024 * 1024


def descriptor_from_json(data: Any, where: str) -> Descriptor:
    """A descriptor of a manifest we only read (a base image's, or one in a layout we push).

    Lenient where ggcr's strict decoding (`Descriptor.from_json_value`) would refuse content
    that is still usable: mistyped `urls`, `annotations` or `platform` fields are coerced or
    dropped. `digest`, `size` and `mediaType` must be right, since we fetch and push by them.
    """
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
    platform = data.get("platform")
    return Descriptor(
        media_type=media_type,
        size=size,
        digest=digest,
        urls=tuple(str(u) for u in urls) if isinstance(urls, list) else (),
        annotations=FrozenDict(sorted((str(k), str(v)) for k, v in annotations.items()))
        if isinstance(annotations, dict)
        else FrozenDict(),
        platform=Platform.from_json(platform, f"{where}: platform", strict=False)
        if isinstance(platform, dict)
        else None,
    )


def parse_manifest_json(data: bytes, where: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except ValueError:
        raise ValueError(f"{where}: the manifest is not valid JSON") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{where}: the manifest is not a JSON object")
    return doc


def manifest_media_type(data: bytes, declared: str | None, where: str) -> str:
    """The media type of a manifest or index, checked against ``declared``.

    ``declared`` is the ``Content-Type`` of the answer or the descriptor's
    ``mediaType``. Schema 1 is rejected; a body ``mediaType`` that disagrees with
    ``declared`` is rejected; a body without ``mediaType`` (allowed by OCI) takes
    ``declared`` or, failing that, is recognised by its shape.
    """
    doc = parse_manifest_json(data, where)
    declared = (declared or "").split(";", 1)[0].strip()
    body_type = doc.get("mediaType")
    if (
        doc.get("schemaVersion") == 1
        or declared in (DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED)
        or body_type
        in (
            DOCKER_SCHEMA1,
            DOCKER_SCHEMA1_SIGNED,
        )
    ):
        raise ValueError(
            f"{where}: Docker schema 1 manifests are not supported; re-push the image with a current tool (schema 2 or OCI)"
        )
    if body_type is not None and not isinstance(body_type, str):
        raise ValueError(f"{where}: the manifest's mediaType is not a string")
    if body_type and declared and declared in MANIFEST_MEDIA_TYPES and body_type != declared:
        raise ValueError(
            f"{where}: the registry says {declared} but the manifest says {body_type}; refusing an ambiguous manifest"
        )
    media_type = body_type or (declared if declared in MANIFEST_MEDIA_TYPES else "")
    if not media_type:
        media_type = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    if media_type not in MANIFEST_MEDIA_TYPES:
        raise ValueError(f"{where}: unsupported manifest media type {media_type!r}")
    return media_type
