"""Where the Docker daemon listens: `DOCKER_HOST`, read as the Docker client reads it.

ko reaches the daemon through go-containerregistry's `pkg/v1/daemon`, whose default client is
moby's `client.New(client.FromEnv)` (`pkg/v1/daemon/options.go`): `DOCKER_HOST` is
`unix:///path/to/socket` or `tcp://host:port`, unset means `unix:///var/run/docker.sock`
(moby `client/client_unix.go` `DefaultDockerHost`); with `DOCKER_CERT_PATH` set, tcp uses TLS
with that folder's `ca.pem`, `cert.pem` and `key.pem`, verifying the daemon's certificate unless
`DOCKER_TLS_VERIFY` is empty (moby `client/options.go` `WithTLSClientConfigFromEnv`);
`DOCKER_TLS_VERIFY` alone takes the certificates from `~/.docker`, as the docker CLI does. Docker
contexts are not read (ko does not read them either). podman's Docker-compatible socket is a
unix socket like Docker's (`unix:///run/podman/podman.sock`, or the user's
`$XDG_RUNTIME_DIR/podman/podman.sock`).

`tcp://host` without a port means 2375 (2376 with TLS), as the docker CLI reads it
(docker/cli `opts/hosts.go`). Other schemes (`ssh://`, `npipe://`, `fd://`) are refused with
one line saying what to use instead. No Pants imports here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from pants_backend_ko.errors import KoError

__all__ = ["DEFAULT_DOCKER_HOST", "DaemonAddress", "DaemonAddressError", "TlsFiles", "daemon_address"]

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
_DEFAULT_TCP_PORT, _DEFAULT_TLS_PORT = 2375, 2376


class DaemonAddressError(KoError, ValueError):
    """`DOCKER_HOST` (or the TLS variables) cannot be used; the message is one line."""


@dataclass(frozen=True)
class TlsFiles:
    """The client certificate, key and CA of `DOCKER_CERT_PATH`."""

    ca: str
    cert: str
    key: str
    verify: bool  # False when DOCKER_TLS_VERIFY is empty: the daemon's certificate is not checked


@dataclass(frozen=True)
class DaemonAddress:
    """A daemon endpoint: a unix socket path, or a TCP host and port (with TLS files or not)."""

    scheme: str  # "unix" or "tcp"
    path: str = ""  # the socket, for unix
    host: str = ""  # for tcp
    port: int = 0
    tls: TlsFiles | None = None
    from_env: bool = True  # False: DOCKER_HOST was unset and this is the default

    @property
    def url(self) -> str:
        """The address as `DOCKER_HOST` spells it."""
        if self.scheme == "unix":
            return f"unix://{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"

    @property
    def shown(self) -> str:
        """How messages name the daemon, saying where the address came from."""
        if self.from_env:
            return f"DOCKER_HOST={self.url}"
        return f"{self.url} (DOCKER_HOST is unset; this is the default)"


def _tls_files(environ: Mapping[str, str], where: str) -> TlsFiles | None:
    cert_path = environ.get("DOCKER_CERT_PATH", "")
    if not cert_path and environ.get("DOCKER_TLS_VERIFY"):
        # The docker CLI's default (docker/cli `cli/flags/options.go`): the client config folder.
        cert_path = environ.get("DOCKER_CONFIG") or os.path.join(environ.get("HOME", "~"), ".docker")
    if not cert_path:
        return None
    files = {name: os.path.join(cert_path, f"{name}.pem") for name in ("ca", "cert", "key")}
    missing = [path for path in files.values() if not os.path.isfile(path)]
    if missing:
        raise DaemonAddressError(
            f"{where} with TLS: {cert_path} lacks {', '.join(os.path.basename(m) for m in missing)}; "
            "DOCKER_CERT_PATH must name the folder holding ca.pem, cert.pem and key.pem"
        )
    return TlsFiles(**files, verify=bool(environ.get("DOCKER_TLS_VERIFY")))


def daemon_address(environ: Mapping[str, str]) -> DaemonAddress:
    """The daemon `environ` names (`DOCKER_HOST`, `DOCKER_CERT_PATH`, `DOCKER_TLS_VERIFY`)."""
    value = environ.get("DOCKER_HOST", "").strip()
    from_env = bool(value)
    text = value or DEFAULT_DOCKER_HOST
    where = f"DOCKER_HOST={text}" if from_env else "the default Docker daemon address"
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise DaemonAddressError(f"{where}: no scheme; write unix:///path/to/docker.sock or tcp://host:port")
    scheme = scheme.lower()
    if scheme == "unix":
        if not rest.startswith("/"):
            raise DaemonAddressError(f"{where}: a unix socket needs an absolute path, e.g. unix:///var/run/docker.sock")
        return DaemonAddress("unix", path=rest, from_env=from_env)
    if scheme == "tcp":
        parts = urlsplit(f"//{rest}")
        try:
            port = parts.port
        except ValueError:
            raise DaemonAddressError(f"{where}: the port is not a number from 1 to 65535") from None
        if not parts.hostname:
            raise DaemonAddressError(f"{where}: no host; write tcp://host:port, e.g. tcp://127.0.0.1:2375")
        if parts.path not in ("", "/") or parts.query or parts.username:
            raise DaemonAddressError(f"{where}: only tcp://host:port is supported (no path, query or user)")
        tls = _tls_files(environ, where)
        return DaemonAddress(
            "tcp",
            host=parts.hostname,
            port=port or (_DEFAULT_TLS_PORT if tls else _DEFAULT_TCP_PORT),
            tls=tls,
            from_env=from_env,
        )
    hints = {
        "ssh": "forward the remote socket (ssh -nNT -L /tmp/docker.sock:/var/run/docker.sock host) and set "
        "DOCKER_HOST=unix:///tmp/docker.sock",
        "npipe": "named pipes exist only on Windows; use unix:// or tcp://",
        "fd": "fd:// is how systemd hands sockets to the daemon, not an address for clients; use the "
        "daemon's socket, e.g. unix:///var/run/docker.sock",
    }
    hint = hints.get(scheme, "use unix:///path/to/docker.sock or tcp://host:port")
    raise DaemonAddressError(f"{where}: the {scheme}:// scheme is not supported; {hint}")
