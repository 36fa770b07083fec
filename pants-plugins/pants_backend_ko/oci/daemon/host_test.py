"""DOCKER_HOST and the TLS variables, read as the Docker client reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pants_backend_ko.oci.daemon.host import DEFAULT_DOCKER_HOST, DaemonAddressError, daemon_address


def test_unset_means_the_default_socket() -> None:
    address = daemon_address({})
    assert (address.scheme, address.path, address.from_env) == ("unix", "/var/run/docker.sock", False)
    assert address.url == DEFAULT_DOCKER_HOST
    assert address.shown == "unix:///var/run/docker.sock (DOCKER_HOST is unset; this is the default)"
    assert daemon_address({"DOCKER_HOST": "  "}).from_env is False


@pytest.mark.parametrize(
    "value, scheme, where",
    [
        ("unix:///run/user/1000/podman/podman.sock", "unix", "/run/user/1000/podman/podman.sock"),
        ("UNIX:///tmp/d.sock", "unix", "/tmp/d.sock"),
        ("tcp://127.0.0.1:2375", "tcp", ("127.0.0.1", 2375)),
        ("tcp://docker.example:12375/", "tcp", ("docker.example", 12375)),
        ("tcp://[::1]:2375", "tcp", ("::1", 2375)),
        ("tcp://docker.example", "tcp", ("docker.example", 2375)),  # the docker CLI's default port
    ],
)
def test_supported_addresses(value: str, scheme: str, where) -> None:
    address = daemon_address({"DOCKER_HOST": value})
    assert address.scheme == scheme and address.from_env
    if scheme == "unix":
        assert address.path == where
    else:
        assert (address.host, address.port) == where and address.tls is None
    assert address.shown == f"DOCKER_HOST={address.url}"
    assert daemon_address({"DOCKER_HOST": address.url}) == address


@pytest.mark.parametrize(
    "value, message",
    [
        ("ssh://me@build-host", "the ssh:// scheme is not supported; forward the remote socket"),
        ("npipe:////./pipe/docker_engine", "named pipes exist only on Windows"),
        ("fd://", "fd:// is how systemd hands sockets to the daemon"),
        ("http://localhost:2375", "the http:// scheme is not supported; use unix:///path/to/docker.sock"),
        ("/var/run/docker.sock", "no scheme; write unix:///path/to/docker.sock or tcp://host:port"),
        ("unix://relative.sock", "a unix socket needs an absolute path"),
        ("tcp://:2375", "no host"),
        ("tcp://host:99999", "the port is not a number from 1 to 65535"),
        ("tcp://host:2375/v1.41", "only tcp://host:port is supported"),
    ],
)
def test_unsupported_addresses_give_one_line(value: str, message: str) -> None:
    with pytest.raises(DaemonAddressError) as e:
        daemon_address({"DOCKER_HOST": value})
    assert message in str(e.value) and str(e.value).startswith(f"DOCKER_HOST={value}: ")
    assert "\n" not in str(e.value)


def test_tls_files_from_docker_cert_path(tmp_path: Path) -> None:
    for name in ("ca", "cert", "key"):
        (tmp_path / f"{name}.pem").write_text(name)
    env = {"DOCKER_HOST": "tcp://docker.example", "DOCKER_CERT_PATH": str(tmp_path), "DOCKER_TLS_VERIFY": "1"}
    address = daemon_address(env)
    assert address.port == 2376 and address.tls is not None and address.tls.verify
    assert address.tls.ca == str(tmp_path / "ca.pem") and address.tls.key == str(tmp_path / "key.pem")
    assert daemon_address({**env, "DOCKER_TLS_VERIFY": ""}).tls.verify is False  # type: ignore[union-attr]
    # DOCKER_TLS_VERIFY alone: the docker CLI's config folder holds the certificates.
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    for name in ("ca", "cert", "key"):
        (home / ".docker" / f"{name}.pem").write_text(name)
    address = daemon_address({"DOCKER_HOST": "tcp://h:1", "DOCKER_TLS_VERIFY": "1", "HOME": str(home)})
    assert address.tls is not None and address.tls.cert == str(home / ".docker/cert.pem")
    # Unix sockets ignore the TLS variables.
    assert daemon_address({"DOCKER_HOST": "unix:///x.sock", "DOCKER_CERT_PATH": "/nowhere"}).tls is None


def test_missing_tls_files_give_one_line(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("ca")
    with pytest.raises(DaemonAddressError, match=r"lacks cert\.pem, key\.pem; DOCKER_CERT_PATH must name"):
        daemon_address({"DOCKER_HOST": "tcp://h:2376", "DOCKER_CERT_PATH": str(tmp_path)})
