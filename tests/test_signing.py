"""The signing core (pants_backend_ko.sign) against the real cosign v2.6.1 and real registries.

Keys come from ``cosign generate-key-pair`` (with a password); images are pushed with our
registry client; what our core writes must pass ``cosign verify`` (by the ``.sig`` tag and by the
OCI 1.1 referrer), ``cosign verify --attachment sbom`` and ``cosign verify-attestation --type
slsaprovenance1``, and fail them once tampered with. Byte-level parity: cosign's own signature
and attestation images for the same payload rebuild to the same bytes with our code.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from pants_backend_ko.golang.gobuildinfo import parse_go_version_m
from pants_backend_ko.oci.digest import digest_of
from pants_backend_ko.oci.manifest import ImageManifest
from pants_backend_ko.oci.mediatypes import OCI_CONFIG, OCI_MANIFEST
from pants_backend_ko.oci.reference import parse_reference
from pants_backend_ko.oci.remote.attach import SPDX_ARTIFACT_TYPE, attach_sbom, cosign_sbom_tag, list_referrers
from pants_backend_ko.oci.remote.pull import manifest_digest_at
from pants_backend_ko.oci.remote.push import push_layout
from pants_backend_ko.golang.gobuildinfo import parse_go_version_m
from pants_backend_ko.oci.remote.artifacts import ArtifactStore
from pants_backend_ko.sign.attestations import attestation_tag
from pants_backend_ko.sign.images import append_layer
from pants_backend_ko.sign.keys import SigningKey, SigningKeyError, load_signing_key, load_verifying_key
from pants_backend_ko.sign.payloads import (
    DSSE_MEDIA_TYPE,
    INTOTO_PAYLOAD_TYPE,
    SIMPLE_SIGNING_MEDIA_TYPE,
    intoto_statement,
    parse_dsse_envelope,
    simple_signing_payload,
)
from pants_backend_ko.sign.provenance import (
    SLSA_PROVENANCE_V1,
    BaseImageInput,
    BinaryInput,
    ProvenanceInputs,
    SourceInput,
    slsa_predicate,
)
from pants_backend_ko.sign.publish import SigningOptions, SignReport, SignRequest, sign_published, signing_missing
from pants_backend_ko.sign.signatures import (
    SIGNATURE_ANNOTATION,
    SIGNATURE_ARTIFACT_TYPE,
    signature_referrer,
    signature_tag,
)
from tests.peers.cosign import Cosign, CosignKeys
from tests.peers.registry import RegistryPeer, client_for, write_test_layout
from tests.test_security import scan

pytestmark = pytest.mark.peers


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def signing_key(cosign_keys) -> SigningKey:
    return load_signing_key(str(cosign_keys.private), environ={"COSIGN_PASSWORD": cosign_keys.password})


@pytest.fixture(scope="session")
def provenance_inputs(cosign) -> ProvenanceInputs:
    """Real build inputs: cosign's own build info (`go version -m`) stands for a ko_image binary."""
    info = parse_go_version_m(
        subprocess.run(["go", "version", "-m", str(cosign.binary)], capture_output=True, text=True, check=True).stdout
    )
    binary = BinaryInput.from_build_info(info, "linux/amd64", flags=("-trimpath",), ldflags=("-s", "-w"))
    return ProvenanceInputs(
        target="src/go/cmd/cosign:cosign",
        go_version=info.go_version,
        binaries=(binary, BinaryInput.from_build_info(info, "linux/arm64", flags=("-trimpath",))),
        base_image=BaseImageInput("cgr.dev/chainguard/static:latest", digest_of(b"base index")),
        source=SourceInput(
            "https://user:hunter2@git.example.com/acme/app.git", "0123456789abcdef0123456789abcdef01234567"
        ),
        pants_version="2.17.1",
    )


@dataclass(frozen=True)
class Published:
    peer: RegistryPeer
    repository: str  # registry/path
    digest: str  # the index
    children: list[str]
    workdir: Path

    def ref(self, digest: str = "") -> str:
        return f"{self.repository}@{digest or self.digest}"


def publish_index(
    peer: RegistryPeer, workdir: Path, repo: str, *, sboms: bool = True, single: bool = False
) -> Published:
    """An index of two images (or one image) pushed with our client, with SBOMs attached as
    `pants publish` does."""
    layout = write_test_layout(str(workdir / f"layout-{repo.replace('/', '-')}"), single=single)
    with client_for(peer, str(workdir)) as client:
        pushed = push_layout(layout.path, f"{peer.host}/{repo}", ["latest"], client=client)
        children = [] if single else [image.manifest_digest for image in layout.images]
        if sboms:
            for digest, media_type in [(pushed.digest, pushed.media_type)] + [
                (c, ImageManifest.parse(i.manifest_bytes).media_type) for c, i in zip(children, layout.images)
            ]:
                sbom = json.dumps({"spdxVersion": "SPDX-2.3", "name": digest}).encode()
                attach_sbom(client, f"{peer.host}/{repo}", digest, media_type, sbom)
    return Published(peer, f"{peer.host}/{repo}", pushed.digest, children, workdir)


def sign(published: Published, key: SigningKey, provenance: ProvenanceInputs | None, **options) -> SignReport:
    with client_for(published.peer, str(published.workdir)) as client:
        return sign_published(
            client,
            key,
            SigningOptions(key=key.source, **options),
            SignRequest(published.repository, published.digest, provenance),
        )


def missing(published: Published, key: SigningKey, *, provenance: bool = True, digest: str = "") -> str | None:
    with client_for(published.peer, str(published.workdir)) as client:
        return signing_missing(
            client,
            key.verifying_key,
            SigningOptions(key=key.source),
            published.repository,
            digest or published.digest,
            provenance=provenance,
        )


def verify(
    cosign: Cosign,
    keys: CosignKeys,
    published: Published,
    ref: str,
    *extra: str,
    check: bool = True,
    command: str = "verify",
):
    env = published.peer.docker_config_env(str(published.workdir / "cosign-docker"))
    return cosign.run(command, *cosign.verify_args(keys.public, *extra), ref, env=env, check=check)


@pytest.fixture(scope="module")
def signed(registry_plain, signing_key, provenance_inputs, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("signed")
    published = publish_index(registry_plain, workdir, f"t/signed-{secrets.token_hex(4)}")
    assert missing(published, signing_key) == f"signature {signature_tag(published.digest)}"
    report = sign(published, signing_key, provenance_inputs)
    return published, report


# --------------------------------------------------------------------- keys


def test_cosign_made_key_loads_from_a_file_and_from_the_environment(cosign_keys, signing_key):
    assert signing_key.verifying_key.pem == cosign_keys.public.read_bytes()
    pem = cosign_keys.private.read_text()
    from_env = load_signing_key(
        "env://SIGNING_KEY", environ={"SIGNING_KEY": pem, "COSIGN_PASSWORD": cosign_keys.password}
    )
    assert from_env.verifying_key.pem == cosign_keys.public.read_bytes()
    assert load_verifying_key(cosign_keys.public.read_bytes()).pem == signing_key.verifying_key.pem
    assert repr(signing_key) == f"SigningKey(source='{cosign_keys.private}')"


def test_wrong_or_missing_password_is_one_clear_line(cosign_keys):
    wrong = "not-" + cosign_keys.password
    with pytest.raises(SigningKeyError) as e:
        load_signing_key(str(cosign_keys.private), environ={"COSIGN_PASSWORD": wrong})
    message = str(e.value)
    assert message == (
        f"signing key {cosign_keys.private}: wrong password: the key does not decrypt with $COSIGN_PASSWORD; "
        "set COSIGN_PASSWORD to the password given to cosign generate-key-pair"
    )
    assert wrong not in message and cosign_keys.password not in message
    with pytest.raises(SigningKeyError, match=r"the key is encrypted and \$COSIGN_PASSWORD is not set"):
        load_signing_key(str(cosign_keys.private), environ={})
    with pytest.raises(SigningKeyError, match=r"this is a public key \(cosign.pub\)"):
        load_signing_key(str(cosign_keys.public), environ={})


# ---------------------------------------------------------- cosign verifies


def test_cosign_verifies_the_index_and_every_platform_image(cosign, cosign_keys, signed):
    published, report = signed
    assert [s.digest for s in report.signatures[:3]] == [published.digest, *published.children]
    assert all(s.signed for s in report.signatures)
    for digest in [published.digest, *published.children]:
        out = verify(cosign, cosign_keys, published, published.ref(digest)).stdout
        [claim] = json.loads(out)
        assert claim["critical"] == {
            "identity": {"docker-reference": published.repository},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        }
        # The tag alone carries our payload, byte for byte.
        with client_for(published.peer, str(published.workdir)) as client:
            store = ArtifactStore(client, published.repository.split("/", 1)[1], push=False)
            tagged = ImageManifest.parse(store.manifest(signature_tag(digest)).data)
            [layer] = tagged.layers
            assert store.blob(layer.digest) == simple_signing_payload(published.repository, digest)


def test_cosign_finds_the_signature_as_an_oci_referrer(cosign, cosign_keys, signed):
    published, report = signed
    with client_for(published.peer, str(published.workdir)) as client:
        for result in report.signatures[:3]:
            listed = list_referrers(client, published.repository, result.digest, artifact_type=SIGNATURE_ARTIFACT_TYPE)
            assert [r.digest for r in listed] == [result.referrer]
    # `cosign tree --experimental-oci11` lists it the OCI 1.1 way.
    tree = cosign.run(
        "tree",
        "--experimental-oci11",
        published.ref(),
        env=published.peer.docker_config_env(str(published.workdir / "c")),
    ).stdout
    assert SIGNATURE_ARTIFACT_TYPE in tree and report.signatures[0].referrer in tree


def test_cosign_verifies_the_attached_sboms(cosign, cosign_keys, signed):
    published, report = signed
    sboms = report.signatures[3:]
    assert len(sboms) == 6  # ko's .sbom image and the SPDX referrer, for the index and each image
    for digest in [published.digest, *published.children]:
        out = verify(cosign, cosign_keys, published, published.ref(digest), "--attachment", "sbom").stdout
        with client_for(published.peer, str(published.workdir)) as client:
            sbom_image = manifest_digest_at(client, published.repository.split("/", 1)[1], cosign_sbom_tag(digest))
            [referrer] = list_referrers(client, published.repository, digest, artifact_type=SPDX_ARTIFACT_TYPE)
        assert json.loads(out)[0]["critical"]["image"]["docker-manifest-digest"] == sbom_image
        verify(cosign, cosign_keys, published, published.ref(referrer.digest))
    assert {s.digest for s in sboms} >= {sbom_image, referrer.digest}


def test_cosign_verifies_the_slsa_provenance(cosign, cosign_keys, signed, provenance_inputs):
    published, report = signed
    assert report.attestation is not None and [t[0] for t in report.attestation.tags] == [
        published.digest,
        *published.children,
    ]
    for digest in [published.digest, *published.children]:
        out = verify(
            cosign,
            cosign_keys,
            published,
            published.ref(digest),
            "--type",
            "slsaprovenance1",
            command="verify-attestation",
        ).stdout
        [envelope] = [json.loads(line) for line in out.splitlines() if line.strip()]
        assert envelope["payloadType"] == INTOTO_PAYLOAD_TYPE
        statement = json.loads(base64.b64decode(envelope["payload"]))
        assert statement["predicateType"] == SLSA_PROVENANCE_V1
        assert statement["predicate"] == json.loads(json.dumps(slsa_predicate(provenance_inputs)))
        assert {s["digest"]["sha256"] for s in statement["subject"]} == {
            d[7:] for d in [published.digest, *published.children]
        }
        predicate = statement["predicate"]
        assert predicate["runDetails"]["builder"]["id"] == "pants-backend-ko 0.1.0"
        assert (
            predicate["buildDefinition"]["externalParameters"]["source"]["repository"]
            == "https://git.example.com/acme/app.git"
        )
        modules = [
            d
            for d in predicate["buildDefinition"]["resolvedDependencies"]
            if d.get("uri", "").startswith("pkg:golang/")
        ]
        assert len(modules) > 100 and all(len(d["digest"]["dirHash"]) == 64 for d in modules)


def test_signing_again_writes_nothing_and_the_check_agrees(signed, signing_key, provenance_inputs):
    published, _ = signed
    assert missing(published, signing_key) is None
    mark = published.peer.mark()
    again = sign(published, signing_key, provenance_inputs)
    writes = [e for e in published.peer.requests_since(mark) if e.method in ("PUT", "POST", "PATCH", "DELETE")]
    assert writes == [] and not again.changed


# ------------------------------------------------------------------ tampering


def _repo_path(published: Published) -> str:
    return published.repository.split("/", 1)[1]


def test_a_tampered_signature_fails_verification(cosign, cosign_keys, registry_plain, signing_key, tmp_path):
    published = publish_index(registry_plain, tmp_path, f"t/tampered-{secrets.token_hex(4)}", sboms=False)
    other = publish_index(registry_plain, tmp_path, f"t/tampered-{secrets.token_hex(4)}", sboms=False)
    sign(published, signing_key, None)
    sign(other, signing_key, None)
    verify(cosign, cosign_keys, published, published.ref())
    with client_for(registry_plain, str(tmp_path)) as client:
        store, source = ArtifactStore(client, _repo_path(published)), ArtifactStore(client, _repo_path(other))
        # 1. Re-point the .sig tag at the other image's signature image (valid, but for another digest).
        foreign = source.manifest(signature_tag(other.digest))
        manifest = ImageManifest.parse(foreign.data)
        for blob in (manifest.config, *manifest.layers):
            store.ensure_blob(source.blob(blob.digest), blob.media_type)
        store.put_manifest(foreign.data, manifest.media_type, signature_tag(published.digest))
    failed = verify(cosign, cosign_keys, published, published.ref(), check=False)
    assert failed.returncode != 0 and "no matching signatures" in failed.stderr
    assert missing(published, signing_key, provenance=False) == f"signature {signature_tag(published.digest)}"
    # The OCI 1.1 referrer still holds the right signature: that is where cosign finds it now.
    verify(cosign, cosign_keys, published, published.ref(), "--experimental-oci11")

    # 2. Flip one bit of the other image's signature, in a signature image otherwise as written.
    with client_for(registry_plain, str(tmp_path)) as client:
        source = ArtifactStore(client, _repo_path(other))
        [layer] = ImageManifest.parse(source.manifest(signature_tag(other.digest)).data).layers
        signature = bytearray(base64.b64decode(layer.annotations[SIGNATURE_ANNOTATION]))
        signature[-1] ^= 1
        annotations = {SIGNATURE_ANNOTATION: base64.b64encode(bytes(signature)).decode()}
        config, altered = append_layer(None, source.blob(layer.digest), SIMPLE_SIGNING_MEDIA_TYPE, annotations)
        source.ensure_blob(config, OCI_CONFIG)
        source.put_manifest(altered, OCI_MANIFEST, signature_tag(other.digest))
    failed = verify(cosign, cosign_keys, other, other.ref(), check=False)
    assert failed.returncode != 0 and "no matching signatures" in failed.stderr
    assert missing(other, signing_key, provenance=False) == f"signature {signature_tag(other.digest)}"


# ------------------------------------------------------------ byte parity


@pytest.mark.parametrize(
    "reference, annotations",
    [
        ("ubuntu", None),
        ("127.0.0.1:5000/t/app", {"b": "<x&y>", "a": "é€ \u2028"}),
        ("ghcr.io/acme/deep/path/app", {"git.commit": "0123abc"}),
    ],
)
def test_payload_is_byte_for_byte_cosign_generate(cosign, reference, annotations):
    digest = digest_of(reference.encode())
    args = [f"{reference}@{digest}"] + [a for k, v in (annotations or {}).items() for a in ("-a", f"{k}={v}")]
    theirs = cosign.run("generate", *args).stdout.encode()
    assert (
        simple_signing_payload(parse_reference(f"{reference}@{digest}").repository_name, digest, annotations) == theirs
    )


def test_signature_and_attestation_images_are_byte_for_byte_cosigns(
    cosign, cosign_keys, registry_plain, signing_key, provenance_inputs, tmp_path
):
    """cosign signs and attests an image itself; our code, given cosign's signature bytes,
    rebuilds the same payload, signature manifest, referrer and attestation statement."""
    published = publish_index(registry_plain, tmp_path, f"t/parity-{secrets.token_hex(4)}", sboms=False)
    env = registry_plain.docker_config_env(str(tmp_path / "cosign-docker"))
    key_args = ("--key", str(cosign_keys.private), "--tlog-upload=false", "--allow-insecure-registry", "--yes")
    cosign.run("sign", *key_args, published.ref(), env=env, password=cosign_keys.password)
    experimental = {**env, "COSIGN_EXPERIMENTAL": "1"}
    cosign.run(
        "sign",
        *key_args,
        "--registry-referrers-mode=oci-1-1",
        published.ref(published.children[0]),
        env=experimental,
        password=cosign_keys.password,
    )
    predicate = tmp_path / "predicate.json"
    predicate.write_bytes(json.dumps(slsa_predicate(provenance_inputs), indent=2).encode())
    cosign.run(
        "attest",
        *key_args,
        "--type",
        "slsaprovenance1",
        "--predicate",
        str(predicate),
        published.ref(),
        env=env,
        password=cosign_keys.password,
    )

    repo = published.repository.split("/", 1)[1]
    with client_for(registry_plain, str(tmp_path)) as client:
        store = ArtifactStore(client, repo, push=False)
        # cosign sign: the tag image.
        theirs = store.manifest(signature_tag(published.digest)).data
        [layer] = ImageManifest.parse(theirs).layers
        assert store.blob(layer.digest) == simple_signing_payload(published.repository, published.digest)
        config, ours = append_layer(
            None,
            simple_signing_payload(published.repository, published.digest),
            SIMPLE_SIGNING_MEDIA_TYPE,
            dict(layer.annotations),
        )
        assert ours == theirs
        # cosign sign --registry-referrers-mode=oci-1-1: the referrer (found through the fallback tag).
        child = published.children[0]
        [referrer] = list_referrers(client, published.repository, child, artifact_type=SIGNATURE_ARTIFACT_TYPE)
        theirs = store.manifest(referrer.digest).data
        [layer] = ImageManifest.parse(theirs).layers
        _, tag_image = append_layer(
            None,
            simple_signing_payload(published.repository, child),
            SIMPLE_SIGNING_MEDIA_TYPE,
            dict(layer.annotations),
        )
        assert signature_referrer(tag_image, store.descriptor(child)) == theirs
        # cosign attest: the statement it signed, and the .att image around it.
        att = store.manifest(attestation_tag(published.digest)).data
        [layer] = ImageManifest.parse(att).layers
        envelope_bytes = store.blob(layer.digest)
        envelope = parse_dsse_envelope(envelope_bytes)
        assert envelope is not None and envelope.payload_type == INTOTO_PAYLOAD_TYPE
        assert envelope.payload == intoto_statement(
            [(published.repository, published.digest)], SLSA_PROVENANCE_V1, slsa_predicate(provenance_inputs)
        )
        assert layer.media_type == DSSE_MEDIA_TYPE
        assert (
            append_layer(
                None, envelope_bytes, DSSE_MEDIA_TYPE, {"predicateType": SLSA_PROVENANCE_V1, SIGNATURE_ANNOTATION: ""}
            )[1]
            == att
        )
    # Our check recognises cosign's own signature (same key): only the referrer is missing, and
    # signing adds the referrer but no second signature.
    assert missing(published, signing_key, provenance=False) == f"signature referrer of {published.digest}"
    report = sign(published, signing_key, None, sign_sboms=False)
    # The index carries cosign's tag signature; child 0 only its OCI 1.1 referrer (no tag), child 1 nothing.
    assert [s.signed for s in report.signatures] == [False, True, True] and report.changed


def test_a_signature_by_another_key_stays_and_both_verify(cosign, cosign_keys, registry_plain, signing_key, tmp_path):
    """Key rotation: cosign signs with an older key first; ours is appended to the same image."""
    published = publish_index(registry_plain, tmp_path, f"t/rotate-{secrets.token_hex(4)}", sboms=False)
    old = tmp_path / "old-key"
    old.mkdir()
    cosign.run("generate-key-pair", password="", cwd=old)
    env = registry_plain.docker_config_env(str(tmp_path / "cosign-docker"))
    cosign.run(
        "sign",
        "--key",
        str(old / "cosign.key"),
        "--tlog-upload=false",
        "--allow-insecure-registry",
        "--yes",
        published.ref(),
        env=env,
        password="",
    )
    report = sign(published, signing_key, None, sign_sboms=False)
    assert report.signatures[0].signed
    with client_for(registry_plain, str(tmp_path)) as client:
        tagged = ArtifactStore(client, _repo_path(published)).manifest(signature_tag(published.digest))
    assert len(ImageManifest.parse(tagged.data).layers) == 2
    verify(cosign, cosign_keys, published, published.ref())
    cosign.run("verify", *cosign.verify_args(old / "cosign.pub"), published.ref(), env=env)


def test_single_image_on_the_token_auth_registry(
    cosign, cosign_keys, registry_token, signing_key, provenance_inputs, tmp_path
):
    published = publish_index(registry_token, tmp_path, f"t/token-{secrets.token_hex(4)}", single=True)
    report = sign(published, signing_key, provenance_inputs)
    assert [s.digest for s in report.signatures][:1] == [published.digest] and len(report.signatures) == 3
    assert report.attestation is not None and [t[0] for t in report.attestation.tags] == [published.digest]
    assert missing(published, signing_key) is None
    verify(cosign, cosign_keys, published, published.ref())
    verify(cosign, cosign_keys, published, published.ref(), "--type", "slsaprovenance1", command="verify-attestation")


# ------------------------------------------------------------------ secrets


def test_key_material_never_reaches_the_registry_or_the_logs(
    signed, cosign_keys, signing_key, provenance_inputs, caplog, tmp_path, registry_plain
):
    published = publish_index(registry_plain, tmp_path, f"t/secrets-{secrets.token_hex(4)}")
    with caplog.at_level(logging.DEBUG):
        sign(published, signing_key, provenance_inputs)
    private = signing_key._private
    der = private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    scalar = private.private_numbers().private_value.to_bytes(32, "big")
    pem_body = "".join(cosign_keys.private.read_text().splitlines()[1:-1]).encode()
    key_secrets: dict[str, bytes] = {
        "password": cosign_keys.password.encode(),
        "encrypted key PEM": pem_body[:64],
        "PKCS8 DER": der,
        "PKCS8 DER base64": base64.b64encode(der)[:64],
        "private scalar": scalar,
        "private scalar hex": scalar.hex().encode(),
        "private scalar base64": base64.b64encode(scalar),
    }
    logs = "\n".join(r.getMessage() for r in caplog.records).encode()
    assert [name for name, secret in key_secrets.items() if secret in logs] == []
    count, hits = scan([Path(registry_plain.storage_dir), Path(registry_plain.log_path)], key_secrets)
    assert count > 50 and hits == []
    # The scan does find key material where it is meant to be: the key file itself.
    assert scan([cosign_keys.private], key_secrets)[1] == [f"encrypted key PEM in {cosign_keys.private}"]
