"""The bytes cosign signs and stores, byte for byte as cosign v2 writes them.

- The simple-signing payload of ``cosign sign`` (sigstore ``pkg/signature/payload/payload.go``:
  ``Cosign.MarshalJSON``): ``{"critical":{"identity":{"docker-reference":R},"image":
  {"docker-manifest-digest":D},"type":"cosign container image signature"},"optional":O}``,
  where R is the repository (ggcr's ``Repository.Name()``: ``registry/path``) and O the
  ``-a key=value`` annotations (``null`` without any). Go's ``json.Marshal``: compact, keys of
  ``optional`` sorted, HTML characters escaped.
- DSSE (go-securesystemslib ``dsse/envelope.go``, sigstore ``pkg/signature/dsse/dsse.go``):
  the signature covers ``PAE(type, payload) = "DSSEv1 <len(type)> <type> <len(payload)>
  <payload>"``; the envelope is ``{"payloadType":T,"payload":b64,"signatures":[{"keyid":"",
  "sig":b64}]}``.
- The in-toto statement of ``cosign attest`` (cosign ``pkg/cosign/attestation/attestation.go``:
  ``generateStatementHeader``): ``{"_type":"https://in-toto.io/Statement/v0.1",
  "predicateType":P,"subject":[{"name":repo,"digest":{"sha256":hex}}],"predicate":{...}}``.

Pure functions over bytes; the key is ``keys.SigningKey``. No Pants imports.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pants_backend_ko.golang import gojson
from pants_backend_ko.oci.digest import check_digest, digest_hex

__all__ = [
    "SIMPLE_SIGNING_MEDIA_TYPE",
    "COSIGN_SIGNATURE_TYPE",
    "DSSE_MEDIA_TYPE",
    "INTOTO_PAYLOAD_TYPE",
    "INTOTO_STATEMENT_TYPE",
    "simple_signing_payload",
    "pae",
    "dsse_envelope",
    "DsseEnvelope",
    "parse_dsse_envelope",
    "intoto_statement",
]

SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
COSIGN_SIGNATURE_TYPE = "cosign container image signature"
DSSE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
INTOTO_STATEMENT_TYPE = "https://in-toto.io/Statement/v0.1"


def simple_signing_payload(docker_reference: str, digest: str, annotations: Mapping[str, str] | None = None) -> bytes:
    """What ``cosign sign --key ... <docker_reference>@<digest>`` signs (``-a`` gives annotations)."""
    check_digest(digest, "signed digest")
    return gojson.dumps(
        {
            "critical": {
                "identity": {"docker-reference": docker_reference},
                "image": {"docker-manifest-digest": digest},
                "type": COSIGN_SIGNATURE_TYPE,
            },
            "optional": gojson.sorted_map(annotations) if annotations else None,
        }
    )


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding (lengths are byte counts)."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def dsse_envelope(payload_type: str, payload: bytes, signature: bytes) -> bytes:
    """sigstore's ``dsse.WrapSigner(...).SignMessage`` output: one signature, empty key id."""
    return gojson.dumps(
        {
            "payloadType": payload_type,
            "payload": base64.b64encode(payload).decode(),
            "signatures": [{"keyid": "", "sig": base64.b64encode(signature).decode()}],
        }
    )


@dataclass(frozen=True)
class DsseEnvelope:
    payload_type: str
    payload: bytes
    signatures: tuple[bytes, ...]


def _b64(text: Any) -> bytes | None:
    if not isinstance(text, str):
        return None
    # DSSE allows standard and URL-safe base64; both strict, as Go's DecodeString.
    for candidate in (text, text.replace("-", "+").replace("_", "/")):
        try:
            return base64.b64decode(candidate, validate=True)
        except (binascii.Error, ValueError):
            continue
    return None


def parse_dsse_envelope(data: bytes) -> DsseEnvelope | None:
    """A DSSE envelope read back (None when ``data`` is not one); undecodable signatures are dropped."""
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("payloadType"), str):
        return None
    payload = _b64(doc.get("payload"))
    if payload is None:
        return None
    sigs = doc.get("signatures")
    if not isinstance(sigs, list):
        sigs = []
    decoded = (_b64(s.get("sig")) if isinstance(s, dict) else None for s in sigs)
    return DsseEnvelope(doc["payloadType"], payload, tuple(s for s in decoded if s))


def intoto_statement(subjects: Sequence[tuple[str, str]], predicate_type: str, predicate: Mapping[str, Any]) -> bytes:
    """The in-toto v0.1 statement ``cosign attest`` signs; ``subjects`` are (name, sha256 digest)."""
    if not subjects:
        raise ValueError("an in-toto statement needs at least one subject")
    return gojson.dumps(
        {
            "_type": INTOTO_STATEMENT_TYPE,
            "predicateType": predicate_type,
            "subject": [
                {"name": name, "digest": {"sha256": digest_hex(check_digest(digest, f"subject {name}"))}}
                for name, digest in subjects
            ],
            "predicate": predicate,
        }
    )
