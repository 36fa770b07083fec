"""Registry authentication: challenges, scopes and Bearer tokens.

Implements the distribution token flow (distribution/distribution `docs/spec/auth/token.md`, with
refresh tokens as in `docs/spec/auth/oauth.md`; go-containerregistry's
`pkg/v1/remote/transport/bearer.go` is the client ko uses):

* ``WWW-Authenticate`` is parsed into a :class:`Challenge` (Basic or Bearer).
* Scopes are ``type:name:actions``; each goes out as its own ``scope=`` query
  parameter (space-joined challenge scopes are split), and scopes for the same
  resource are merged (``pull`` + ``push`` -> ``pull,push``).
* Tokens come from ``GET <realm>?service=..&scope=..`` (Basic credentials or
  anonymous), or from ``POST <realm>`` with ``grant_type=refresh_token`` for
  identity tokens (falling back to GET on 404). ``token`` and ``access_token``
  are both accepted; ``expires_in`` defaults to 60 seconds.
* :class:`TokenCache` keeps tokens in memory only, keyed by (service, sorted
  scopes), and treats them as expired a little before they really are.
* Token requests go out through the registry client's ``send`` (the same limits on time
  as every other exchange) and answers are read to at most 1 MiB
  (:data:`~.limits.MAX_TOKEN_ANSWER`): an endless answer is "too large", not a
  connection problem.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlsplit

import requests
from requests.utils import parse_dict_header

from pants_backend_ko.oci.remote.credentials import (
    BASIC,
    IDENTITY_TOKEN,
    IDENTITY_TOKEN_USERNAME,
    Credential,
    Secret,
)
from pants_backend_ko.oci.remote.errors import RegistryError, one_line
from pants_backend_ko.oci.remote.limits import MAX_TOKEN_ANSWER, close_quietly, read_body

# (method, url, where, **requests keyword arguments) -> the answer, body unread
TokenSend = Callable[..., requests.Response]

DEFAULT_TOKEN_LIFETIME = 60.0
CLIENT_ID = "pants-backend-ko"
_ACTION_ORDER = {"pull": 0, "push": 1, "delete": 2, "*": 3}


@dataclass(frozen=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` challenge. ``scheme`` is ``basic`` or ``bearer``."""

    scheme: str
    realm: str = ""
    service: str = ""
    scopes: tuple[str, ...] = ()
    error: str = ""


def parse_www_authenticate(header: str | None) -> Challenge | None:
    """Parse the first challenge of a ``WWW-Authenticate`` header; None if absent or unknown."""
    if not header or not header.strip():
        return None
    scheme, _, rest = header.strip().partition(" ")
    scheme = scheme.strip().lower()
    if scheme not in ("basic", "bearer"):
        return None
    params = {k.lower(): (v or "") for k, v in parse_dict_header(rest).items()}
    scopes = tuple(s for s in params.get("scope", "").split(" ") if s)
    return Challenge(scheme, params.get("realm", ""), params.get("service", ""), scopes, params.get("error", ""))


def _split_scope(scope: str) -> tuple[str, str, list[str]]:
    # type is before the first ':', actions after the last ':', the name in between
    # (names may contain ':' as in host:port/repo).
    if scope.count(":") < 2:
        return scope, "", []
    kind, rest = scope.split(":", 1)
    name, _, actions = rest.rpartition(":")
    return kind, name, [a for a in actions.split(",") if a]


def merge_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """Union actions per resource and return the scopes sorted, e.g.
    ``["repository:a:push", "repository:a:pull", "repository:b:pull"]`` ->
    ``("repository:a:pull,push", "repository:b:pull")``."""
    merged: dict[tuple[str, str], set] = {}
    opaque: set = set()
    for scope in scopes:
        if not scope:
            continue
        kind, name, actions = _split_scope(scope)
        if not name and not actions:
            opaque.add(scope)
            continue
        merged.setdefault((kind, name), set()).update(actions)
    out = [
        f"{kind}:{name}:{','.join(sorted(actions, key=lambda a: (_ACTION_ORDER.get(a, 9), a)))}"
        for (kind, name), actions in merged.items()
    ]
    return tuple(sorted(out + sorted(opaque)))


def scopes_cover(have: Iterable[str], need: Iterable[str]) -> bool:
    """Whether the merged scopes ``have`` include every action of ``need``."""
    granted: dict[tuple[str, str], set] = {}
    for scope in have:
        kind, name, actions = _split_scope(scope)
        granted.setdefault((kind, name), set()).update(actions)
    for scope in need:
        kind, name, actions = _split_scope(scope)
        if not set(actions) <= granted.get((kind, name), set()):
            return False
    return True


def is_loopback_host(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ::1 (a port and IPv6 brackets are ignored)."""
    h = host.strip()
    if h.startswith("["):
        h = h[1 : h.find("]")] if "]" in h else h[1:]
    elif h.count(":") == 1:
        h = h.split(":", 1)[0]
    h = h.lower()
    if h == "localhost" or h.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def basic_header(username: str, password: Secret) -> str:
    raw = f"{username}:{password.reveal()}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True)
class BearerToken:
    token: Secret = field(repr=False)
    expires_at: float  # time.monotonic() deadline, already reduced by a safety margin
    scopes: tuple[str, ...] = ()

    def valid(self) -> bool:
        return time.monotonic() < self.expires_at


class TokenCache:
    """Thread-safe in-memory token cache keyed by (service, merged scopes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, tuple[str, ...]], BearerToken] = {}

    def get(self, service: str, scopes: tuple[str, ...]) -> BearerToken | None:
        with self._lock:
            tok = self._tokens.get((service, scopes))
            if tok is not None and not tok.valid():
                del self._tokens[(service, scopes)]
                return None
            return tok

    def put(self, service: str, scopes: tuple[str, ...], token: BearerToken) -> None:
        with self._lock:
            self._tokens[(service, scopes)] = token

    def invalidate(self, service: str, scopes: tuple[str, ...]) -> None:
        with self._lock:
            self._tokens.pop((service, scopes), None)


def _lifetime(answer: dict) -> float:
    try:
        seconds = float(answer.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
    except (TypeError, ValueError):
        seconds = DEFAULT_TOKEN_LIFETIME
    if seconds <= 0:
        seconds = DEFAULT_TOKEN_LIFETIME
    # Refresh a little early so a token does not expire between check and use.
    return seconds - min(5.0, seconds / 4)


def fetch_token(
    *,
    send: TokenSend,
    registry: str,
    challenge: Challenge,
    scopes: tuple[str, ...],
    credential: Credential,
    plain_http_ok: bool,
) -> BearerToken:
    """Get a Bearer token for ``scopes`` from the challenge's realm.

    ``send(method, url, where, **kwargs)`` sends one request under the registry client's
    limits and trust. ``plain_http_ok`` says whether credentials may be sent to an
    ``http://`` realm (only for loopback or explicitly insecure hosts).
    """
    realm = challenge.realm
    parts = urlsplit(realm)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise RegistryError(
            f"registry {registry}: the Bearer challenge names an unusable token realm {one_line(realm, 100)!r}; "
            "the registry is misconfigured",
            registry=registry,
        )
    has_secret = credential.kind in (BASIC, IDENTITY_TOKEN)
    if has_secret and parts.scheme == "http" and not (plain_http_ok or is_loopback_host(parts.netloc)):
        raise RegistryError(
            f"registry {registry}: refusing to send {credential.describe()} to the plain-HTTP token realm "
            f"{parts.scheme}://{parts.netloc}{parts.path}; use https or mark the host as an insecure registry",
            registry=registry,
        )
    where = f"{parts.scheme}://{parts.netloc}{parts.path}"
    answer: dict | None = None
    if credential.kind == IDENTITY_TOKEN:
        data = {
            "grant_type": "refresh_token",
            "service": challenge.service,
            "client_id": CLIENT_ID,
            "refresh_token": credential.secret.reveal(),
        }
        if scopes:
            data["scope"] = " ".join(scopes)  # the form body takes space-separated scopes
        resp = _send_token_request(send, "POST", realm, registry, where, data=data)
        if resp.status_code != 404:
            answer = _token_answer(resp, registry, "POST", where, credential)
        else:
            close_quietly(resp)
    if answer is None:
        params: list[tuple[str, str]] = []
        if challenge.service:
            params.append(("service", challenge.service))
        params.extend(("scope", s) for s in scopes)
        headers = {}
        if credential.kind == BASIC:
            headers["Authorization"] = basic_header(credential.username, credential.secret)
        elif credential.kind == IDENTITY_TOKEN:
            headers["Authorization"] = basic_header(credential.username or IDENTITY_TOKEN_USERNAME, credential.secret)
        resp = _send_token_request(send, "GET", realm, registry, where, params=params, headers=headers)
        answer = _token_answer(resp, registry, "GET", where, credential)
    token = answer.get("token") or answer.get("access_token")
    if not isinstance(token, str) or not token:
        raise RegistryError(
            f"registry {registry}: the token server {where} answered without a token; the token server is misconfigured",
            registry=registry,
        )
    return BearerToken(Secret(token), time.monotonic() + _lifetime(answer), scopes)


def _send_token_request(
    send: TokenSend, method: str, realm: str, registry: str, where: str, **kwargs: object
) -> requests.Response:
    try:
        return send(method, realm, f"registry {registry}: {method} token from {where}", **kwargs)
    except requests.RequestException as e:
        raise RegistryError(
            f"registry {registry}: {method} token from {where}: cannot connect ({type(e).__name__}); "
            "check that the token server is reachable",
            registry=registry,
            method=method,
            path=where,
        ) from None


def _token_answer(resp: requests.Response, registry: str, method: str, where: str, credential: Credential) -> dict:
    if resp.status_code != 200:
        close_quietly(resp)  # the body of a refusal is never read: the status says it all
        hint = "check the credentials" if resp.status_code in (401, 403) else "the token server refused the request"
        raise RegistryError(
            f"registry {registry}: {method} token from {where}: {resp.status_code} {one_line(resp.reason, 60)} "
            f"(credentials tried: {credential.describe()}; {hint})",
            registry=registry,
            method=method,
            path=where,
            status=resp.status_code,
        )
    body = read_body(
        resp, MAX_TOKEN_ANSWER, where=f"registry {registry}: {method} token from {where}", what="token answer"
    )
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise RegistryError(
            f"registry {registry}: the token server {where} did not answer with a JSON object; "
            "the token server is misconfigured",
            registry=registry,
        )
    return answer
