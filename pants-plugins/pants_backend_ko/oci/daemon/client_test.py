"""What the client says when no daemon answers (real sockets; the daemon itself: tests/test_daemon.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from pants_backend_ko.oci.daemon.client import DaemonClient, DaemonUnavailableError
from pants_backend_ko.oci.daemon.host import daemon_address


def _error(environ: dict[str, str]) -> str:
    with pytest.raises(DaemonUnavailableError) as e:
        DaemonClient(daemon_address(environ), timeout=5).api_version()
    assert "\n" not in str(e.value)
    return str(e.value)


def test_no_socket(tmp_path: Path) -> None:
    sock = tmp_path / "docker.sock"
    assert _error({"DOCKER_HOST": f"unix://{sock}"}) == (
        f"no Docker daemon at DOCKER_HOST=unix://{sock}: the socket {sock} does not exist; start Docker "
        "(or `podman system service`) or set DOCKER_HOST to the daemon's address"
    )


def test_socket_nobody_listens_on(tmp_path: Path) -> None:
    path = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))  # bound, never listening: what a crashed daemon leaves behind
        assert "nothing accepts connections there" in _error({"DOCKER_HOST": f"unix://{path}"})


def test_tcp_port_nobody_listens_on() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        message = _error({"DOCKER_HOST": f"tcp://127.0.0.1:{port}"})
    assert message.startswith(f"no Docker daemon at DOCKER_HOST=tcp://127.0.0.1:{port}: nothing accepts")
