"""Reading and writing small attachments in one repository: blobs, tagged manifests, referrers.

What cosign does through go-containerregistry's ``remote.Write``/``remote.Put``
(``pkg/v1/remote/write.go``): blobs are uploaded unless a ``HEAD`` finds them; a manifest
with a ``subject`` is ``PUT`` by digest, and when the answer has no ``OCI-Subject`` header
(distribution 2.8 never sends one) the OCI 1.1 referrers tag schema is maintained by hand: the
index tagged ``sha256-<hex>`` gets a descriptor of the referrer (with its artifact type: the
manifest's ``artifactType``, else its config media type), unless it lists it already.

Everything is content-addressed and checked first, so writing the same attachment again
writes nothing (``blobs_uploaded``/``manifests_pushed`` count what was written).

This is the generic half of ``oci/remote/attach.py`` (which writes SBOMs the same way);
the two are meant to become one. No Pants imports.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pants_backend_ko.golang import gojson
from pants_backend_ko.oci.digest import digest_of
from pants_backend_ko.oci.manifest import Descriptor
from pants_backend_ko.oci.mediatypes import OCI_INDEX
from pants_backend_ko.oci.remote.attach import Referrer, list_referrers, referrers_fallback_tag
from pants_backend_ko.oci.remote.descriptors import MANIFEST_ACCEPT
from pants_backend_ko.oci.remote.errors import RegistryError
from pants_backend_ko.oci.remote.pull import FetchedManifest, get_manifest, get_small_blob, manifest_digest_at
from pants_backend_ko.oci.remote.push import push_blob_bytes, put_manifest_bytes
from pants_backend_ko.oci.remote.transport import RegistryClient

logger = logging.getLogger(__name__)

__all__ = ["ArtifactStore", "MAX_ATTACHMENT_BYTES"]

MAX_ATTACHMENT_BYTES = 16 * 1024 * 1024  # a signature payload or an attestation envelope


class ArtifactStore:
    """One repository on one registry, read and written through ``client``; ``push=False``
    asks only for pull access (the read-only checks)."""

    def __init__(self, client: RegistryClient, repository: str, *, push: bool = True) -> None:
        self.client = client
        self.repo = repository
        self.scopes = (f"repository:{repository}:{'pull,push' if push else 'pull'}",)
        self.blobs_uploaded = 0
        self.manifests_pushed = 0
        self._referrers: dict[str, tuple[Referrer, ...]] = {}

    # ------------------------------------------------------------------ reads

    def manifest(self, reference: str) -> FetchedManifest | None:
        """The manifest at a tag or digest, or None when there is none."""
        try:
            return get_manifest(self.client, self.repo, reference)
        except RegistryError as e:
            if e.is_not_found:
                return None
            raise

    def blob(self, digest: str, size: int | None = None) -> bytes:
        return get_small_blob(self.client, self.repo, digest, expected_size=size, max_size=MAX_ATTACHMENT_BYTES)

    def descriptor(self, reference: str, *, missing_ok: bool = False) -> Descriptor | None:
        """The descriptor of the manifest at a digest or tag (a ``subject``): media type, size and
        digest from one HEAD; None when absent and ``missing_ok``."""
        resp = self.client.request(
            "HEAD",
            f"/v2/{self.repo}/manifests/{reference}",
            scopes=self.scopes,
            headers={"Accept": ", ".join(MANIFEST_ACCEPT)},  # distribution hides indexes otherwise
            expected=(200, 404),
        )
        resp.close()
        if resp.status_code == 404:
            if missing_ok:
                return None
            raise RegistryError(
                f"registry {self.client.registry}: {self.repo}@{reference} is not in the repository; "
                "push the image before signing it",
                registry=self.client.registry,
                method="HEAD",
                status=404,
            )
        media_type = resp.headers.get("Content-Type", "").split(";", 1)[0].strip()
        length = resp.headers.get("Content-Length", "")
        digest = reference if reference.startswith("sha256:") else resp.headers.get("Docker-Content-Digest", "")
        if not media_type or not length.isdigit() or not digest.startswith("sha256:"):
            raise RegistryError(
                f"registry {self.client.registry}: HEAD of {self.repo}:{reference} answered without a media type, "
                "size or digest; the registry does not follow the distribution spec",
                registry=self.client.registry,
                method="HEAD",
                status=resp.status_code,
            )
        return Descriptor(media_type=media_type, size=int(length), digest=digest)

    def referrers(self, subject_digest: str, artifact_type: str) -> tuple[Referrer, ...]:
        """The referrers of ``subject_digest`` with ``artifact_type``; the list is read once per
        subject (and again after this store adds a referrer to it)."""
        if subject_digest not in self._referrers:
            self._referrers[subject_digest] = list_referrers(self.client, self.repo, subject_digest)
        return tuple(r for r in self._referrers[subject_digest] if r.artifact_type == artifact_type)

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

    def put_referrer(self, data: bytes, media_type: str, subject_digest: str, artifact_type: str) -> str:
        """Make the manifest ``data`` (whose ``subject`` is ``subject_digest``) a listed referrer; its digest."""
        digest = digest_of(data)
        listed = any(r.digest == digest for r in self.referrers(subject_digest, artifact_type))
        if listed and manifest_digest_at(self.client, self.repo, digest, scopes=self.scopes) == digest:
            return digest
        headers = self.put_manifest(data, media_type, digest)
        self._referrers.pop(subject_digest, None)
        if headers.get("OCI-Subject", "") != subject_digest and not listed:
            entry = {"mediaType": media_type, "size": len(data), "digest": digest, "artifactType": artifact_type}
            self._add_to_fallback(subject_digest, entry)
        return digest

    def _add_to_fallback(self, subject_digest: str, entry: dict[str, Any]) -> None:
        tag = referrers_fallback_tag(subject_digest)
        fetched = self.manifest(tag)
        if fetched is not None and fetched.media_type != OCI_INDEX:
            raise RegistryError(
                f"registry {self.client.registry}: {self.repo}:{tag} is a {fetched.media_type}, not an OCI image "
                "index; it cannot be the referrers fallback tag — delete or rename that tag",
                registry=self.client.registry,
            )
        doc = fetched.json() if fetched is not None else {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
        manifests = list(doc.get("manifests") or [])
        if any(isinstance(m, dict) and m.get("digest") == entry["digest"] for m in manifests):
            return
        # Keep whatever else the index carries, in its order.
        self.put_manifest(gojson.dumps(dict(doc, manifests=[*manifests, entry])), OCI_INDEX, tag)
