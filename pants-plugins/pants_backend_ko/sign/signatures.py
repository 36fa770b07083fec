"""cosign's signature image: where ``cosign sign`` stores a signature and ``cosign verify`` finds it.

A signature is one layer of a small OCI image (cosign ``pkg/oci/empty``, ``pkg/oci/static``,
``pkg/oci/mutate/signatures.go``): the layer is the payload (``payloads.simple_signing_payload``,
media type ``application/vnd.dev.cosign.simplesigning.v1+json``), its descriptor carries the
base64 signature in the annotation ``dev.cosignproject.cosign/signature``. The image starts as
go-containerregistry's empty image (OCI manifest and config media types) and each signature
appends a layer (``mutate.Append``: one diff ID and one empty history entry in the config, one
layer descriptor in the manifest), so signatures accumulate under one tag:

- ``<repo>:sha256-<hex>.sig`` (cosign ``pkg/oci/remote``: ``SignatureTag``), read by
  ``cosign verify``;
- and, as ``cosign sign --registry-referrers-mode=oci-1-1`` writes it
  (``WriteSignaturesExperimentalOCI``), the same manifest with its config media type set to
  ``application/vnd.dev.cosign.artifact.sig.v1+json`` and a ``subject``: an OCI 1.1 referrer
  of the signed manifest, read by ``cosign verify --experimental-oci11``.

Signing a digest that already carries a signature by the same key over the same payload writes
nothing (cosign's ``DupeDetector``: same payload digest and media type, and the stored signature
verifies with our key; ECDSA signatures are randomised, so comparing bytes would not do).
:func:`signature_missing` is the read-only form of that check. No Pants imports.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from pants_backend_ko.oci.digest import check_digest, digest_hex, digest_of
from pants_backend_ko.oci.manifest import Descriptor, ImageManifest
from pants_backend_ko.oci.remote.artifacts import ArtifactStore
from pants_backend_ko.sign.images import push_layer, read_tag_image
from pants_backend_ko.sign.keys import SigningKey, VerifyingKey
from pants_backend_ko.sign.payloads import SIMPLE_SIGNING_MEDIA_TYPE, simple_signing_payload

__all__ = [
    "SIGNATURE_ANNOTATION",
    "SIGNATURE_ARTIFACT_TYPE",
    "SignResult",
    "signature_tag",
    "signature_referrer",
    "find_signature",
    "sign_digest",
    "signature_missing",
]

SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
# cosign internal/pkg/oci/remote: ArtifactType("sig").
SIGNATURE_ARTIFACT_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"


def signature_tag(digest: str) -> str:
    """cosign's ``SignatureTag``: ``sha256:<hex>`` -> ``sha256-<hex>.sig``."""
    return f"sha256-{digest_hex(check_digest(digest, 'signed digest'))}.sig"


def signature_referrer(signature_manifest: bytes, subject: Descriptor) -> bytes:
    """cosign's ``WriteSignaturesExperimentalOCI``: the signature manifest as a referrer of ``subject``."""
    manifest = ImageManifest.parse(signature_manifest, "signature manifest")
    return dataclasses.replace(
        manifest,
        config=dataclasses.replace(manifest.config, media_type=SIGNATURE_ARTIFACT_TYPE),
        subject=Descriptor(media_type=subject.media_type, size=subject.size, digest=subject.digest),
    ).to_bytes()


def find_signature(manifest: ImageManifest | None, payload: bytes, key: VerifyingKey) -> Descriptor | None:
    """The layer of ``manifest`` that is ``payload`` signed by ``key`` (cosign's ``DupeDetector``)."""
    if manifest is None:
        return None
    digest = digest_of(payload)
    for layer in manifest.layers or ():
        if layer.digest != digest or layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE:
            continue
        try:
            signature = base64.b64decode(layer.annotations.get(SIGNATURE_ANNOTATION, ""), validate=True)
        except (binascii.Error, ValueError):
            continue
        if signature and key.verify(signature, payload):
            return layer
    return None


@dataclass(frozen=True)
class SignResult:
    """What :func:`sign_digest` did for one signed digest."""

    digest: str  # the signed manifest or index
    tag: str  # sha256-<hex>.sig
    signature_manifest: str  # the digest under that tag afterwards
    referrer: str  # the OCI 1.1 referrer manifest's digest
    signed: bool  # False when the signature was already there (nothing new signed)


def sign_digest(
    store: ArtifactStore,
    subject: Descriptor,
    key: SigningKey,
    docker_reference: str,
    annotations: Mapping[str, str] | None = None,
) -> SignResult:
    """Sign ``subject`` (a manifest or index in ``store``'s repository) as ``cosign sign`` does and
    store it under both the ``.sig`` tag and an OCI 1.1 referrer; nothing new when already signed."""
    digest = subject.digest
    tag = signature_tag(digest)
    payload = simple_signing_payload(docker_reference, digest, annotations)
    existing = read_tag_image(store, tag)
    signed = find_signature(existing.manifest if existing else None, payload, key.verifying_key) is None
    if signed:
        signature = base64.b64encode(key.sign(payload)).decode()
        image = push_layer(store, tag, existing, payload, SIMPLE_SIGNING_MEDIA_TYPE, {SIGNATURE_ANNOTATION: signature})
    else:
        assert existing is not None
        image = existing
    referrer = signature_referrer(image.data, subject)
    referrer_digest = store.put_referrer(referrer, image.media_type, digest, SIGNATURE_ARTIFACT_TYPE).digest
    return SignResult(digest, tag, image.digest, referrer_digest, signed)


def signature_missing(
    store: ArtifactStore,
    subject: Descriptor,
    key: VerifyingKey,
    docker_reference: str,
    annotations: Mapping[str, str] | None = None,
) -> str | None:
    """Read-only: what :func:`sign_digest` would still write for ``subject``, in a few words, or None."""
    digest = subject.digest
    tag = signature_tag(digest)
    image = read_tag_image(store, tag)
    payload = simple_signing_payload(docker_reference, digest, annotations)
    if image is None or find_signature(image.manifest, payload, key) is None:
        return f"signature {tag}"
    referrer = digest_of(signature_referrer(image.data, subject))
    if not any(r.digest == referrer for r in store.referrers(digest, SIGNATURE_ARTIFACT_TYPE)):
        return f"signature referrer of {digest}"
    return None
