"""Signing published images as cosign does, and SLSA v1 provenance attestations. No Pants imports.

  keys.py          cosign's encrypted private key (``cosign generate-key-pair``): load, verify
  payloads.py      the bytes cosign signs: simple-signing payload, DSSE envelope, in-toto statement
  options.py       how to sign: the typed message the push and check processes get (no secret in it)
  provenance.py    the build's inputs (a typed message the Pants rules fill) -> SLSA v1 predicate
  signatures.py    the ``sha256-<hex>.sig`` signature image and its referrer; "already signed?"
  attestations.py  the ``sha256-<hex>.att`` attestation image; "already attested?"
  publish.py       what `pants publish` calls: sign and attest what it pushed, or say what is missing

Registry writes go through ``oci/remote/artifacts.py`` (blobs, tagged manifests, OCI 1.1
referrers), as the SBOM attachments do. Verified against the real cosign (tests/test_signing.py): ``cosign verify`` and
``cosign verify-attestation --type slsaprovenance1`` accept what this package writes.
"""
