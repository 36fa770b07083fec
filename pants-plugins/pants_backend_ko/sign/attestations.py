"""cosign's attestation image: where ``cosign attest`` stores an in-toto statement and
``cosign verify-attestation`` finds it.

``cosign attest --key ... --type slsaprovenance1`` (cosign ``cmd/cosign/cli/attest/attest.go``)
signs the statement as DSSE (``payloads.dsse_envelope``) and appends the envelope as one layer
(media type ``application/vnd.dsse.envelope.v1+json``, annotations ``predicateType`` and an
empty ``dev.cosignproject.cosign/signature``, from ``static.NewAttestation``) to the attachment
image under ``<repo>:sha256-<hex>.att`` (``AttestationTag``). ``cosign verify-attestation``
reads only that tag: cosign v2 writes no referrer for this format (its OCI 1.1 attestations are
Sigstore bundles, which need a transparency log or a timestamp authority), so neither do we.

One statement may name several subjects (an index and its platform images); cosign accepts an
attestation under a digest's tag when any subject has that digest. So one envelope, signed
once, is stored under each subject's tag.

A subject that already has an attestation of the same predicate type, signed by our key and
naming it, is not attested again (a digest is its content: its first provenance stays true).
:func:`attestation_missing` is the read-only form of that check. No Pants imports.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from pants_backend_ko.oci.digest import check_digest, digest_hex, digest_of
from pants_backend_ko.oci.remote.artifacts import ArtifactStore
from pants_backend_ko.sign.images import TagImage, push_layer, read_tag_image
from pants_backend_ko.sign.keys import SigningKey, VerifyingKey
from pants_backend_ko.sign.payloads import (
    DSSE_MEDIA_TYPE,
    INTOTO_PAYLOAD_TYPE,
    dsse_envelope,
    pae,
    parse_dsse_envelope,
)
from pants_backend_ko.sign.signatures import SIGNATURE_ANNOTATION

__all__ = [
    "PREDICATE_TYPE_ANNOTATION",
    "AttestResult",
    "attestation_tag",
    "find_attestation",
    "attest",
    "attestation_missing",
]

PREDICATE_TYPE_ANNOTATION = "predicateType"


def attestation_tag(digest: str) -> str:
    """cosign's ``AttestationTag``: ``sha256:<hex>`` -> ``sha256-<hex>.att``."""
    return f"sha256-{digest_hex(check_digest(digest, 'attested digest'))}.att"


def _names_subject(statement: bytes, digest: str, predicate_type: str) -> bool:
    try:
        doc = json.loads(statement)
    except ValueError:
        return False
    if not isinstance(doc, dict) or doc.get("predicateType") != predicate_type:
        return False
    subjects = doc.get("subject")
    if not isinstance(subjects, list):
        subjects = []
    return any(
        isinstance(s, dict) and isinstance(s.get("digest"), dict) and s["digest"].get("sha256") == digest_hex(digest)
        for s in subjects
    )


def find_attestation(
    store: ArtifactStore, image: TagImage | None, digest: str, predicate_type: str, key: VerifyingKey
) -> str | None:
    """The digest of a layer of ``image`` that attests ``digest`` with ``predicate_type``, signed by ``key``."""
    if image is None:
        return None
    for layer in image.manifest.layers or ():
        if layer.media_type != DSSE_MEDIA_TYPE or layer.annotations.get(PREDICATE_TYPE_ANNOTATION) != predicate_type:
            continue
        envelope = parse_dsse_envelope(store.blob(layer.digest, layer.size))
        if envelope is None or envelope.payload_type != INTOTO_PAYLOAD_TYPE:
            continue
        signed = pae(envelope.payload_type, envelope.payload)
        if any(key.verify(sig, signed) for sig in envelope.signatures) and _names_subject(
            envelope.payload, digest, predicate_type
        ):
            return layer.digest
    return None


@dataclass(frozen=True)
class AttestResult:
    """What :func:`attest` did: per subject, the ``.att`` tag and whether a layer was added."""

    envelope: str | None  # the digest of the new envelope, None when every subject had one already
    tags: tuple[tuple[str, str, bool], ...]  # (subject digest, tag, attested now)


def attest(
    store: ArtifactStore, subjects: Sequence[str], key: SigningKey, statement: bytes, predicate_type: str
) -> AttestResult:
    """Store ``statement`` (naming ``subjects``), signed once as DSSE, under each subject's ``.att``
    tag that lacks an attestation of ``predicate_type`` by ``key``."""
    envelope: bytes | None = None
    tags = []
    annotations = {PREDICATE_TYPE_ANNOTATION: predicate_type, SIGNATURE_ANNOTATION: ""}
    for digest in subjects:
        tag = attestation_tag(digest)
        existing = read_tag_image(store, tag)
        if find_attestation(store, existing, digest, predicate_type, key.verifying_key) is not None:
            tags.append((digest, tag, False))
            continue
        if envelope is None:
            envelope = dsse_envelope(INTOTO_PAYLOAD_TYPE, statement, key.sign(pae(INTOTO_PAYLOAD_TYPE, statement)))
        push_layer(store, tag, existing, envelope, DSSE_MEDIA_TYPE, annotations)
        tags.append((digest, tag, True))
    return AttestResult(digest_of(envelope) if envelope else None, tuple(tags))


def attestation_missing(store: ArtifactStore, digest: str, predicate_type: str, key: VerifyingKey) -> str | None:
    """Read-only: None when ``digest`` has an attestation of ``predicate_type`` by ``key``, else what is missing."""
    tag = attestation_tag(digest)
    if find_attestation(store, read_tag_image(store, tag), digest, predicate_type, key) is None:
        return f"attestation {tag}"
    return None
