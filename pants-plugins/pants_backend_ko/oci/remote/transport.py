"""HTTP transport to one registry: scheme choice, authentication, retries, errors.

:class:`RegistryClient` wraps a ``requests.Session`` for one registry host:

* **Scheme.** https with certificate verification (``ca_bundle`` or the system
  store). Plain http is tried only for loopback hosts (``localhost``,
  127.0.0.0/8, ``::1``) and hosts listed in ``insecure_registries`` (for those,
  https is also not verified), and only after https failed for a reason other
  than an untrusted certificate, so a public host is never downgraded.
* **Auth.** ``GET /v2/`` learns the challenge once. Basic challenges get the
  keychain's credential; Bearer challenges get a token for the operation's
  scopes, fetched before any body is sent and cached per (service, scopes).
  A 401 is answered once: its challenge's scopes are merged in and a fresh
  token fetched; a second 401 is an error (no loops).
* **Retries.** Connection errors, 429 and 5xx are retried with exponential
  backoff honouring ``Retry-After``, bounded by a count and a total time. A peer
  that connected but crossed a :class:`~.limits.TransportLimits` bound (no answer,
  stalled, too slow) is not retried: the user's bound is the whole wait.
* **Memory and time.** Every exchange runs under the watchdog of :mod:`.limits`,
  and every body is read through its bounded readers (:func:`~.limits.read_body`,
  :func:`~.limits.iter_body`); error bodies, the ``/v2/`` ping's and other small
  answers are read to at most 64 KiB (so that their connections are reused) and
  otherwise dropped with their connections.
* **Locations and redirects.** ``Location`` headers are resolved against the
  request URL; upload locations on another scheme/host/port are refused.
  Redirects of ``GET``/``HEAD`` are followed by hand (blob downloads are often
  redirected to storage; some registries redirect manifests too), and
  ``Authorization`` goes only to the registry's own origin. A redirect of an upload
  (``PUT``/``POST``/``PATCH``) is refused in one line naming where it points.
* **Errors** are :class:`RegistryError` with one line naming the registry, the
  request, the status and error code, and for 401/403 the credentials tried
  (never the secret).
* **One client per registry**: :class:`ClientPool` is the only cache of clients; a
  client made on its own gets a pool of its own for its siblings (base registries
  that blobs are streamed from).

``requests`` is used with ``trust_env = False``: no netrc, no proxy variables
from ``os.environ`` (Pants passes environments explicitly). No Pants imports.
"""

from __future__ import annotations

import email.utils
import json
import logging
import threading
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Callable, Union
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from pants_backend_ko.oci.reference import normalize_registry, validate_registry
from pants_backend_ko.oci.remote.auth import (
    Challenge,
    TokenCache,
    basic_header,
    fetch_token,
    is_loopback_host,
    merge_scopes,
    parse_www_authenticate,
)
from pants_backend_ko.oci.remote.credentials import (
    BASIC,
    IDENTITY_TOKEN,
    IDENTITY_TOKEN_USERNAME,
    REGISTRY_TOKEN,
    Credential,
    Keychain,
)
from pants_backend_ko.oci.remote.errors import RegistryError, one_line
from pants_backend_ko.oci.remote.limits import (
    CONNECT,
    MAX_ERROR_BODY,
    TransferLimitError,
    TransportLimits,
    WatchedAdapter,
    attach_transfer,
    is_timeout,
    new_transfer,
    progress_body,
    read_body,
    sending,
    settle,
)

logger = logging.getLogger(__name__)

USER_AGENT = "pants-backend-ko"
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
_FOLLOWED = ("GET", "HEAD")  # the methods whose redirects are followed
Body = Union[None, bytes, Callable[[], object]]
_STATUS_CODES = {401: "UNAUTHORIZED", 403: "DENIED", 404: "NOT_FOUND", 429: "TOOMANYREQUESTS"}


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


def _attempts(n: int) -> str:
    return f"{n} attempt" + ("" if n == 1 else "s")


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_code_and_message(resp: requests.Response, where: str) -> tuple[str, str]:
    """The first distribution error (``{"errors":[{"code","message"}]}``), else the body text.

    At most :data:`~.limits.MAX_ERROR_BODY` bytes are read: an endless error body costs no more.
    """
    if resp.request is not None and resp.request.method == "HEAD":
        return "", ""
    try:
        raw = read_body(resp, MAX_ERROR_BODY, where=where, what="error answer", truncate=True)
    except RegistryError:  # the body is only a detail of the error: a broken or slow one is skipped
        return "", ""
    text = raw.decode(resp.encoding or "utf-8", "replace")
    if text:
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("errors"), list) and data["errors"]:
            first = data["errors"][0]
            if isinstance(first, dict):
                return str(first.get("code") or ""), one_line(str(first.get("message") or ""), 160)
        if "json" not in resp.headers.get("Content-Type", ""):
            return "", one_line(text, 120)
    return "", ""


class RegistryClient:
    """A connection to one registry host; thread-safe for concurrent requests."""

    def __init__(
        self,
        registry: str,
        *,
        keychain: Keychain | None = None,
        insecure_registries: Iterable[str] = (),
        ca_bundle: str | None = None,
        retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 20.0,
        retry_budget: float = 120.0,
        limits: TransportLimits | None = None,
        pool_size: int = 16,
        user_agent: str = USER_AGENT,
        pool: ClientPool | None = None,
    ) -> None:
        self.registry = validate_registry(registry)
        self.keychain = keychain if keychain is not None else Keychain({})
        self.insecure_registries = tuple(
            sorted({normalize_registry(r.strip()) for r in insecure_registries if r.strip()})
        )
        self.insecure = self.registry in self.insecure_registries
        self.loopback = is_loopback_host(self.registry)
        self.ca_bundle = ca_bundle
        self.retries = max(0, int(retries))
        self.backoff = max(0.0, float(backoff))
        self.max_backoff = max_backoff
        self.retry_budget = retry_budget
        self.limits = limits if limits is not None else TransportLimits()
        self.user_agent = user_agent
        self._pool_size = pool_size
        self._verify: bool | str = False if self.insecure else (ca_bundle or True)
        if self.insecure:
            # The user listed this host as insecure: say so once instead of a warning per request.
            warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
            logger.warning(
                "registry %s: TLS verification is off and plain HTTP is allowed (insecure registry)", self.registry
            )
        self._session = requests.Session()
        self._session.trust_env = False
        self._session.headers["User-Agent"] = user_agent
        # Bodies are read by our bounded readers, which undo gzip/deflate themselves (bounded);
        # asking for none keeps well-behaved registries from compressing at all.
        self._session.headers["Accept-Encoding"] = "identity"
        adapter = WatchedAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._lock = threading.Lock()
        self._token_lock = threading.Lock()
        self._scheme: str | None = None
        self._challenge: Challenge | None = None
        self._credential: Credential | None = None
        self._tokens = TokenCache()
        self._own_pool = pool is None
        self._pool = pool if pool is not None else ClientPool.around(self)

    # ----------------------------------------------------------------- basics

    @property
    def options(self) -> dict[str, object]:
        """The transport options a sibling client gets (all but registry, keychain and trust)."""
        return {
            "retries": self.retries,
            "backoff": self.backoff,
            "max_backoff": self.max_backoff,
            "retry_budget": self.retry_budget,
            "limits": self.limits,
            "pool_size": self._pool_size,
            "user_agent": self.user_agent,
        }

    def sibling(self, registry: str) -> RegistryClient:
        """The client of another registry with the same keychain and transport options."""
        return self._pool.get(registry)

    def close(self) -> None:
        if self._own_pool:
            self._pool.close()  # closes this client too
        else:
            self._session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def credential(self) -> Credential:
        if self._credential is None:
            self._credential = self.keychain.resolve(self.registry)
        return self._credential

    @property
    def base_url(self) -> str:
        self.ping()
        assert self._scheme is not None
        return f"{self._scheme}://{self.registry}"

    @property
    def challenge(self) -> Challenge | None:
        self.ping()
        return self._challenge

    # ------------------------------------------------------------------- ping

    def ping(self) -> None:
        """Find the scheme and the auth challenge with ``GET /v2/`` (once per client)."""
        with self._lock:
            if self._scheme is not None:
                return
            schemes = ["https", "http"] if (self.insecure or self.loopback) else ["https"]
            failures: list[str] = []
            for index, scheme in enumerate(schemes):
                url = f"{scheme}://{self.registry}/v2/"
                last = index == len(schemes) - 1
                try:
                    resp, attempts = self._send_counting("GET", url, headers={}, body=None, retry_connect=last)
                    if resp.status_code in REDIRECTS:
                        resp = self._follow("GET", url, resp, {})
                except requests.exceptions.SSLError as e:
                    if "CERTIFICATE_VERIFY_FAILED" in str(e) or "certificate verify failed" in str(e):
                        raise RegistryError(
                            f"registry {self.registry}: GET /v2/: the TLS certificate is not trusted; "
                            "pass the CA bundle that signed it, or list the host as an insecure registry",
                            registry=self.registry,
                            method="GET",
                            path="/v2/",
                        ) from None
                    failures.append(f"{scheme}: TLS handshake failed")
                    continue
                except requests.RequestException as e:
                    failures.append(f"{scheme}: {type(e).__name__}")
                    continue
                except TransferLimitError:
                    if last:
                        raise
                    continue  # connected but silent over https: plain http may still answer
                with resp:
                    if resp.status_code == 200:
                        self._challenge = None
                    elif resp.status_code == 401:
                        self._challenge = parse_www_authenticate(resp.headers.get("WWW-Authenticate"))
                        if self._challenge is None:
                            raise RegistryError(
                                f"registry {self.registry}: GET /v2/: 401 without a Basic or Bearer challenge; "
                                "this client cannot authenticate to it",
                                registry=self.registry,
                                method="GET",
                                path="/v2/",
                                status=401,
                            )
                    elif resp.status_code == 400 and scheme == "http":
                        failures.append("http: 400 (a TLS listener answering plain HTTP?)")
                        continue
                    else:
                        raise self._status_error("GET", url, resp, attempts=attempts)
                    settle(resp, f"registry {self.registry}: GET /v2/")  # its connection serves the next request
                self._scheme = scheme
                logger.debug(
                    "registry %s speaks %s, challenge %s",
                    self.registry,
                    scheme,
                    self._challenge and self._challenge.scheme,
                )
                return
            raise RegistryError(
                f"registry {self.registry}: GET /v2/: cannot connect ({'; '.join(failures)}); "
                "check that the registry is running and reachable"
                + (
                    ""
                    if (self.insecure or self.loopback)
                    else ", or list it as an insecure registry if it speaks plain HTTP"
                ),
                registry=self.registry,
                method="GET",
                path="/v2/",
            )

    # ------------------------------------------------------------------- auth

    def _authorization(self, scopes: tuple[str, ...], *, force_new: bool = False) -> str | None:
        challenge = self._challenge
        if challenge is None:
            return None
        cred = self.credential
        if challenge.scheme == "basic":
            if cred.kind == BASIC:
                return basic_header(cred.username, cred.secret)
            if cred.kind == IDENTITY_TOKEN:
                return basic_header(cred.username or IDENTITY_TOKEN_USERNAME, cred.secret)
            if cred.kind == REGISTRY_TOKEN:
                return "Bearer " + cred.secret.reveal()
            return None
        if cred.kind == REGISTRY_TOKEN:
            return "Bearer " + cred.secret.reveal()
        with self._token_lock:
            token = None if force_new else self._tokens.get(challenge.service, scopes)
            if token is None:
                token = fetch_token(
                    registry=self.registry,
                    challenge=challenge,
                    scopes=scopes,
                    credential=cred,
                    send=self._send_token_request,
                    plain_http_ok=self.insecure or self.loopback,
                )
                self._tokens.put(challenge.service, scopes, token)
                logger.debug("registry %s: new token for %s", self.registry, " ".join(scopes))
        return "Bearer " + token.token.reveal()

    # --------------------------------------------------------------- requests

    def _is_registry_origin(self, url: str) -> bool:
        if self._scheme is None:
            return False
        return _origin(url) == _origin(f"{self._scheme}://{self.registry}/")

    def url_for(self, target: str) -> str:
        """``/v2/...`` -> an absolute URL on this registry; absolute URLs must be on this registry."""
        if target.startswith("/"):
            return self.base_url + target
        self.ping()
        if not self._is_registry_origin(target):
            parts = urlsplit(target)
            raise RegistryError(
                f"registry {self.registry}: refusing to send a request to {parts.scheme}://{parts.netloc}{parts.path}, "
                f"which is not {self._scheme}://{self.registry}; the registry returned a location on another "
                "scheme, host or port",
                registry=self.registry,
            )
        return target

    def resolve_location(self, resp: requests.Response, method: str) -> str:
        """The ``Location`` of an upload answer, resolved and checked to stay on this registry."""
        return self.url_for(self._location(resp, method, urlsplit(resp.url).path))

    def _location(self, resp: requests.Response, method: str, path: str) -> str:
        """The answer's ``Location``, resolved against its URL; one line when it has none."""
        location = resp.headers.get("Location")
        if not location:
            raise RegistryError(
                f"registry {self.registry}: {method} {path}: {resp.status_code} without a Location header; "
                "the registry (or a proxy in front of it) does not follow the distribution spec",
                registry=self.registry,
                method=method,
                path=path,
                status=resp.status_code,
            )
        return urljoin(resp.url, location)

    def request(
        self,
        method: str,
        target: str,
        *,
        scopes: Sequence[str] = (),
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: Body = None,
        expected: Sequence[int] = (200,),
    ) -> requests.Response:
        """Send an authenticated request; return the response if its status is in ``expected``.

        ``body`` is bytes or a zero-argument callable returning a fresh readable
        (so that a retry can re-send a streamed file). Anything else raises
        :class:`RegistryError`. The answer's body is not read: read it with
        :func:`~.limits.read_body` or :func:`~.limits.iter_body`, or close the response.
        """
        url = self.url_for(target)
        if params:
            url = requests.Request("GET", url, params=dict(params)).prepare().url or url
        merged = merge_scopes(scopes)
        auth_retried = False
        while True:
            auth = self._authorization(merged)
            hdrs: dict[str, str] = dict(headers or {})
            if auth:
                hdrs["Authorization"] = auth
            try:
                resp, attempts = self._send_counting(method, url, headers=hdrs, body=body)
            except requests.exceptions.SSLError as e:
                path = urlsplit(url).path
                raise RegistryError(
                    f"registry {self.registry}: {method} {path}: TLS failure ({one_line(str(e), 120)}); "
                    "check the registry's certificate and the CA bundle",
                    registry=self.registry,
                    method=method,
                    path=path,
                ) from None
            if resp.status_code == 401 and not auth_retried:
                new = parse_www_authenticate(resp.headers.get("WWW-Authenticate"))
                if new is not None and (
                    self._challenge is None or new.scheme != self._challenge.scheme or new.scheme == "bearer"
                ):
                    auth_retried = True
                    resp.close()
                    if self._challenge is None or new.scheme != self._challenge.scheme:
                        self._challenge = new
                    old = merged
                    merged = merge_scopes(list(merged) + list(new.scopes))
                    if self._challenge.scheme == "bearer":
                        self._tokens.invalidate(self._challenge.service, old)
                        self._tokens.invalidate(self._challenge.service, merged)
                    continue
            if resp.status_code in REDIRECTS and resp.status_code not in expected:
                resp = self._follow(method, url, resp, hdrs)
            if resp.status_code not in expected:
                raise self._status_error(method, url, resp, attempts=attempts, scopes=merged)
            return resp

    def _follow(self, method: str, url: str, resp: requests.Response, headers: dict[str, str]) -> requests.Response:
        """Follow redirects of GET/HEAD by hand: ``Authorization`` only to the registry's own origin.

        Other methods carry a body or change state: a redirect of one is refused with a hint.
        """
        path = urlsplit(url).path
        for _ in range(MAX_REDIRECTS):
            if resp.status_code not in REDIRECTS:
                return resp
            resp.close()
            target = self._location(resp, method, path)
            parts = urlsplit(target)
            if method not in _FOLLOWED:
                raise RegistryError(
                    f"registry {self.registry}: {method} {path}: {resp.status_code} redirect to "
                    f"{parts.scheme}://{parts.netloc}{parts.path}; uploads are not sent through redirects — "
                    f"if the registry moved, publish to {parts.netloc} directly",
                    registry=self.registry,
                    method=method,
                    path=path,
                    status=resp.status_code,
                )
            hdrs = dict(headers)
            same = self._is_registry_origin(target)
            if not same:
                hdrs.pop("Authorization", None)
            if parts.scheme not in ("http", "https"):
                raise RegistryError(
                    f"registry {self.registry}: {method}: redirected to an unsupported URL scheme {parts.scheme!r}",
                    registry=self.registry,
                    method=method,
                )
            verify = self._verify if same else (self.ca_bundle or True)
            where = f"registry {self.registry}: {method} {parts.scheme}://{parts.netloc}{parts.path} (redirect)"
            try:
                resp = self._exchange(method, target, headers=hdrs, verify=verify, where=where)
            except requests.RequestException as e:
                raise RegistryError(
                    f"registry {self.registry}: {method} {parts.scheme}://{parts.netloc}{parts.path} (redirect): "
                    f"cannot connect ({type(e).__name__}); check the storage the registry redirects to",
                    registry=self.registry,
                    method=method,
                    path=parts.path,
                ) from None
        raise RegistryError(
            f"registry {self.registry}: {method} {path}: more than {MAX_REDIRECTS} redirects; "
            "the registry is misconfigured",
            registry=self.registry,
            method=method,
        )

    def _exchange(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: object = None,
        verify: bool | str | None = None,
        where: str | None = None,
        **kwargs: object,
    ) -> requests.Response:
        """One request under the limits; the answer's body is left unread (bounded readers only).

        A peer that connected and then crossed a limit raises :class:`TransferLimitError`;
        anything else ``requests`` raises is passed on.
        """
        where = where or f"registry {self.registry}: {method} {urlsplit(url).path}"
        transfer = new_transfer(self.limits, where)
        try:
            with sending(transfer):
                resp = self._session.request(
                    method,
                    url,
                    headers=dict(headers),
                    data=progress_body(body, transfer),
                    stream=True,
                    timeout=self.limits.socket_timeouts,
                    verify=self._verify if verify is None else verify,
                    allow_redirects=False,
                    **kwargs,  # type: ignore[arg-type]
                )
        except TransferLimitError:
            transfer.finish()
            raise
        except requests.RequestException as e:
            transfer.finish()
            transfer.check()
            if isinstance(e, requests.ConnectTimeout) or not is_timeout(e):
                raise  # could not connect, or the connection broke: the callers decide on retries
            if transfer.phase == CONNECT:  # only the TLS handshake times out as a read here
                transfer.verdict = (
                    f"connected, but no answer to the TLS handshake within {self.limits.timeout:g} s "
                    "(the limit is [ko].registry_timeout)"
                )
            raise transfer.timed_out() from None
        attach_transfer(resp, transfer)
        if method != "GET" or not 200 <= resp.status_code < 300:
            settle(resp, where)  # small answers are read now: their connections are reused
        return resp

    def _send_token_request(self, method: str, url: str, where: str, **kwargs: object) -> requests.Response:
        """A request to the token server: its own origin's trust, the same limits."""
        verify = self._verify if self._is_registry_origin(url) else (self.ca_bundle or True)
        headers = kwargs.pop("headers", None) or {}
        body = kwargs.pop("data", None)
        return self._exchange(
            method, url, headers=headers, body=body, verify=verify, where=where, **kwargs  # type: ignore[arg-type]
        )

    def _send_counting(
        self, method: str, url: str, *, headers: Mapping[str, str], body: Body, retry_connect: bool = True
    ) -> tuple[requests.Response, int]:
        """Send with bounded retries on connection errors, 429 and 5xx. Returns (response, attempts)."""
        deadline = time.monotonic() + self.retry_budget
        attempt = 0
        while True:
            attempt += 1
            data = body() if callable(body) else body
            try:
                resp = self._exchange(method, url, headers=headers, body=data)
            except requests.exceptions.SSLError:
                raise  # never retried; callers turn it into a RegistryError
            except (requests.ConnectionError, requests.Timeout) as e:
                if not retry_connect or not self._may_retry(attempt, deadline, None):
                    if not retry_connect:
                        raise
                    path = urlsplit(url).path
                    raise RegistryError(
                        f"registry {self.registry}: {method} {path}: cannot connect after {_attempts(attempt)} "
                        f"({type(e).__name__}); check that the registry is running and reachable",
                        registry=self.registry,
                        method=method,
                        path=path,
                    ) from None
                self._sleep(attempt, deadline, None)
                continue
            finally:
                close = getattr(data, "close", None)
                if callable(close):
                    close()
            if resp.status_code == 429 or resp.status_code >= 500:
                wait = _retry_after_seconds(resp.headers.get("Retry-After"))
                if self._may_retry(attempt, deadline, wait):
                    logger.info(
                        "registry %s: %s %s answered %s; retrying",
                        self.registry,
                        method,
                        urlsplit(url).path,
                        resp.status_code,
                    )
                    resp.close()
                    self._sleep(attempt, deadline, wait)
                    continue
            return resp, attempt

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        delay = self.backoff * (2 ** (attempt - 1))
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, self.max_backoff)

    def _may_retry(self, attempt: int, deadline: float, retry_after: float | None) -> bool:
        if attempt > self.retries:
            return False
        if retry_after is not None and retry_after > self.max_backoff:
            # The registry asked for a longer pause than we ever wait: give up now and say so,
            # rather than retrying early (ignoring it) or sleeping for as long as it asked.
            return False
        return time.monotonic() + self._delay(attempt, retry_after) <= deadline

    def _sleep(self, attempt: int, deadline: float, retry_after: float | None) -> None:
        time.sleep(max(0.0, min(self._delay(attempt, retry_after), deadline - time.monotonic())))

    # ----------------------------------------------------------------- errors

    def _status_error(
        self, method: str, url: str, resp: requests.Response, *, attempts: int, scopes: Sequence[str] = ()
    ) -> RegistryError:
        path = urlsplit(url).path
        status = resp.status_code
        code, message = _error_code_and_message(resp, f"registry {self.registry}: {method} {path}")
        resp.close()
        if not code and not message:
            # HEAD answers (and some proxies) carry no error body: name the status the spec's way.
            code = _STATUS_CODES.get(status, "")
        head = f"registry {self.registry}: {method} {path}: {status} {code or one_line(resp.reason, 60) or 'error'}"
        if message and message.lower().replace(" ", "_") != code.lower():
            head += f": {message}"
        cred = self.credential.describe()
        if status == 401:
            hint = f"credentials tried: {cred}"
            if self._challenge is not None and self._challenge.scheme == "bearer" and scopes:
                hint += f"; the token did not grant {' '.join(scopes)}"
            hint += "; log in to the registry or fix the credentials"
        elif status == 403:
            hint = f"credentials tried: {cred}; they are not allowed to do this on the repository"
        elif status == 404:
            hint = "not found; check the registry, repository and reference"
        elif status == 429:
            hint = f"rate limited after {_attempts(attempts)}; try again later"
        elif status >= 500:
            hint = f"the registry failed after {_attempts(attempts)}; try again later"
        else:
            hint = ""
        return RegistryError(
            head + (f" ({hint})" if hint else ""),
            registry=self.registry,
            method=method,
            path=path,
            status=status,
            code=code,
        )


class ClientPool:
    """One :class:`RegistryClient` per registry, sharing keychain, trust and transport options.

    The only cache of clients: a client's :meth:`~RegistryClient.sibling` comes from its pool.
    """

    def __init__(
        self,
        *,
        keychain: Keychain | None = None,
        insecure_registries: Iterable[str] = (),
        ca_bundle: str | None = None,
        limits: TransportLimits | None = None,
        **options: object,
    ) -> None:
        self.keychain = keychain if keychain is not None else Keychain({})
        self.insecure_registries = tuple(insecure_registries)
        self.ca_bundle = ca_bundle
        self.options: dict[str, object] = {**options, "limits": limits if limits is not None else TransportLimits()}
        self._clients: dict[str, RegistryClient] = {}
        self._lock = threading.Lock()

    @classmethod
    def around(cls, client: RegistryClient) -> ClientPool:
        """The pool of a client made on its own: its siblings get its settings."""
        pool = cls(
            keychain=client.keychain,
            insecure_registries=client.insecure_registries,
            ca_bundle=client.ca_bundle,
            **client.options,  # type: ignore[arg-type]
        )
        pool._clients[client.registry] = client
        return pool

    def get(self, registry: str) -> RegistryClient:
        key = validate_registry(registry)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = RegistryClient(
                    key,
                    keychain=self.keychain,
                    insecure_registries=self.insecure_registries,
                    ca_bundle=self.ca_bundle,
                    pool=self,
                    **self.options,  # type: ignore[arg-type]
                )
            return self._clients[key]

    def close(self) -> None:
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            client._session.close()
