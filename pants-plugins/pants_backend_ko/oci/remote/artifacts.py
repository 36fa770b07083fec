"""Small attachments in one repository: blobs, tagged manifests, and OCI 1.1 referrers.

What cosign (and ko, through cosign's libraries) does through go-containerregistry's
``remote.Write``/``remote.Put`` (``pkg/v1/remote/write.go``): blobs are uploaded unless a
``HEAD`` finds them; a manifest with a ``subject`` is ``PUT`` by digest, and when the answer has
no ``OCI-Subject`` header (distribution 2.8 never sends one) the OCI 1.1 referrers tag schema is
maintained by hand: the index tagged ``sha256-<hex>`` gets a descriptor of the referrer (with its
artifact type), unless it lists it already. Reading goes the same two ways: the referrers API
(``GET /v2/<repo>/referrers/<digest>``), else that fallback tag.

Everything is content-addressed and checked first, so writing the same attachment again writes
nothing (``blobs_uploaded``/``manifests_pushed`` count what was written). The SBOM attachments
(``attach.py``) and the signatures and attestations (``sign/``) are all written through
:class:`ArtifactStore`. The fallback index is updated by read-then-write: two writers of
referrers of the *same subject* must not run at the same time (the publish tool attaches and
signs one image after the other). No Pants imports.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pants_backend_ko.golang import gojson
from pants_backend_ko.oci.digest import check_digest, digest_hex, digest_of
from pants_backend_ko.oci.manifest import Descriptor
from pants_backend_ko.oci.mediatypes import OCI_INDEX
from pants_backend_ko.oci.reference import digest_reference, looks_like_registry, parse_repository
from pants_backend_ko.oci.remote.descriptors import MANIFEST_ACCEPT, MAX_MANIFEST_BYTES
from pants_backend_ko.oci.remote.errors import RegistryError
from pants_backend_ko.oci.remote.limits import read_body
from pants_backend_ko.oci.remote.pull import FetchedManifest, get_manifest, get_small_blob, manifest_digest_at
from pants_backend_ko.oci.remote.push import push_blob_bytes, put_manifest_bytes
from pants_backend_ko.oci.remote.transport import RegistryClient

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_ATTACHMENT_BYTES",
    "Referrer",
    "ReferrerWrite",
    "ArtifactStore",
    "referrers_fallback_tag",
    "repository_path",
    "list_referrers",
]

MAX_ATTACHMENT_BYTES = 16 * 1024 * 1024  # a signature payload or an attestation envelope


def referrers_fallback_tag(subject_digest: str) -> str:
    """The OCI 1.1 referrers tag schema: ``sha256:<hex>`` -> ``sha256-<hex>``."""
    check_digest(subject_digest, "subject digest")
    return f"sha256-{digest_hex(subject_digest)}"


@dataclass(frozen=True)
class Referrer:
    """One entry of a referrers list: the referring manifest and its artifact type."""

    digest: str
    media_type: str
    size: int
    artifact_type: str
    annotations: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ReferrerWrite:
    """What :meth:`ArtifactStore.put_referrer` did."""

    digest: str  # the referrer manifest
    written: bool  # False when it was there and listed already
    indexed_by_registry: bool  # the registry lists referrers itself (OCI-Subject, or its API lists it)
    fallback_tag: str | None  # "sha256-<hex>" when the fallback index lists it (maintained here)


def repository_path(client: RegistryClient, repository: str) -> str:
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


# ------------------------------------------------------------------- listing


def _referrers(doc: Mapping[str, Any], where: str) -> list[Referrer]:
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


def _referrers_from_api(client: RegistryClient, repo: str, digest: str, scopes: Sequence[str]) -> list[Referrer] | None:
    """The referrers API's list, or None when the registry has no referrers API (404)."""
    resp = client.request(
        "GET",
        f"/v2/{repo}/referrers/{digest}",
        scopes=list(scopes),
        headers={"Accept": OCI_INDEX},
        expected=(200, 404),
    )
    where = f"registry {client.registry}: referrers of {digest_reference(repo, digest)}"
    with resp:
        if resp.status_code != 200 or "json" not in resp.headers.get("Content-Type", ""):
            return None  # distribution 2.8: a plain-text "404 page not found"
        body = read_body(resp, MAX_MANIFEST_BYTES, where=where)
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    return _referrers(doc, where) if isinstance(doc, dict) else None


def _fallback_index(fetched: FetchedManifest | None, registry: str, repo: str, tag: str) -> dict[str, Any] | None:
    """The fallback index at ``tag`` as JSON, None when the tag does not exist; a tag that holds
    something else is an error (it cannot be the referrers tag)."""
    if fetched is None:
        return None
    if fetched.media_type != OCI_INDEX:
        raise RegistryError(
            f"registry {registry}: {repo}:{tag} is a {fetched.media_type}, not an OCI image index; "
            "it cannot be the referrers fallback tag — delete or rename that tag",
            registry=registry,
        )
    doc = fetched.json()
    if not isinstance(doc.get("manifests", []), list):
        raise RegistryError(
            f"registry {registry}: {repo}:{tag} has no 'manifests' list; the referrers fallback index is corrupt",
            registry=registry,
        )
    return doc


def _get_manifest_or_none(client: RegistryClient, repo: str, reference: str) -> FetchedManifest | None:
    try:
        return get_manifest(client, repo, reference)
    except RegistryError as e:
        if e.is_not_found:
            return None
        raise


def _list(client: RegistryClient, repo: str, digest: str, scopes: Sequence[str]) -> tuple[tuple[Referrer, ...], bool]:
    """(the referrers of ``repo@digest``, whether the registry's API gave them)."""
    found = _referrers_from_api(client, repo, digest, scopes)
    if found is not None:
        return tuple(found), True
    tag = referrers_fallback_tag(digest)
    doc = _fallback_index(_get_manifest_or_none(client, repo, tag), client.registry, repo, tag)
    if doc is None:
        return (), False
    return tuple(_referrers(doc, f"registry {client.registry}: {repo}:{tag}")), False


def list_referrers(
    client: RegistryClient, repository: str, digest: str, *, artifact_type: str | None = None
) -> tuple[Referrer, ...]:
    """The manifests referring to ``repository@digest`` (``repository`` is a path on the client's
    registry, or ``registry/path``): from the referrers API, else the ``sha256-<hex>`` fallback
    tag (empty when neither exists). ``artifact_type`` filters."""
    check_digest(digest, "subject digest")
    repo = repository_path(client, repository)
    found, _ = _list(client, repo, digest, [f"repository:{repo}:pull"])
    if artifact_type is not None:
        found = tuple(r for r in found if r.artifact_type == artifact_type)
    return found


# ------------------------------------------------------------------- the store


class ArtifactStore:
    """One repository (a path) on one registry, read and written through ``client``;
    ``push=False`` asks only for pull access (the read-only checks)."""

    def __init__(self, client: RegistryClient, repository: str, *, push: bool = True) -> None:
        self.client = client
        self.repo = repository
        self.scopes = (f"repository:{repository}:{'pull,push' if push else 'pull'}",)
        self.blobs_uploaded = 0
        self.manifests_pushed = 0
        self._referrers: dict[str, tuple[tuple[Referrer, ...], bool]] = {}

    # ------------------------------------------------------------------ reads

    def manifest(self, reference: str) -> FetchedManifest | None:
        """The manifest at a tag or digest, or None when there is none."""
        return _get_manifest_or_none(self.client, self.repo, reference)

    def blob(self, digest: str, size: int | None = None) -> bytes:
        return get_small_blob(self.client, self.repo, digest, expected_size=size, max_size=MAX_ATTACHMENT_BYTES)

    def digest_at(self, reference: str) -> str | None:
        """The digest a tag (or digest) names, None when absent (one ``HEAD``)."""
        return manifest_digest_at(self.client, self.repo, reference, scopes=self.scopes)

    def descriptor(self, reference: str, *, missing_ok: bool = False, purpose: str = "") -> Descriptor | None:
        """The descriptor of the manifest at a digest or tag (a ``subject``): media type, size and
        digest from one ``HEAD``; None when absent and ``missing_ok``, else an error saying to push
        the image before ``purpose`` ("signing it")."""
        resp = self.client.request(
            "HEAD",
            f"/v2/{self.repo}/manifests/{reference}",
            scopes=self.scopes,
            headers={"Accept": ", ".join(MANIFEST_ACCEPT)},  # distribution hides indexes otherwise
            expected=(200, 404),
        )
        resp.close()
        where = f"{self.repo}@{reference}" if reference.startswith("sha256:") else f"{self.repo}:{reference}"
        if resp.status_code == 404:
            if missing_ok:
                return None
            raise RegistryError(
                f"registry {self.client.registry}: {where} is not in the repository; "
                f"push the image {'before ' + purpose if purpose else 'first'}",
                registry=self.client.registry,
                method="HEAD",
                status=404,
            )
        media_type = resp.headers.get("Content-Type", "").split(";", 1)[0].strip()
        length = resp.headers.get("Content-Length", "")
        digest = reference if reference.startswith("sha256:") else resp.headers.get("Docker-Content-Digest", "")
        if not media_type or not length.isdigit() or not digest.startswith("sha256:"):
            raise RegistryError(
                f"registry {self.client.registry}: HEAD of {where} answered without a media type, "
                "size or digest; the registry does not follow the distribution spec",
                registry=self.client.registry,
                method="HEAD",
                status=resp.status_code,
            )
        return Descriptor(media_type=media_type, size=int(length), digest=digest)

    def _listing(self, subject_digest: str) -> tuple[tuple[Referrer, ...], bool]:
        # Read once per subject (and again after this store adds a referrer to it).
        if subject_digest not in self._referrers:
            self._referrers[subject_digest] = _list(self.client, self.repo, subject_digest, self.scopes)
        return self._referrers[subject_digest]

    def referrers(self, subject_digest: str, artifact_type: str) -> tuple[Referrer, ...]:
        """The referrers of ``subject_digest`` with ``artifact_type``."""
        return tuple(r for r in self._listing(subject_digest)[0] if r.artifact_type == artifact_type)

    # ----------------------------------------------------------------- writes

    def ensure_blob(self, data: bytes, media_type: str) -> str:
        """Upload ``data`` unless the repository has it (POST, then one PUT); its digest."""
        self.blobs_uploaded += push_blob_bytes(self.client, self.repo, data, media_type, scopes=self.scopes)
        return digest_of(data)

    def put_manifest(self, data: bytes, media_type: str, reference: str) -> Mapping[str, str]:
        """PUT a manifest at a tag or its digest; the response headers (for ``OCI-Subject``)."""
        headers = put_manifest_bytes(self.client, self.repo, data, media_type, reference, scopes=self.scopes)
        self.manifests_pushed += 1
        return headers

    def put_referrer(
        self,
        data: bytes,
        media_type: str,
        subject_digest: str,
        artifact_type: str,
        blobs: Sequence[tuple[bytes, str]] = (),
    ) -> ReferrerWrite:
        """Make the manifest ``data`` (whose ``subject`` is ``subject_digest``; its ``blobs`` are
        uploaded first) a listed referrer of that subject."""
        digest = digest_of(data)
        listing, from_api = self._listing(subject_digest)
        listed = any(r.digest == digest and r.artifact_type == artifact_type for r in listing)
        fallback = referrers_fallback_tag(subject_digest)
        if listed and self.digest_at(digest) == digest:
            return ReferrerWrite(digest, False, from_api, None if from_api else fallback)
        for blob, blob_media_type in blobs:
            self.ensure_blob(blob, blob_media_type)
        headers = self.put_manifest(data, media_type, digest)
        self._referrers.pop(subject_digest, None)
        indexed = headers.get("OCI-Subject", "") == subject_digest
        if indexed:
            return ReferrerWrite(digest, True, True, None)
        if not listed:
            entry = {"mediaType": media_type, "size": len(data), "digest": digest, "artifactType": artifact_type}
            self._add_to_fallback(subject_digest, entry)
        return ReferrerWrite(digest, True, False, fallback)

    def _add_to_fallback(self, subject_digest: str, entry: dict[str, Any]) -> None:
        """Add ``entry`` to the ``sha256-<hex>`` index unless a descriptor of that digest is there."""
        tag = referrers_fallback_tag(subject_digest)
        doc = _fallback_index(self.manifest(tag), self.client.registry, self.repo, tag)
        if doc is None:
            doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
        manifests = list(doc.get("manifests") or [])
        if any(isinstance(m, dict) and m.get("digest") == entry["digest"] for m in manifests):
            return
        # Keep whatever else the index carries, in its order.
        self.put_manifest(gojson.dumps(dict(doc, manifests=[*manifests, entry])), OCI_INDEX, tag)
