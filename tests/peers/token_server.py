"""A real token server for distribution's token auth, run in a thread on 127.0.0.1.

It implements the distribution token spec the way Docker Hub's auth server
behaves (distribution/distribution `docs/spec/auth/token.md`):

* ``GET /token?service=..&scope=..&scope=..`` with optional Basic credentials;
* ``POST /token`` with ``grant_type=refresh_token`` (identity tokens) or
  ``grant_type=password``;
* answers ``{"token", "access_token", "expires_in", "issued_at"}`` with an RS256
  JWT whose header carries the signing certificate in ``x5c``.

Policy: a known user gets every requested action (a read-only user gets only
``pull``), anonymous callers get ``pull`` only, a wrong password gets 401.
Every request is recorded (method, user, scopes asked, actions granted) so
tests can count token fetches and check the scopes. Test-only: it uses
``cryptography`` to make the key and the self-signed CA certificate.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class TokenRequest:
    method: str
    grant_type: str  # "" for GET
    user: str  # "" for anonymous
    scopes: tuple[str, ...]  # as received, one entry per scope parameter
    granted: tuple[tuple[str, tuple[str, ...]], ...]  # (repository, actions)
    status: int


def _parse_scope(scope: str) -> tuple[str, str, list[str]] | None:
    if scope.count(":") < 2:
        return None
    kind, rest = scope.split(":", 1)
    name, _, actions = rest.rpartition(":")
    return kind, name, [a for a in actions.split(",") if a]


@dataclass
class TokenServer:
    """Start with :meth:`start`, stop with :meth:`stop`. ``root_cert_path`` goes into the registry config."""

    workdir: str
    users: Mapping[str, str] = field(default_factory=dict)  # user -> password
    readonly_users: tuple[str, ...] = ()
    refresh_tokens: Mapping[str, str] = field(default_factory=dict)  # refresh token -> user
    issuer: str = "test-issuer"
    service: str = "test-registry"
    expires_in: int = 300

    def __post_init__(self) -> None:
        os.makedirs(self.workdir, exist_ok=True)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = datetime.datetime.now(datetime.timezone.utc)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test token signer")])
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.root_cert_path = os.path.join(self.workdir, "token-root.crt")
        with open(self.root_cert_path, "wb") as f:
            f.write(self._cert.public_bytes(serialization.Encoding.PEM))
        self._x5c = base64.b64encode(self._cert.public_bytes(serialization.Encoding.DER)).decode("ascii")
        self._lock = threading.Lock()
        self._requests: list[TokenRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ------------------------------------------------------------ lifecycle

    def start(self) -> TokenServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != "/token":
                    self._send(404, {"error": "not found"})
                    return
                query = parse_qs(parts.query, keep_blank_values=True)
                user, ok = server._basic_user(self.headers.get("Authorization"))
                status, body, record = server._issue("GET", "", user, ok, query.get("scope", []))
                server._record(record)
                self._send(status, body)

            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode("utf-8"), keep_blank_values=True)
                if parts.path != "/token":
                    self._send(404, {"error": "not found"})
                    return
                grant = (form.get("grant_type") or [""])[0]
                scopes = [s for s in (form.get("scope") or [""])[0].split(" ") if s]
                if grant == "refresh_token":
                    user = server.refresh_tokens.get((form.get("refresh_token") or [""])[0], "")
                    ok = bool(user)
                elif grant == "password":
                    user = (form.get("username") or [""])[0]
                    ok = server.users.get(user) == (form.get("password") or [""])[0]
                else:
                    server._record(TokenRequest("POST", grant, "", tuple(scopes), (), 400))
                    self._send(400, {"error": "unsupported_grant_type"})
                    return
                status, body, record = server._issue("POST", grant, user, ok, scopes)
                if status == 200 and grant == "refresh_token":
                    body["refresh_token"] = (form.get("refresh_token") or [""])[0]
                server._record(record)
                self._send(status, body)

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="token"')
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="token-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    # --------------------------------------------------------------- record

    def _record(self, request: TokenRequest) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[TokenRequest]:
        with self._lock:
            return list(self._requests)

    def mark(self) -> int:
        with self._lock:
            return len(self._requests)

    def requests_since(self, mark: int) -> list[TokenRequest]:
        with self._lock:
            return list(self._requests[mark:])

    # --------------------------------------------------------------- policy

    def _basic_user(self, header: str | None) -> tuple[str, bool]:
        if not header or not header.lower().startswith("basic "):
            return "", True
        try:
            user, _, password = base64.b64decode(header.split(" ", 1)[1]).decode("utf-8").partition(":")
        except Exception:
            return "", False
        return user, self.users.get(user) == password and bool(user)

    def _issue(self, method: str, grant: str, user: str, ok: bool, scopes: list[str]):
        if not ok:
            return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]}, TokenRequest(
                method, grant, user, tuple(scopes), (), 401
            )
        access = []
        for scope in scopes:
            parsed = _parse_scope(scope)
            if parsed is None or parsed[0] != "repository":
                continue
            kind, name, actions = parsed
            if not user or user in self.readonly_users:
                actions = [a for a in actions if a == "pull"]
            if actions:
                access.append({"type": kind, "name": name, "actions": actions})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        claims = {
            "iss": self.issuer,
            "sub": user,
            "aud": self.service,
            "exp": now + self.expires_in,
            "nbf": now - 1,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing_input = _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
        signature = self._key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        token = signing_input + "." + _b64url(signature)
        issued = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        granted = tuple((a["name"], tuple(a["actions"])) for a in access)
        body = {"token": token, "access_token": token, "expires_in": self.expires_in, "issued_at": issued}
        return 200, body, TokenRequest(method, grant, user, tuple(scopes), granted, 200)
