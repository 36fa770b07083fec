"""Shared pytest fixtures. Keep this file thin: the peers live in ``tests/peers/*``.

Registry fixtures (session-scoped, started once; tests isolate themselves by
using fresh repository names from ``unique_repo``):

* ``registry_plain``: docker-registry over plain HTTP, no auth.
* ``registry_tls``: docker-registry over TLS (own CA) with htpasswd Basic auth.
* ``token_server`` + ``registry_token``: docker-registry with token auth.
* ``fault_proxy``: a recording, fault-injecting proxy in front of ``registry_plain``.

The real cosign (``cosign``, built once by tests/peers/build_cosign.sh) and one key pair it made
(``cosign_keys``), session-scoped: the signing core's tests and the signed publishes share them.

Container engines (session-scoped, shared by every test that loads or runs images):

* ``dockerd``: Debian's Docker Engine, private to the session (unix socket and loopback TCP).
* ``podman_service``: podman's Docker-compatible API on a unix socket.
* ``container_engine``: each of the two in turn.

``tmp_path`` is pytest's, but removed when its test passes (pytest 7.0, which Pants 2.17's testutil
pins, has no ``tmp_path_retention_policy``): a full run builds hundreds of scratch repositories,
docker archives and caches, and keeps only the failures' for reading.
"""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from tests.peers.registry import (
    IDENTITY_TOKEN,
    TOKEN_PASSWORD,
    TOKEN_READONLY_PASSWORD,
    TOKEN_READONLY_USER,
    TOKEN_USER,
    FaultProxy,
    RegistryPeer,
)
from tests.peers.container_engine import ContainerEngine
from tests.peers.cosign import Cosign, CosignKeys, cosign_binary
from tests.peers.kube import KubeCluster, kube_cluster
from tests.peers.token_server import TokenServer


@pytest.fixture(scope="session")
def registry_plain(tmp_path_factory):
    peer = RegistryPeer(str(tmp_path_factory.mktemp("registry-plain")), "plain").start()
    yield peer
    peer.stop()


@pytest.fixture(scope="session")
def registry_tls(tmp_path_factory):
    peer = RegistryPeer(str(tmp_path_factory.mktemp("registry-tls")), "tls-basic").start()
    yield peer
    peer.stop()


@pytest.fixture(scope="session")
def token_server(tmp_path_factory):
    server = TokenServer(
        str(tmp_path_factory.mktemp("token-server")),
        users={TOKEN_USER: TOKEN_PASSWORD, TOKEN_READONLY_USER: TOKEN_READONLY_PASSWORD},
        readonly_users=(TOKEN_READONLY_USER,),
        refresh_tokens={IDENTITY_TOKEN: TOKEN_USER},
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def registry_token(tmp_path_factory, token_server):
    peer = RegistryPeer(str(tmp_path_factory.mktemp("registry-token")), "token", token_server=token_server).start()
    yield peer
    peer.stop()


@pytest.fixture
def fault_proxy(registry_plain):
    proxy = FaultProxy(registry_plain)
    yield proxy
    proxy.stop()


@pytest.fixture
def unique_repo(request):
    """A repository path no other test uses, e.g. ``t/test-push-index-3f2a9c1d``."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    return f"t/{slug}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=["plain", "tls-basic", "token"])
def any_registry(request):
    """Each of the three registry set-ups in turn."""
    name = {"plain": "registry_plain", "tls-basic": "registry_tls", "token": "registry_token"}[request.param]
    return request.getfixturevalue(name)


@pytest.fixture(scope="session")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    """One real kube-apiserver + etcd per test session (built once by tests/peers/build_kube.sh)."""
    with kube_cluster(tmp_path_factory) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContainerEngine]:
    """One real dockerd per test session (Debian's docker.io), stopped at the end."""
    engine = ContainerEngine.start_docker(tmp_path_factory.mktemp("dockerd"))
    yield engine
    engine.stop()


@pytest.fixture(scope="session")
def podman_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContainerEngine]:
    """One `podman system service` per test session (its Docker-compatible API), stopped at the end."""
    engine = ContainerEngine.start_podman(tmp_path_factory.mktemp("podman"))
    yield engine
    engine.stop()


@pytest.fixture(params=["docker", "podman"])
def container_engine(request) -> ContainerEngine:
    """Each Docker-API engine in turn."""
    return request.getfixturevalue({"docker": "dockerd", "podman": "podman_service"}[request.param])


@pytest.fixture(scope="session")
def cosign(tmp_path_factory) -> Cosign:
    return Cosign(cosign_binary(), tmp_path_factory.mktemp("cosign-home"))


@pytest.fixture(scope="session")
def cosign_keys(cosign, tmp_path_factory) -> CosignKeys:
    return cosign.generate_key_pair(tmp_path_factory.mktemp("cosign-keys"))


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    if outcome.get_result().failed:
        item.stash[_FAILED] = True


@pytest.fixture
def tmp_path(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """pytest's tmp_path (same name scheme), removed at teardown unless the test failed."""
    path = tmp_path_factory.mktemp(re.sub(r"[\W]", "_", request.node.name)[:30], numbered=True)
    yield path
    if not request.node.stash.get(_FAILED, False):
        shutil.rmtree(path, ignore_errors=True)
