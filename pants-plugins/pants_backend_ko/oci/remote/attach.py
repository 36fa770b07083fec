"""Attaching an SPDX SBOM to a pushed image or index, two ways at once.

1. **cosign/ko convention** (ko's ``pkg/build/gobuild.go`` attaches it with cosign's
   ``pkg/oci/mutate.AttachFileToImage``; cosign's ``SBOMTag`` names it): a small OCI image whose single layer is
   the SBOM (media type ``text/spdx+json``), tagged ``sha256-<hex>.sbom`` in the image's
   repository. It is exactly what ko pushes through cosign's ``static.NewFile``: an OCI
   manifest, config media type ``application/vnd.oci.image.config.v1+json``, the config of
   go-containerregistry's empty image after appending one layer, no annotations.
2. **OCI 1.1 referrer** (opencontainers/distribution-spec `spec.md`, "Listing Referrers" and
   "Referrers Tag Schema"; image-spec `manifest.md`, `subject`): an image manifest with
   ``artifactType: application/spdx+json``, the empty config
   (``application/vnd.oci.empty.v1+json``, content ``{}``), the SBOM as its layer and a
   ``subject`` naming the image. OCI 1.1 dropped the separate artifact manifest type, so
   this is the form registries accept. When the manifest PUT answer has no ``OCI-Subject``
   header (distribution 2.8 never sends one), the fallback tag ``sha256-<hex>`` is
   maintained here: GET it (404 = empty), add the descriptor if absent, PUT it back.

Everything is content-addressed and checked with ``HEAD`` first, so attaching the same SBOM
again writes nothing. :func:`list_referrers` reads the referrers API and falls back to the
tag. No Pants imports.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from pants_backend_ko.golang import gojson
from pants_backend_ko.oci.configfile import ConfigFile, History, RootFS
from pants_backend_ko.oci.digest import check_digest, digest_hex, digest_of
from pants_backend_ko.oci.manifest import Descriptor, ImageManifest
from pants_backend_ko.oci.mediatypes import OCI_CONFIG, OCI_MANIFEST
from pants_backend_ko.oci.reference import digest_reference
from pants_backend_ko.oci.remote.artifacts import ArtifactStore, Referrer, list_referrers, repository_path
from pants_backend_ko.oci.remote.artifacts import referrers_fallback_tag as referrers_fallback_tag
from pants_backend_ko.oci.remote.descriptors import MANIFEST_MEDIA_TYPES
from pants_backend_ko.oci.remote.pull import manifest_digest_at
from pants_backend_ko.oci.remote.transport import RegistryClient

logger = logging.getLogger(__name__)

__all__ = [
    "COSIGN_SBOM_MEDIA_TYPE",
    "SPDX_ARTIFACT_TYPE",
    "EMPTY_CONFIG_MEDIA_TYPE",
    "EMPTY_CONFIG",
    "AttachResult",
    "Referrer",
    "attach_sbom",
    "sbom_missing",
    "cosign_sbom_tag",
    "referrers_fallback_tag",
    "cosign_sbom_image",
    "referrer_manifest",
    "list_referrers",
]

COSIGN_SBOM_MEDIA_TYPE = "text/spdx+json"
SPDX_ARTIFACT_TYPE = "application/spdx+json"
EMPTY_CONFIG_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_CONFIG = b"{}"
MAX_SBOM_BYTES = 64 * 1024 * 1024


def cosign_sbom_tag(subject_digest: str) -> str:
    """cosign's ``SBOMTag``: ``sha256:<hex>`` -> ``sha256-<hex>.sbom``."""
    check_digest(subject_digest, "subject digest")
    return f"sha256-{digest_hex(subject_digest)}.sbom"


def _descriptor(media_type: str, content: bytes, **fields: Any) -> Descriptor:
    return Descriptor(media_type=media_type, size=len(content), digest=digest_of(content), **fields)


def cosign_sbom_image(sbom: bytes, media_type: str = COSIGN_SBOM_MEDIA_TYPE) -> tuple[bytes, bytes]:
    """(config, manifest) bytes of cosign's ``static.NewFile(sbom, WithLayerMediaType(mt))``.

    ggcr's empty image (rootfs type ``layers``, no dates: Go's zero time) gets one layer
    appended: one diff_id (the payload is stored uncompressed, so it equals the digest) and
    one empty history entry.
    """
    layer = _descriptor(media_type, sbom)
    config = ConfigFile(history=(History(),), rootfs=RootFS(type="layers", diff_ids=(layer.digest,))).to_bytes()
    manifest = ImageManifest(
        schema_version=2, media_type=OCI_MANIFEST, config=_descriptor(OCI_CONFIG, config), layers=(layer,)
    ).to_bytes()
    return config, manifest


def referrer_manifest(sbom: bytes, subject_digest: str, subject_media_type: str, subject_size: int) -> bytes:
    """The OCI 1.1 image manifest that carries ``sbom`` as an artifact referring to the subject.

    In the field order of the image-spec's Go ``v1.Manifest`` (``artifactType`` after
    ``mediaType``, image-spec ``specs-go/v1/manifest.go``), which ggcr's struct (the model's
    `ImageManifest`) does not share: these bytes are what earlier versions attached, so an
    attached SBOM keeps its referrer's digest.
    """
    return gojson.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": SPDX_ARTIFACT_TYPE,
            "config": _descriptor(EMPTY_CONFIG_MEDIA_TYPE, EMPTY_CONFIG, data=EMPTY_CONFIG).to_json(),
            "layers": [_descriptor(SPDX_ARTIFACT_TYPE, sbom).to_json()],
            "subject": Descriptor(media_type=subject_media_type, size=subject_size, digest=subject_digest).to_json(),
        }
    )


@dataclass(frozen=True)
class AttachResult:
    """What :func:`attach_sbom` did; ``changed`` is False when everything was already there."""

    repository: str  # registry/repository
    subject_digest: str
    sbom_digest: str  # sha256 of the SBOM bytes (the layer of both attachments)
    cosign_tag: str | None  # "sha256-<hex>.sbom", None when not requested
    cosign_manifest_digest: str | None
    referrer_digest: str | None  # the OCI 1.1 referrer manifest, None when not requested
    referrers_api: bool | None  # True: the registry indexes referrers itself (OCI-Subject)
    fallback_tag: str | None  # "sha256-<hex>" when this client maintained it
    blobs_uploaded: int
    manifests_pushed: int

    @property
    def changed(self) -> bool:
        return self.blobs_uploaded > 0 or self.manifests_pushed > 0

    @property
    def cosign_reference(self) -> str | None:
        return f"{self.repository}:{self.cosign_tag}" if self.cosign_tag else None


def attach_sbom(
    client: RegistryClient,
    repository: str,
    subject_digest: str,
    subject_media_type: str,
    sbom: bytes,
    *,
    cosign_tag: bool = True,
    referrer: bool = True,
) -> AttachResult:
    """Attach ``sbom`` (SPDX JSON bytes) to ``repository@subject_digest``, which must exist.

    ``repository`` is ``registry/path`` on ``client``'s registry, or a path there.
    ``cosign_tag`` pushes ko's ``sha256-<hex>.sbom`` attachment (replacing an older SBOM under
    that tag, as ko does); ``referrer`` pushes the OCI 1.1 referrer and, when the registry does
    not index referrers itself, adds it to the ``sha256-<hex>`` fallback index.
    """
    check_digest(subject_digest, "subject digest")
    if subject_media_type not in MANIFEST_MEDIA_TYPES:
        raise ValueError(
            f"subject media type {subject_media_type!r} is not an image manifest or index type; "
            "pass the media type push_layout returned"
        )
    if not isinstance(sbom, (bytes, bytearray)) or not sbom:
        raise ValueError("sbom must be the non-empty bytes of an SPDX JSON document")
    if len(sbom) > MAX_SBOM_BYTES:
        raise ValueError(f"sbom is {len(sbom)} bytes, more than the {MAX_SBOM_BYTES}-byte limit for an attachment")
    try:
        json.loads(bytes(sbom))
    except ValueError:
        raise ValueError("sbom is not valid JSON; pass the bytes spdx_for_image or spdx_for_index returned") from None
    if not (cosign_tag or referrer):
        raise ValueError("attach_sbom: nothing to do; enable cosign_tag, referrer or both")
    sbom = bytes(sbom)
    store = ArtifactStore(client, repository_path(client, repository))
    subject = store.descriptor(subject_digest, purpose="attaching its SBOM")
    assert subject is not None
    if subject.media_type in MANIFEST_MEDIA_TYPES and subject.media_type != subject_media_type:
        raise ValueError(
            f"{digest_reference(store.repo, subject_digest)} is a {subject.media_type}, not a {subject_media_type}; "
            "pass the subject's real media type (the referrer's subject descriptor must match it)"
        )

    tag_name = cosign_digest = referrer_digest = fallback = None
    referrers_api: bool | None = None
    if cosign_tag:
        tag_name = cosign_sbom_tag(subject_digest)
        config, manifest = cosign_sbom_image(sbom)
        cosign_digest = digest_of(manifest)
        if store.digest_at(tag_name) != cosign_digest:
            store.ensure_blob(config, OCI_CONFIG)
            store.ensure_blob(sbom, COSIGN_SBOM_MEDIA_TYPE)
            store.put_manifest(manifest, OCI_MANIFEST, tag_name)

    if referrer:
        manifest = referrer_manifest(sbom, subject_digest, subject_media_type, subject.size)
        written = store.put_referrer(
            manifest,
            OCI_MANIFEST,
            subject_digest,
            SPDX_ARTIFACT_TYPE,
            blobs=((EMPTY_CONFIG, EMPTY_CONFIG_MEDIA_TYPE), (sbom, SPDX_ARTIFACT_TYPE)),
        )
        referrer_digest, referrers_api, fallback = written.digest, written.indexed_by_registry, written.fallback_tag

    return AttachResult(
        repository=f"{client.registry}/{store.repo}",
        subject_digest=subject_digest,
        sbom_digest=digest_of(sbom),
        cosign_tag=tag_name,
        cosign_manifest_digest=cosign_digest,
        referrer_digest=referrer_digest,
        referrers_api=referrers_api,
        fallback_tag=fallback,
        blobs_uploaded=store.blobs_uploaded,
        manifests_pushed=store.manifests_pushed,
    )


def sbom_missing(client: RegistryClient, repository: str, subject_digest: str) -> str | None:
    """The read-only twin of :func:`attach_sbom` (both conventions, default options): which
    attachment ``repository@subject_digest`` still lacks, in a few words, or None when it has
    ko's ``sha256-<hex>.sbom`` tag and an SPDX referrer (in the referrers API or the fallback
    tag). The SBOM's content is not compared: ours is a function of the image, so an image
    with the same digest has the same SBOM."""
    repo = repository_path(client, repository)
    tag = cosign_sbom_tag(subject_digest)
    if manifest_digest_at(client, repo, tag) is None:
        return f"SBOM tag {tag}"
    if not list_referrers(client, repository, subject_digest, artifact_type=SPDX_ARTIFACT_TYPE):
        return f"SBOM referrer of {subject_digest}"
    return None
