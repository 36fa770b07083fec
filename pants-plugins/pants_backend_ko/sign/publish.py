"""Signing what `pants publish` pushed: the entry points the publish process calls.

For one pushed image or index (``SignRequest``), after its manifests, tags and SBOMs are in the
registry:

1. every manifest is signed (the index and each platform image, as ``cosign sign --recursive``),
   under its ``sha256-<hex>.sig`` tag and as an OCI 1.1 referrer (``signatures.py``);
2. with ``sign_sboms``, every SBOM attached to them is signed too: ko's ``sha256-<hex>.sbom``
   image (what ``cosign verify --attachment sbom`` checks) and each SPDX referrer manifest;
3. with provenance inputs, one SLSA v1 statement naming the index and its platform images is
   signed once and stored under each one's ``sha256-<hex>.att`` tag (``attestations.py``).

Nothing already signed by the same key is signed again, and :func:`signing_missing` answers the
same question read-only (for the registry check that lets `publish` skip finished images).
``SigningOptions`` (``options.py``) is the typed message that crosses into the publish process;
the key crosses as its reference (a path or ``env://NAME``), never as bytes, and its password as
``$COSIGN_PASSWORD`` in the process environment.

No transparency log: signatures are not uploaded to Rekor (none is reachable from where this
runs); verify with ``cosign verify --key cosign.pub --insecure-ignore-tlog``. No Pants imports.
"""

from __future__ import annotations

from dataclasses import dataclass

from pants_backend_ko.oci.digest import check_digest
from pants_backend_ko.oci.manifest import Descriptor
from pants_backend_ko.oci.mediatypes import INDEX_TYPES
from pants_backend_ko.oci.reference import parse_repository
from pants_backend_ko.oci.remote.artifacts import ArtifactStore
from pants_backend_ko.oci.remote.attach import SPDX_ARTIFACT_TYPE, cosign_sbom_tag
from pants_backend_ko.oci.remote.descriptors import descriptor_from_json
from pants_backend_ko.oci.remote.transport import RegistryClient
from pants_backend_ko.sign.attestations import AttestResult, attest, attestation_missing
from pants_backend_ko.sign.keys import SigningKey, VerifyingKey
from pants_backend_ko.sign.options import SigningOptions
from pants_backend_ko.sign.payloads import intoto_statement
from pants_backend_ko.sign.provenance import SLSA_PROVENANCE_V1, ProvenanceInputs, slsa_predicate
from pants_backend_ko.sign.signatures import SignResult, sign_digest, signature_missing

__all__ = ["SigningOptions", "SignRequest", "SignReport", "sign_published", "signing_missing"]


@dataclass(frozen=True)
class SignRequest:
    """One pushed image or index to sign: ``registry/path``, its digest, its provenance inputs."""

    repository: str
    digest: str
    provenance: ProvenanceInputs | None = None

    def __post_init__(self) -> None:
        check_digest(self.digest, f"sign request for {self.repository}")


@dataclass(frozen=True)
class SignReport:
    """What :func:`sign_published` did for one image."""

    repository: str
    digest: str
    signatures: tuple[SignResult, ...]  # images first, then SBOM attachments
    attestation: AttestResult | None
    blobs_uploaded: int
    manifests_pushed: int  # signature and attestation images, referrers, fallback indexes

    @property
    def changed(self) -> bool:
        return self.manifests_pushed > 0


def _store(client: RegistryClient, repository: str, *, push: bool) -> tuple[ArtifactStore, str]:
    parsed = parse_repository(repository)
    if parsed.registry != client.registry:
        raise ValueError(f"{repository} is on {parsed.registry}, but the client talks to {client.registry}")
    # The payload's docker-reference is go-containerregistry's Repository.Name(): registry/path.
    return ArtifactStore(client, parsed.repository, push=push), parsed.name


def _image_subjects(store: ArtifactStore, digest: str) -> list[Descriptor]:
    """``digest`` and, for an index, each manifest it lists."""
    fetched = store.manifest(digest)
    if fetched is None:
        raise ValueError(
            f"{store.client.registry}/{store.repo}@{digest} is not in the registry; push it before signing"
        )
    subjects = [Descriptor(media_type=fetched.media_type, size=len(fetched.data), digest=digest)]
    if fetched.media_type in INDEX_TYPES:
        where = f"{store.repo}@{digest}"
        subjects += [descriptor_from_json(m, where) for m in fetched.json().get("manifests") or ()]
    return subjects


def _sbom_subjects(store: ArtifactStore, digest: str) -> list[Descriptor]:
    """The SBOM attachments of ``digest``: ko's ``.sbom`` image and the SPDX referrers."""
    tagged = store.descriptor(cosign_sbom_tag(digest), missing_ok=True)
    found = [tagged] if tagged else []
    for referrer in store.referrers(digest, SPDX_ARTIFACT_TYPE):
        if all(referrer.digest != d.digest for d in found):
            found.append(Descriptor(media_type=referrer.media_type, size=referrer.size, digest=referrer.digest))
    return found


def sign_published(
    client: RegistryClient, key: SigningKey, options: SigningOptions, request: SignRequest
) -> SignReport:
    """Sign (and attest) one pushed image as the module docstring says; idempotent."""
    store, docker_reference = _store(client, request.repository, push=True)
    subjects = _image_subjects(store, request.digest)
    annotations = options.annotation_map
    signatures = [sign_digest(store, d, key, docker_reference, annotations) for d in subjects]
    if options.sign_sboms:
        sboms = [s for d in subjects for s in _sbom_subjects(store, d.digest)]
        signatures += [sign_digest(store, d, key, docker_reference, annotations) for d in sboms]
    attestation = None
    if options.provenance and request.provenance is not None:
        digests = [d.digest for d in subjects]
        statement = intoto_statement(
            [(docker_reference, d) for d in digests], SLSA_PROVENANCE_V1, slsa_predicate(request.provenance)
        )
        attestation = attest(store, digests, key, statement, SLSA_PROVENANCE_V1)
    return SignReport(
        request.repository,
        request.digest,
        tuple(signatures),
        attestation,
        store.blobs_uploaded,
        store.manifests_pushed,
    )


def signing_missing(
    client: RegistryClient,
    key: VerifyingKey,
    options: SigningOptions,
    repository: str,
    digest: str,
    *,
    provenance: bool,
) -> str | None:
    """Read-only: what :func:`sign_published` would still write for ``repository@digest`` (in a
    few words), or None. ``provenance``: whether this image gets an attestation."""
    store, docker_reference = _store(client, repository, push=False)
    subjects = _image_subjects(store, digest)
    signed = list(subjects)
    if options.sign_sboms:
        signed += [s for d in subjects for s in _sbom_subjects(store, d.digest)]
    for subject in signed:
        missing = signature_missing(store, subject, key, docker_reference, options.annotation_map)
        if missing:
            return missing
    if provenance and options.provenance:
        for subject in subjects:
            missing = attestation_missing(store, subject.digest, SLSA_PROVENANCE_V1, key)
            if missing:
                return missing
    return None
