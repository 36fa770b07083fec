"""A small Docker Engine API client: the calls ko makes through go-containerregistry's daemon package.

go-containerregistry's `pkg/v1/daemon` (`write.go`, `image.go`, `options.go`) calls six methods
of moby's client (its `Client` interface); this module makes the same requests, `/version`, and
`/images/json` (for the read-only publish check), over HTTP/1.1 with the standard library
(`http.client` over the unix socket or TCP, `ssl` for TLS):

| call | Engine API |
|---|---|
| `ping` (API version negotiation) | `GET /_ping`, header `Api-Version` |
| `version` | `GET /version` |
| `list_images` | `GET /v{api}/images/json?filters={"reference":[repo]}` |
| `inspect_image` | `GET /v{api}/images/{name or id}/json` (404: no such image) |
| `image_history` | `GET /v{api}/images/{name}/history` |
| `tag_image` | `POST /v{api}/images/{name or id}/tag?repo=&tag=` |
| `load` | `POST /v{api}/images/load?quiet=0`, the archive streamed chunked, JSON messages back |
| `save` | `GET /v{api}/images/{name}/get`, a `docker save` tarball |

The API version is negotiated as moby's client does (`client/client.go`
`NegotiateAPIVersionPing`): the lower of the server's `Api-Version` and ours, 1.24 when the
server names none. Every call above is unchanged since API 1.24, so the server's newest version
is used up to ours (Docker 29 refuses versions below 1.44).

Failures raise `DaemonError` with one line naming the daemon (`DOCKER_HOST=...`) and what to
do: no socket, nothing listening, permission denied, timeouts, and the daemon's own message
when it refuses a request. No Pants imports here.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import quote, urlencode

from pants_backend_ko.errors import KoError, one_line
from pants_backend_ko.oci.daemon.host import DaemonAddress
from pants_backend_ko.oci.daemon.jsonmessage import MessageStreamError, read_messages

__all__ = [
    "MAX_API_VERSION",
    "FALLBACK_API_VERSION",
    "DaemonClient",
    "DaemonError",
    "DaemonUnavailableError",
    "EngineVersion",
    "ImageInspect",
    "ImageSummary",
]

MAX_API_VERSION = "1.51"  # Docker 28.3; the calls here are the same in every version from 1.24
FALLBACK_API_VERSION = "1.24"  # what moby's client assumes when a daemon names no version
_READ_CHUNK = 1 << 16
_MESSAGE_LIMIT = 600  # characters of a daemon's own message quoted in ours


class DaemonError(KoError):
    """A daemon call failed; `str()` is one line saying which daemon, what went wrong and what to do."""


class DaemonUnavailableError(DaemonError):
    """No daemon answers at the address (nothing was sent to it)."""


def _version_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        return ()


@dataclass(frozen=True)
class EngineVersion:
    """`GET /version`: which engine answers and what it supports."""

    version: str
    api_version: str
    min_api_version: str
    os: str
    arch: str
    components: tuple[str, ...]  # e.g. ("Engine", "containerd") or ("Podman Engine", ...)

    @property
    def is_podman(self) -> bool:
        return any(name.startswith("Podman") for name in self.components)

    @classmethod
    def from_json(cls, value: dict) -> EngineVersion:
        return cls(
            version=str(value.get("Version", "")),
            api_version=str(value.get("ApiVersion", "")),
            min_api_version=str(value.get("MinAPIVersion", "")),
            os=str(value.get("Os", "")),
            arch=str(value.get("Arch", "")),
            components=tuple(str(c.get("Name", "")) for c in value.get("Components") or () if isinstance(c, dict)),
        )


@dataclass(frozen=True)
class ImageInspect:
    """The parts of `GET /images/{name}/json` we use."""

    id: str  # "sha256:<hex>": the config digest (the manifest digest with containerd's image store)
    repo_tags: tuple[str, ...]
    os: str
    architecture: str
    variant: str
    diff_ids: tuple[str, ...]

    @classmethod
    def from_json(cls, value: dict) -> ImageInspect:
        rootfs = value.get("RootFS")
        if not isinstance(rootfs, dict):
            rootfs = {}
        return cls(
            id=str(value.get("Id", "")),
            repo_tags=tuple(str(t) for t in value.get("RepoTags") or ()),
            os=str(value.get("Os", "")),
            architecture=str(value.get("Architecture", "")),
            variant=str(value.get("Variant", "")),
            diff_ids=tuple(str(d) for d in rootfs.get("Layers") or ()),
        )


@dataclass(frozen=True)
class ImageSummary:
    """One entry of `GET /images/json`."""

    id: str
    repo_tags: tuple[str, ...]

    @classmethod
    def from_json(cls, value: dict) -> ImageSummary:
        return cls(id=str(value.get("Id", "")), repo_tags=tuple(str(t) for t in value.get("RepoTags") or ()))


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("docker", timeout=timeout)  # the Host header; moby sends a placeholder too
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self._path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def _tls_context(address: DaemonAddress) -> ssl.SSLContext:
    tls = address.tls
    assert tls is not None
    context = ssl.create_default_context(cafile=tls.ca)
    context.load_cert_chain(tls.cert, tls.key)
    if not tls.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class DaemonClient:
    """One daemon at `address`. Each call opens its own connection (calls may run in threads)."""

    def __init__(self, address: DaemonAddress, *, timeout: float = 60.0, stream_timeout: float = 900.0) -> None:
        self.address = address
        self.timeout = timeout  # connecting and simple calls
        self.stream_timeout = stream_timeout  # the longest silence while an image loads or saves
        self._api_version: str | None = None

    # ------------------------------------------------------------------ transport

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        address = self.address
        if address.scheme == "unix":
            return _UnixConnection(address.path, timeout)
        if address.tls is not None:
            return http.client.HTTPSConnection(
                address.host, address.port, timeout=timeout, context=_tls_context(address)
            )
        return http.client.HTTPConnection(address.host, address.port, timeout=timeout)

    def _unavailable(self, error: OSError) -> DaemonUnavailableError:
        where = self.address.shown
        if isinstance(error, FileNotFoundError):
            detail = f"no Docker daemon at {where}: the socket {self.address.path} does not exist"
        elif isinstance(error, ConnectionRefusedError):
            detail = f"no Docker daemon at {where}: nothing accepts connections there"
        elif isinstance(error, PermissionError):
            return DaemonUnavailableError(
                f"cannot connect to the Docker daemon at {where}: permission denied; use a socket this user may "
                "open (e.g. join the docker group) or point DOCKER_HOST at one"
            )
        elif isinstance(error, ssl.SSLError):
            return DaemonUnavailableError(
                f"TLS with the Docker daemon at {where} failed: {error.reason or error}; check the certificates in "
                "DOCKER_CERT_PATH"
            )
        elif isinstance(error, socket.timeout):
            return DaemonUnavailableError(
                f"the Docker daemon at {where} did not answer within {self.timeout:g}s; is it running and reachable?"
            )
        else:
            detail = f"cannot connect to the Docker daemon at {where}: {error.strerror or error}"
        return DaemonUnavailableError(
            f"{detail}; start Docker (or `podman system service`) or set DOCKER_HOST to the daemon's address"
        )

    @contextlib.contextmanager
    def _call(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Iterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        versioned: bool = True,
        what: str,
    ) -> Iterator[http.client.HTTPResponse]:
        """Send one request and yield the response (any status); the connection closes afterwards."""
        if versioned:
            path = f"/v{self.api_version()}{path}"
        if query:
            path += "?" + urlencode(query)
        conn = self._connection(timeout or self.timeout)
        try:
            try:
                conn.connect()
            except OSError as e:
                raise self._unavailable(e) from None
            try:
                conn.request(method, path, body=body, headers=headers or {})
            except OSError as e:
                # The daemon may close the connection while the body is still being sent, after
                # answering why (an error status): read that answer if there is one.
                try:
                    response = conn.getresponse()
                except (OSError, http.client.HTTPException):
                    raise DaemonError(
                        f"the Docker daemon at {self.address.shown} closed the connection during {what}: "
                        f"{e.strerror or e}"
                    ) from None
            else:
                try:
                    response = conn.getresponse()
                except socket.timeout:
                    raise DaemonError(
                        f"the Docker daemon at {self.address.shown} did not answer {what} within "
                        f"{timeout or self.timeout:g}s"
                    ) from None
                except ssl.SSLError as e:  # TLS 1.3: a refused client certificate shows up here
                    raise DaemonError(
                        f"TLS with the Docker daemon at {self.address.shown} failed during {what}: "
                        f"{e.reason or e}; check the certificates in DOCKER_CERT_PATH"
                    ) from None
                except (OSError, http.client.HTTPException) as e:
                    raise DaemonError(f"the Docker daemon at {self.address.shown} failed {what}: {e}") from None
            yield response
        finally:
            conn.close()

    def _error(self, response: http.client.HTTPResponse, what: str) -> DaemonError:
        """The daemon's refusal as one line: its JSON `message` (podman adds `cause`), or its text."""
        data = response.read(64 * 1024)
        try:
            message = json.loads(data).get("message") or ""
        except (ValueError, AttributeError):
            message = data.decode("utf-8", "replace")
        return DaemonError(
            f"the Docker daemon at {self.address.shown} refused {what} "
            f"(HTTP {response.status}): {one_line(message, _MESSAGE_LIMIT) or response.reason}"
        )

    def _json(self, method: str, path: str, *, what: str, versioned: bool = True, ok: int = 200) -> object:
        with self._call(method, path, what=what, versioned=versioned) as response:
            if response.status != ok:
                raise self._error(response, what)
            try:
                return json.loads(response.read())
            except ValueError:
                raise DaemonError(
                    f"the Docker daemon at {self.address.shown} answered {what} with invalid JSON"
                ) from None

    # ------------------------------------------------------------------ API version

    def ping(self) -> str:
        """`GET /_ping`: the newest API version the daemon speaks ("" when it does not say)."""
        with self._call("GET", "/_ping", versioned=False, what="GET /_ping") as response:
            body = response.read(4096).decode("utf-8", "replace")
            if response.status != 200:
                hint = (
                    "it speaks TLS: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH to the folder of ca.pem, cert.pem "
                    "and key.pem"
                    if "HTTPS" in body
                    else "is DOCKER_HOST the address of a Docker Engine API?"
                )
                raise DaemonError(
                    f"the Docker daemon at {self.address.shown} answered /_ping with HTTP {response.status} "
                    f"({one_line(body, 200) or response.reason}); {hint}"
                )
            return response.getheader("Api-Version", "") or ""

    def api_version(self) -> str:
        """The API version every call uses, negotiated once (moby's `NegotiateAPIVersionPing`)."""
        if self._api_version is None:
            server = self.ping() or FALLBACK_API_VERSION
            if not _version_tuple(server):
                raise DaemonError(f"the Docker daemon at {self.address.shown} names API version {server!r}")
            if _version_tuple(server) < _version_tuple(FALLBACK_API_VERSION):
                raise DaemonError(
                    f"the Docker daemon at {self.address.shown} speaks API {server}; {FALLBACK_API_VERSION} "
                    "(Docker 1.12) or newer is needed"
                )
            self._api_version = min(server, MAX_API_VERSION, key=_version_tuple)
        return self._api_version

    def version(self) -> EngineVersion:
        value = self._json("GET", "/version", versioned=False, what="GET /version")
        if not isinstance(value, dict):
            raise DaemonError(f"the Docker daemon at {self.address.shown} answered /version with {value!r}")
        return EngineVersion.from_json(value)

    # ------------------------------------------------------------------ images

    def list_images(self, repository: str) -> tuple[ImageSummary, ...]:
        """`GET /images/json` filtered by `reference=repository`: the images with a tag in it."""
        what = f"listing the images of {repository}"
        filters = json.dumps({"reference": [repository]})
        with self._call("GET", "/images/json", query={"filters": filters}, what=what) as response:
            if response.status != 200:
                raise self._error(response, what)
            try:
                value = json.loads(response.read())
            except ValueError:
                value = None
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise DaemonError(f"the Docker daemon at {self.address.shown} answered {what} with {value!r}")
        return tuple(ImageSummary.from_json(item) for item in value)

    def inspect_image_json(self, ref: str) -> dict | None:
        """`GET /images/{ref}/json` as the daemon answers it, or None when it has no such image."""
        what = f"inspecting image {ref}"
        with self._call("GET", f"/images/{quote(ref, safe='/:@')}/json", what=what) as response:
            if response.status == 404:
                response.read()
                return None
            if response.status != 200:
                raise self._error(response, what)
            value = json.loads(response.read())
        if not isinstance(value, dict):
            raise DaemonError(f"the Docker daemon at {self.address.shown} answered {what} with {value!r}")
        return value

    def inspect_image(self, ref: str) -> ImageInspect | None:
        """The image `ref` (a name:tag or an ID) names, or None when the daemon has none."""
        value = self.inspect_image_json(ref)
        return None if value is None else ImageInspect.from_json(value)

    def image_history(self, ref: str) -> list[dict]:
        """`GET /images/{ref}/history`: one entry per history item, newest first, as Docker lists them."""
        what = f"reading the history of image {ref}"
        value = self._json("GET", f"/images/{quote(ref, safe='/:@')}/history", what=what)
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise DaemonError(f"the Docker daemon at {self.address.shown} answered {what} with {value!r}")
        return value

    def tag_image(self, source: str, repository: str, tag: str) -> None:
        """Tag the image `source` names as `repository:tag` (moby `ImageTag`)."""
        what = f"tagging {source} as {repository}:{tag}"
        query = {"repo": repository, "tag": tag}
        with self._call("POST", f"/images/{quote(source, safe='/:@')}/tag", query=query, what=what) as response:
            if response.status not in (200, 201):
                raise self._error(response, what)
            response.read()

    def load(self, archive: Iterable[bytes], *, what: str) -> tuple[str, ...]:
        """Stream a `docker save`-style tarball to `POST /images/load`; the names it loaded.

        The daemon answers 200 and then JSON messages; an error message means it refused the
        archive (whatever it had read is not an image we report as loaded).
        """
        headers = {"Content-Type": "application/x-tar"}
        loaded = []
        with self._call(
            "POST",
            "/images/load",
            query={"quiet": "0"},
            body=archive,
            headers=headers,
            timeout=self.stream_timeout,
            what=what,
        ) as response:
            if response.status != 200:
                raise self._error(response, what)
            try:
                for message in read_messages(_chunks(response)):
                    if message.error:
                        raise DaemonError(
                            f"the Docker daemon at {self.address.shown} refused {what}: {one_line(message.error, _MESSAGE_LIMIT)}"
                        )
                    for line in message.stream.splitlines():
                        name = (
                            line.partition("Loaded image:")[2].strip() or line.partition("Loaded image ID:")[2].strip()
                        )
                        if name:
                            loaded.append(name)
            except MessageStreamError as e:
                raise DaemonError(f"the Docker daemon at {self.address.shown} answered {what} with {e}") from None
            except socket.timeout:
                raise DaemonError(
                    f"the Docker daemon at {self.address.shown} was silent for {self.stream_timeout:g}s during {what}"
                ) from None
        return tuple(loaded)

    @contextlib.contextmanager
    def save(self, ref: str) -> Iterator[BinaryIO]:
        """`GET /images/{ref}/get`: the image as a `docker save` tarball, read as a stream."""
        what = f"exporting image {ref}"
        with self._call("GET", f"/images/{quote(ref, safe='/:@')}/get", timeout=self.stream_timeout, what=what) as r:
            if r.status != 200:
                raise self._error(r, what)
            yield r


def _chunks(response: http.client.HTTPResponse) -> Iterator[bytes]:
    while chunk := response.read1(_READ_CHUNK):
        yield chunk
