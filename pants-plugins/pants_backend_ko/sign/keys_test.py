"""cosign key files without cosign (tests/test_signing.py loads keys the real cosign made)."""

from __future__ import annotations

import base64
import json
import pickle

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pants_backend_ko.sign.keys import (
    COSIGN_PEM_TYPE,
    SIGSTORE_PEM_TYPE,
    SigningKeyError,
    WrongPasswordError,
    encrypt_private_key,
    load_signing_key,
    load_verifying_key,
)

PASSWORD = "correct horse"


@pytest.fixture(scope="module")
def private() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def key_file(tmp_path_factory, private) -> str:
    path = tmp_path_factory.mktemp("keys") / "cosign.key"
    path.write_bytes(encrypt_private_key(private, PASSWORD.encode()))
    return str(path)


def _body(pem: bytes) -> dict:
    return json.loads(base64.b64decode(b"".join(pem.splitlines()[1:-1])))


def _with_body(pem: bytes, doc: dict, pem_type: str = SIGSTORE_PEM_TYPE) -> bytes:
    body = base64.b64encode(json.dumps(doc).encode())
    lines = b"\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {pem_type}-----\n".encode() + lines + f"\n-----END {pem_type}-----\n".encode()


def test_round_trip_from_a_file_and_from_the_environment(key_file, private) -> None:
    loaded = load_signing_key(key_file, environ={"COSIGN_PASSWORD": PASSWORD})
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert loaded.verifying_key.pem == public  # 64-character lines, as Go's pem package writes them
    signature = loaded.sign(b"payload")
    assert loaded.verifying_key.verify(signature, b"payload")
    assert not loaded.verifying_key.verify(signature, b"payload!")
    assert load_verifying_key(public).verify(signature, b"payload")

    pem = open(key_file).read()
    from_env = load_signing_key("env://MY_KEY", environ={"MY_KEY": pem, "COSIGN_PASSWORD": PASSWORD})
    assert from_env.source == "env://MY_KEY" and from_env.verifying_key.pem == public
    # The older PEM type of cosign < 2.1 and an explicit password.
    legacy = encrypt_private_key(private, b"", pem_type=COSIGN_PEM_TYPE)
    assert load_signing_key("env://K", environ={"K": legacy.decode()}).verifying_key.pem == public


def test_the_encrypted_format_is_go_securesystemslibs(key_file) -> None:
    doc = _body(open(key_file, "rb").read())
    assert list(doc) == ["kdf", "cipher", "ciphertext"]
    assert doc["kdf"]["name"] == "scrypt" and doc["kdf"]["params"] == {"N": 65536, "r": 8, "p": 1}
    assert len(base64.b64decode(doc["kdf"]["salt"])) == 32
    assert doc["cipher"]["name"] == "nacl/secretbox" and len(base64.b64decode(doc["cipher"]["nonce"])) == 24


def test_wrong_or_missing_password(key_file) -> None:
    with pytest.raises(WrongPasswordError) as e:
        load_signing_key(key_file, environ={"COSIGN_PASSWORD": "wrong horse"})
    assert str(e.value) == (
        f"signing key {key_file}: wrong password: the key does not decrypt with $COSIGN_PASSWORD; "
        "set COSIGN_PASSWORD to the password given to cosign generate-key-pair"
    )
    with pytest.raises(WrongPasswordError, match=r"\$COSIGN_PASSWORD is not set; export COSIGN_PASSWORD"):
        load_signing_key(key_file, environ={})


def test_tampered_or_foreign_files_are_refused_in_one_line(tmp_path, key_file, private) -> None:
    pem = open(key_file, "rb").read()
    doc = _body(pem)

    def refused(data: bytes, match: str) -> None:
        path = tmp_path / "k"
        path.write_bytes(data)
        with pytest.raises(SigningKeyError, match=match) as e:
            load_signing_key(str(path), environ={"COSIGN_PASSWORD": PASSWORD})
        assert "\n" not in str(e.value) and PASSWORD not in str(e.value)

    # A key file must not make us spend unbounded memory: only go-securesystemslib's scrypt parameters.
    refused(
        _with_body(pem, {**doc, "kdf": {**doc["kdf"], "params": {"N": 2**20, "r": 8, "p": 1}}}), "unsupported scrypt"
    )
    refused(_with_body(pem, {**doc, "kdf": {**doc["kdf"], "name": "argon2"}}), "unknown key-derivation function")
    refused(_with_body(pem, {**doc, "cipher": {**doc["cipher"], "nonce": "AAAA"}}), "nonce is 3 bytes")
    refused(_with_body(pem, {**doc, "ciphertext": "not base64!"}), "ciphertext is not base64")
    flipped = bytearray(base64.b64decode(doc["ciphertext"]))
    flipped[20] ^= 1
    refused(_with_body(pem, {**doc, "ciphertext": base64.b64encode(bytes(flipped)).decode()}), "wrong password")
    refused(b"hello", "no PEM block found")
    plain = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    refused(plain, "a 'PRIVATE KEY' PEM block is not a cosign key; convert it with cosign import-key-pair")
    refused(
        private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        "this is a public key",
    )
    p384 = encrypt_private_key(ec.generate_private_key(ec.SECP384R1()), PASSWORD.encode())
    refused(p384, "only ECDSA P-256 keys are supported")


def test_key_references(tmp_path) -> None:
    with pytest.raises(SigningKeyError, match=r"^signing key env://NOPE: \$NOPE is not set or empty"):
        load_signing_key("env://NOPE", environ={})
    with pytest.raises(SigningKeyError, match="'1X' is not an environment variable name"):
        load_signing_key("env://1X", environ={})
    with pytest.raises(SigningKeyError, match="no such file; create one with cosign generate-key-pair"):
        load_signing_key(str(tmp_path / "missing.key"), environ={})
    with pytest.raises(SigningKeyError, match="is a directory"):
        load_signing_key(str(tmp_path), environ={})
    with pytest.raises(SigningKeyError, match="no key given"):
        load_signing_key(" ", environ={})


def test_the_key_never_shows(key_file) -> None:
    loaded = load_signing_key(key_file, environ={"COSIGN_PASSWORD": PASSWORD})
    assert repr(loaded) == f"SigningKey(source={key_file!r})"
    with pytest.raises(TypeError, match="not serialisable"):
        pickle.dumps(loaded)
