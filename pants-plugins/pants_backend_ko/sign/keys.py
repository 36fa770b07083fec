"""cosign's private key file, read and written as cosign does; the public key; nothing else.

``cosign generate-key-pair`` (cosign ``pkg/cosign/keys.go``: ``GenerateKeyPair``,
``marshalKeyPair``) writes an ECDSA P-256 key as PKCS #8 DER, encrypted with
go-securesystemslib's ``encrypted.Encrypt`` (``encrypted/encrypted.go``) and wrapped in a PEM
block of type ``ENCRYPTED SIGSTORE PRIVATE KEY`` (cosign before v2.1: ``ENCRYPTED COSIGN
PRIVATE KEY``). The PEM body is JSON::

    {"kdf": {"name": "scrypt", "params": {"N": 65536, "r": 8, "p": 1}, "salt": "<base64>"},
     "cipher": {"name": "nacl/secretbox", "nonce": "<base64>"},
     "ciphertext": "<base64>"}

The key is scrypt(password, salt, N, r, p, 32 bytes); the ciphertext is NaCl's secretbox
(XSalsa20-Poly1305, the 16-byte tag first, as Go's ``secretbox.Seal``) under that key and the
24-byte nonce. As go-securesystemslib does, only its three scrypt parameter sets are accepted
(a key file cannot make us spend unbounded memory). ``cosign.LoadPrivateKey`` accepts only
those two PEM types; so do we.

The password comes from ``COSIGN_PASSWORD`` (cosign's variable; unset means the empty
password, as cosign does when there is no terminal). A key reference is a file path or
``env://NAME`` (cosign's syntax: the variable holds the PEM text).

Secrets: no error message, ``repr`` or log line carries key bytes or the password; the
decrypted key lives only in the ``cryptography`` object.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import nacl.exceptions
import nacl.secret
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

__all__ = [
    "PASSWORD_ENV",
    "ENV_KEY_PREFIX",
    "SIGSTORE_PEM_TYPE",
    "COSIGN_PEM_TYPE",
    "SigningKeyError",
    "WrongPasswordError",
    "VerifyingKey",
    "SigningKey",
    "load_signing_key",
    "load_verifying_key",
    "decrypt_private_key",
    "encrypt_private_key",
]

PASSWORD_ENV = "COSIGN_PASSWORD"
ENV_KEY_PREFIX = "env://"
SIGSTORE_PEM_TYPE = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_PEM_TYPE = "ENCRYPTED COSIGN PRIVATE KEY"
_PUBLIC_PEM_TYPE = "PUBLIC KEY"

# go-securesystemslib's legacy, standard (the default) and OWASP scrypt parameters, the only ones it accepts.
_SCRYPT_PARAMS = ({"N": 32768, "r": 8, "p": 1}, {"N": 65536, "r": 8, "p": 1}, {"N": 131072, "r": 8, "p": 1})
_DEFAULT_SCRYPT = _SCRYPT_PARAMS[1]
_SALT_SIZE = 32
_KEY_SIZE = 32
_NONCE_SIZE = 24
_MAX_KEY_FILE = 64 * 1024
_PEM_RE = re.compile(
    rb"-----BEGIN (?P<type>[A-Z0-9 ]+)-----\r?\n(?P<body>[A-Za-z0-9+/=\r\n]*?)-----END (?P=type)-----", re.S
)


class SigningKeyError(ValueError):
    """A key that cannot be used, in one line: which key, what is wrong, what to do. Never key material."""


class WrongPasswordError(SigningKeyError):
    """The key does not decrypt with the password given."""


def _pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    out = []
    for m in _PEM_RE.finditer(data):
        try:
            out.append((m.group("type").decode("ascii"), base64.b64decode(b"".join(m.group("body").split()))))
        except (binascii.Error, ValueError):
            continue
    return out


def _pem(pem_type: str, der: bytes) -> bytes:
    # Go's pem.EncodeToMemory: 64-character lines.
    body = base64.b64encode(der)
    lines = b"".join(body[i : i + 64] + b"\n" for i in range(0, len(body), 64))
    return f"-----BEGIN {pem_type}-----\n".encode() + lines + f"-----END {pem_type}-----\n".encode()


def _scrypt(password: bytes, salt: bytes, params: Mapping[str, int]) -> bytes:
    return Scrypt(salt=salt, length=_KEY_SIZE, n=params["N"], r=params["r"], p=params["p"]).derive(password)


def _b64_field(doc: Mapping, path: tuple[str, ...], where: str) -> bytes:
    value: object = doc
    for name in path:
        value = value.get(name) if isinstance(value, Mapping) else None
    if not isinstance(value, str):
        raise SigningKeyError(f"{where}: the encrypted key has no {'.'.join(path)}; it is not a cosign key file")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SigningKeyError(f"{where}: {'.'.join(path)} is not base64; the key file is damaged") from None


def decrypt_private_key(encrypted_json: bytes, password: bytes, where: str) -> bytes:
    """go-securesystemslib's ``encrypted.Decrypt``: the plaintext (PKCS #8 DER for a cosign key)."""
    try:
        doc = json.loads(encrypted_json)
    except ValueError:
        raise SigningKeyError(f"{where}: the PEM body is not the JSON cosign writes; the key file is damaged") from None
    if not isinstance(doc, dict):
        raise SigningKeyError(f"{where}: the PEM body is not a JSON object; the key file is damaged")
    kdf, cipher = doc.get("kdf"), doc.get("cipher")
    if not isinstance(kdf, dict) or kdf.get("name") != "scrypt":
        raise SigningKeyError(f"{where}: unknown key-derivation function (only scrypt is supported, as in cosign)")
    if not isinstance(cipher, dict) or cipher.get("name") != "nacl/secretbox":
        raise SigningKeyError(f"{where}: unknown cipher (only nacl/secretbox is supported, as in cosign)")
    params = kdf.get("params")
    if not isinstance(params, dict) or {k: params.get(k) for k in ("N", "r", "p")} not in _SCRYPT_PARAMS:
        raise SigningKeyError(
            f"{where}: unsupported scrypt parameters (cosign accepts only N=2^15, 2^16 or 2^17 with r=8, p=1)"
        )
    salt = _b64_field(doc, ("kdf", "salt"), where)
    nonce = _b64_field(doc, ("cipher", "nonce"), where)
    ciphertext = _b64_field(doc, ("ciphertext",), where)
    if len(nonce) != _NONCE_SIZE:
        raise SigningKeyError(f"{where}: the nonce is {len(nonce)} bytes, not 24; the key file is damaged")
    key = _scrypt(password, salt, params)
    try:
        return nacl.secret.SecretBox(key).decrypt(ciphertext, nonce)
    except nacl.exceptions.CryptoError:
        raise WrongPasswordError(
            f"{where}: wrong password: the key does not decrypt with ${PASSWORD_ENV}; "
            f"set {PASSWORD_ENV} to the password given to cosign generate-key-pair"
        ) from None


def encrypt_private_key(
    private_key: ec.EllipticCurvePrivateKey, password: bytes, *, pem_type: str = SIGSTORE_PEM_TYPE
) -> bytes:
    """cosign's ``marshalKeyPair``: the encrypted PEM of ``private_key`` (random salt and nonce)."""
    der = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    salt = os.urandom(_SALT_SIZE)
    nonce = os.urandom(_NONCE_SIZE)
    sealed = nacl.secret.SecretBox(_scrypt(password, salt, _DEFAULT_SCRYPT)).encrypt(der, nonce).ciphertext
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    # The struct order of go-securesystemslib's `data`; json.Marshal is compact.
    body = json.dumps(
        {
            "kdf": {"name": "scrypt", "params": _DEFAULT_SCRYPT, "salt": b64(salt)},
            "cipher": {"name": "nacl/secretbox", "nonce": b64(nonce)},
            "ciphertext": b64(sealed),
        },
        separators=(",", ":"),
    ).encode()
    return _pem(pem_type, body)


@dataclass(frozen=True)
class VerifyingKey:
    """An ECDSA P-256 public key: checks cosign's signatures (ASN.1 DER, SHA-256)."""

    public_key: ec.EllipticCurvePublicKey = field(repr=False, compare=False)
    pem: bytes  # PKIX "PUBLIC KEY" PEM, as cosign.pub holds it

    @classmethod
    def from_public_key(cls, public_key: ec.EllipticCurvePublicKey) -> VerifyingKey:
        der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return cls(public_key, _pem(_PUBLIC_PEM_TYPE, der))

    def verify(self, signature: bytes, data: bytes) -> bool:
        try:
            self.public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class SigningKey:
    """A decrypted cosign key. ``source`` says where it came from (a path or ``env://NAME``);
    the private key never leaves this object, and ``repr`` shows only the source."""

    source: str
    _private: ec.EllipticCurvePrivateKey = field(repr=False, compare=False)
    verifying_key: VerifyingKey = field(repr=False, compare=False)

    def sign(self, data: bytes) -> bytes:
        """ECDSA P-256 over SHA-256(data), ASN.1 DER: sigstore's ``ECDSASignerVerifier.SignMessage``."""
        return self._private.sign(data, ec.ECDSA(hashes.SHA256()))

    def __reduce__(self):  # never pickled into a cache or a process message
        raise TypeError("a SigningKey is not serialisable; pass the key reference, not the key")


def _read_key_reference(reference: str, environ: Mapping[str, str]) -> tuple[bytes, str]:
    """The PEM bytes a key reference names, and how to name it in errors."""
    if reference.startswith(ENV_KEY_PREFIX):
        name = reference[len(ENV_KEY_PREFIX) :]
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise SigningKeyError(
                f"signing key {reference!r}: {name!r} is not an environment variable name; write env://NAME"
            )
        where = f"signing key env://{name}"
        value = environ.get(name)
        if not value:
            raise SigningKeyError(f"{where}: ${name} is not set or empty; export the PEM text of cosign.key in it")
        return value.encode(), where
    where = f"signing key {reference}"
    path = Path(reference)
    try:
        size = path.stat().st_size
        if size > _MAX_KEY_FILE:
            raise SigningKeyError(f"{where}: {size} bytes is too large for a key file; point at cosign.key")
        return path.read_bytes(), where
    except FileNotFoundError:
        raise SigningKeyError(f"{where}: no such file; create one with cosign generate-key-pair") from None
    except IsADirectoryError:
        raise SigningKeyError(f"{where}: is a directory; point at the cosign.key file") from None
    except OSError as e:
        raise SigningKeyError(f"{where}: cannot read it ({e.strerror}); check its permissions") from None


def load_signing_key(
    reference: str, *, environ: Mapping[str, str] | None = None, password: bytes | None = None
) -> SigningKey:
    """Load and decrypt a cosign key from a path or ``env://NAME``; the password is ``password``
    or else ``$COSIGN_PASSWORD`` (unset: empty, as cosign without a terminal)."""
    environ = os.environ if environ is None else environ
    if not isinstance(reference, str) or not reference.strip():
        raise SigningKeyError("signing key: no key given; set it to the path of cosign.key or to env://NAME")
    data, where = _read_key_reference(reference.strip(), environ)
    blocks = _pem_blocks(data)
    if not blocks:
        raise SigningKeyError(f"{where}: no PEM block found; it is not a cosign key file")
    pem_type, body = blocks[0]
    if pem_type == _PUBLIC_PEM_TYPE:
        raise SigningKeyError(f"{where}: this is a public key (cosign.pub); signing needs the private key cosign.key")
    if pem_type not in (SIGSTORE_PEM_TYPE, COSIGN_PEM_TYPE):
        raise SigningKeyError(
            f"{where}: a {pem_type!r} PEM block is not a cosign key; convert it with cosign import-key-pair"
        )
    unset = password is None and PASSWORD_ENV not in environ
    if password is None:
        password = environ.get(PASSWORD_ENV, "").encode()
    try:
        der = decrypt_private_key(body, password, where)
    except WrongPasswordError:
        if not unset:
            raise
        raise WrongPasswordError(
            f"{where}: the key is encrypted and ${PASSWORD_ENV} is not set; "
            f"export {PASSWORD_ENV} with the password given to cosign generate-key-pair"
        ) from None
    try:
        private = serialization.load_der_private_key(der, password=None)
    except ValueError:
        raise SigningKeyError(f"{where}: the decrypted key is not PKCS #8; the key file is damaged") from None
    if not isinstance(private, ec.EllipticCurvePrivateKey) or not isinstance(private.curve, ec.SECP256R1):
        raise SigningKeyError(
            f"{where}: only ECDSA P-256 keys are supported (cosign generate-key-pair's default); "
            "generate one without --algorithm"
        )
    return SigningKey(reference.strip(), private, VerifyingKey.from_public_key(private.public_key()))


def load_verifying_key(pem: bytes, where: str = "public key") -> VerifyingKey:
    """A ``cosign.pub`` (PKIX ``PUBLIC KEY`` PEM) as a verifying key."""
    try:
        public = serialization.load_pem_public_key(pem)
    except ValueError:
        raise SigningKeyError(f"{where}: not a PEM public key; point at cosign.pub") from None
    if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(public.curve, ec.SECP256R1):
        raise SigningKeyError(f"{where}: only ECDSA P-256 public keys are supported")
    return VerifyingKey.from_public_key(public)
