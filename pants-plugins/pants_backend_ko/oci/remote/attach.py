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
from pants_backend_ko.oci.mediatypes import OCI_CONFIG, OCI_INDEX, OCI_MANIFEST
from pants_backend_ko.oci.reference import digest_reference, looks_like_registry, parse_repository
from pants_backend_ko.oci.remote.descriptors import MANIFEST_ACCEPT, MANIFEST_MEDIA_TYPES, MAX_MANIFEST_BYTES
from pants_backend_ko.oci.remote.errors import RegistryError
from pants_backend_ko.oci.remote.limits import read_body
from pants_backend_ko.oci.remote.pull import get_manifest, manifest_digest_at
from pants_backend_ko.oci.remote.push import push_blob_bytes, put_manifest_bytes
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


def referrers_fallback_tag(subject_digest: str) -> str:
    """The OCI 1.1 referrers tag schema: ``sha256:<hex>`` -> ``sha256-<hex>``."""
    check_digest(subject_digest, "subject digest")
    return f"sha256-{digest_hex(subject_digest)}"


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
class Referrer:
    """One entry of a referrers list: the referring manifest and its artifact type."""

    digest: str
    media_type: str
    size: int
    artifact_type: str
    annotations: tuple[tuple[str, str], ...] = ()


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


def _split_repository(client: RegistryClient, repository: str) -> str:
    """``registry/path`` (on the client's registry) or ``path`` -> the repository path."""
    first = repository.split("/", 1)[0]
    if "/" in repository and looks_like_registry(first):
        parsed = parse_repository(repository)
        if parsed.registry != client.registry:
            raise ValueError(
                f"repository {repository!r} is on {parsed.registry}, but the client talks to {client.registry}; "
                "use a client for that registry"
            )
        return parsed.repository
    return parse_repository(f"{client.registry}/{repository.strip('/')}").repository


class _Attacher:
    """Blob and manifest writes on one repository, counted, through push.py's checked writes."""

    def __init__(self, client: RegistryClient, repo: str) -> None:
        self.client = client
        self.repo = repo
        self.scopes = (f"repository:{repo}:pull,push",)
        self.blobs_uploaded = 0
        self.manifests_pushed = 0

    def ensure_blob(self, data: bytes, media_type: str) -> None:
        """Upload ``data`` unless the repository has it."""
        self.blobs_uploaded += push_blob_bytes(self.client, self.repo, data, media_type, scopes=self.scopes)

    def put_manifest(self, data: bytes, media_type: str, reference: str) -> Any:
        """PUT a manifest; returns the response headers (for ``OCI-Subject``)."""
        headers = put_manifest_bytes(self.client, self.repo, data, media_type, reference, scopes=self.scopes)
        self.manifests_pushed += 1
        return headers

    def digest_at(self, reference: str) -> str | None:
        return manifest_digest_at(self.client, self.repo, reference, scopes=self.scopes)


def _subject_size(attacher: _Attacher, subject_digest: str, subject_media_type: str) -> int:
    """The subject's size, from a HEAD (the referrer's ``subject`` descriptor needs it)."""
    resp = attacher.client.request(
        "HEAD",
        f"/v2/{attacher.repo}/manifests/{subject_digest}",
        scopes=attacher.scopes,
        headers={"Accept": ", ".join(MANIFEST_ACCEPT)},  # distribution hides indexes otherwise
        expected=(200, 404),
    )
    resp.close()
    length = resp.headers.get("Content-Length", "")
    if resp.status_code == 404:
        raise RegistryError(
            f"registry {attacher.client.registry}: {digest_reference(attacher.repo, subject_digest)} is not in the repository; "
            "push the image before attaching its SBOM",
            registry=attacher.client.registry,
            method="HEAD",
            status=404,
        )
    if not length.isdigit():
        raise RegistryError(
            f"registry {attacher.client.registry}: HEAD of {digest_reference(attacher.repo, subject_digest)} answered without a "
            "Content-Length; the registry does not follow the distribution spec",
            registry=attacher.client.registry,
            method="HEAD",
            status=resp.status_code,
        )
    served = resp.headers.get("Content-Type", "").split(";", 1)[0].strip()
    if served in MANIFEST_MEDIA_TYPES and served != subject_media_type:
        raise ValueError(
            f"{digest_reference(attacher.repo, subject_digest)} is a {served}, not a {subject_media_type}; "
            "pass the subject's real media type (the referrer's subject descriptor must match it)"
        )
    return int(length)


def _read_index(attacher: _Attacher, tag: str) -> dict[str, Any] | None:
    """The index at ``tag``, or None when the tag does not exist."""
    try:
        fetched = get_manifest(attacher.client, f"{attacher.repo}", tag)
    except RegistryError as e:
        if e.is_not_found:
            return None
        raise
    if fetched.media_type != OCI_INDEX:
        raise RegistryError(
            f"registry {attacher.client.registry}: {attacher.repo}:{tag} is a {fetched.media_type}, not an OCI "
            "image index; it cannot be the referrers fallback tag — delete or rename that tag",
            registry=attacher.client.registry,
        )
    doc = fetched.json()
    if not isinstance(doc.get("manifests", []), list):
        raise RegistryError(
            f"registry {attacher.client.registry}: {attacher.repo}:{tag} has no 'manifests' list; "
            "the referrers fallback index is corrupt",
            registry=attacher.client.registry,
        )
    return doc


def _add_to_fallback(attacher: _Attacher, subject_digest: str, entry: dict[str, Any]) -> None:
    """Add ``entry`` to the ``sha256-<hex>`` index unless a descriptor of that digest is there."""
    tag = referrers_fallback_tag(subject_digest)
    doc = _read_index(attacher, tag)
    manifests: list[Any] = list(doc.get("manifests") or []) if doc is not None else []
    if any(isinstance(m, dict) and m.get("digest") == entry["digest"] for m in manifests):
        return
    manifests.append(entry)
    if doc is None:
        doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    else:
        doc = dict(doc, manifests=manifests)  # keep whatever else the index carries, in its order
    attacher.put_manifest(gojson.dumps(doc), OCI_INDEX, tag)


def _referrers_api_lists(attacher: _Attacher, subject_digest: str, digest: str) -> bool:
    """Whether the registry's referrers API answers and already lists ``digest``."""
    listed = _referrers_from_api(attacher.client, attacher.repo, subject_digest, attacher.scopes)
    return listed is not None and any(r.digest == digest for r in listed)


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
    repo = _split_repository(client, repository)
    attacher = _Attacher(client, repo)
    subject_size = _subject_size(attacher, subject_digest, subject_media_type)

    tag_name = cosign_digest = referrer_digest = fallback = None
    referrers_api: bool | None = None
    if cosign_tag:
        tag_name = cosign_sbom_tag(subject_digest)
        config, manifest = cosign_sbom_image(sbom)
        cosign_digest = digest_of(manifest)
        if attacher.digest_at(tag_name) != cosign_digest:
            attacher.ensure_blob(config, OCI_CONFIG)
            attacher.ensure_blob(sbom, COSIGN_SBOM_MEDIA_TYPE)
            attacher.put_manifest(manifest, OCI_MANIFEST, tag_name)

    if referrer:
        manifest = referrer_manifest(sbom, subject_digest, subject_media_type, subject_size)
        referrer_digest = digest_of(manifest)
        entry = _descriptor(OCI_MANIFEST, manifest, artifact_type=SPDX_ARTIFACT_TYPE).to_json()
        if attacher.digest_at(referrer_digest) != referrer_digest:
            attacher.ensure_blob(EMPTY_CONFIG, EMPTY_CONFIG_MEDIA_TYPE)
            attacher.ensure_blob(sbom, SPDX_ARTIFACT_TYPE)
            headers = attacher.put_manifest(manifest, OCI_MANIFEST, referrer_digest)
            referrers_api = headers.get("OCI-Subject", "") == subject_digest
        else:
            # Already pushed: the registry's referrers API (if any) says whether it indexed it.
            referrers_api = _referrers_api_lists(attacher, subject_digest, referrer_digest)
        if not referrers_api:
            fallback = referrers_fallback_tag(subject_digest)
            _add_to_fallback(attacher, subject_digest, entry)

    return AttachResult(
        repository=f"{client.registry}/{repo}",
        subject_digest=subject_digest,
        sbom_digest=digest_of(sbom),
        cosign_tag=tag_name,
        cosign_manifest_digest=cosign_digest,
        referrer_digest=referrer_digest,
        referrers_api=referrers_api,
        fallback_tag=fallback,
        blobs_uploaded=attacher.blobs_uploaded,
        manifests_pushed=attacher.manifests_pushed,
    )


def sbom_missing(client: RegistryClient, repository: str, subject_digest: str) -> str | None:
    """The read-only twin of :func:`attach_sbom` (both conventions, default options): which
    attachment ``repository@subject_digest`` still lacks, in a few words, or None when it has
    ko's ``sha256-<hex>.sbom`` tag and an SPDX referrer (in the referrers API or the fallback
    tag). The SBOM's content is not compared: ours is a function of the image, so an image
    with the same digest has the same SBOM."""
    repo = _split_repository(client, repository)
    tag = cosign_sbom_tag(subject_digest)
    if manifest_digest_at(client, repo, tag) is None:
        return f"SBOM tag {tag}"
    if not list_referrers(client, repository, subject_digest, artifact_type=SPDX_ARTIFACT_TYPE):
        return f"SBOM referrer of {subject_digest}"
    return None


# ------------------------------------------------------------------- listing


def _referrers(doc: dict[str, Any], where: str) -> list[Referrer]:
    out: list[Referrer] = []
    for i, entry in enumerate(doc.get("manifests") or []):
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: manifests[{i}] is not a descriptor object")
        digest = check_digest(entry.get("digest"), f"{where}: manifests[{i}].digest")
        annotations = entry.get("annotations") or {}
        out.append(
            Referrer(
                digest=digest,
                media_type=str(entry.get("mediaType") or ""),
                size=int(entry.get("size") or 0),
                artifact_type=str(entry.get("artifactType") or ""),
                annotations=tuple(sorted((str(k), str(v)) for k, v in annotations.items()))
                if isinstance(annotations, dict)
                else (),
            )
        )
    return out


def _referrers_from_api(client: RegistryClient, repo: str, digest: str, scopes: Any) -> list[Referrer] | None:
    """The referrers API's list, or None when the registry has no referrers API (404)."""
    resp = client.request(
        "GET",
        f"/v2/{repo}/referrers/{digest}",
        scopes=scopes,
        headers={"Accept": OCI_INDEX},
        expected=(200, 404),
    )
    with resp:
        if resp.status_code != 200 or "json" not in resp.headers.get("Content-Type", ""):
            return None  # distribution 2.8: a plain-text "404 page not found"
        body = read_body(
            resp, MAX_MANIFEST_BYTES, where=f"registry {client.registry}: referrers of {digest_reference(repo, digest)}"
        )
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    return _referrers(doc, f"registry {client.registry}: referrers of {digest_reference(repo, digest)}")


def list_referrers(
    client: RegistryClient, repository: str, digest: str, *, artifact_type: str | None = None
) -> tuple[Referrer, ...]:
    """The manifests referring to ``repository@digest``: from the referrers API, else the
    ``sha256-<hex>`` fallback tag (empty when neither exists). ``artifact_type`` filters."""
    check_digest(digest, "subject digest")
    repo = _split_repository(client, repository)
    scopes = [f"repository:{repo}:pull"]
    found = _referrers_from_api(client, repo, digest, scopes)
    if found is None:
        try:
            fetched = get_manifest(client, repo, referrers_fallback_tag(digest))
        except RegistryError as e:
            if e.is_not_found:
                return ()
            raise
        if fetched.media_type != OCI_INDEX:
            raise RegistryError(
                f"registry {client.registry}: {repo}:{referrers_fallback_tag(digest)} is a {fetched.media_type}, "
                "not an OCI image index; it is not a referrers fallback tag",
                registry=client.registry,
            )
        found = _referrers(fetched.json(), f"registry {client.registry}: {repo}:{referrers_fallback_tag(digest)}")
    if artifact_type is not None:
        found = [r for r in found if r.artifact_type == artifact_type]
    return tuple(found)
