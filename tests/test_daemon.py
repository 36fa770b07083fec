"""ko.local against real engines: the tool (as publish runs it) and the daemon client core load,
tag, skip, refuse and read back.

Every test runs against Debian's dockerd and against podman's Docker-compatible API (the
`container_engine` fixture), except where noted. What the engines hold is checked with
Debian's docker CLI (`docker image inspect`, `docker run --network none`, `docker events`),
not with our client. The images are a stdlib Go program that prints its platform and its
kodata, built for linux/amd64 and linux/arm64 into a two-platform index.
"""

from __future__ import annotations

import re
import time
import uuid
import subprocess
import sys
from pathlib import Path

import pytest

from pants_backend_ko.codec import decode, encode
from pants_backend_ko.oci.daemon.client import MAX_API_VERSION, DaemonClient, DaemonError
from pants_backend_ko.oci.daemon.host import daemon_address
from pants_backend_ko.oci.daemon.image import save_image
from pants_backend_ko.oci.image import BuiltImage, BuiltIndex, build_image, build_index
from pants_backend_ko.oci.layout import blob_path, docker_archive_of_layout, layout_files
from pants_backend_ko.oci.base import BaseImage
from pants_backend_ko.oci.configfile import ConfigFile
from pants_backend_ko.oci.digest import digest_hex, digest_of
from pants_backend_ko.oci.platform import Platform
from pants_backend_ko.oci.remote.pull import resolve_base_from_layout
from pants_backend_ko.oci.remote.state import RegistryState
from pants_backend_ko.tool.messages import BASE_DESCRIPTION_FILE, BaseDescription, BaseFetch, StatusQuery
from tests.peers.container_engine import ContainerEngine, load_with_tool
from tests.peers.image_tools import build_go_program, write_tree
from tests.peers.pants_repo import REPO_ROOT

pytestmark = pytest.mark.peers

AMD64, ARM64 = Platform.parse("linux/amd64"), Platform.parse("linux/arm64")
HEX = re.compile(r"^[0-9a-f]{64}$")


class Hello:
    """A two-platform index of the hello program with its own kodata (so its own image IDs)."""

    def __init__(self, binaries: dict[Platform, bytes], root: Path) -> None:
        self.kodata = f"kodata of {root.name}".encode()
        self.images: dict[Platform, BuiltImage] = {
            p: build_image(
                BaseImage.scratch(p),
                platform=p,
                import_path="example.com/hello",
                binaries=[("hello", binary)],
                kodata_files={"message.txt": self.kodata},
            )
            for p, binary in binaries.items()
        }
        self.index: BuiltIndex = build_index([(image, p) for p, image in self.images.items()])
        self.layout = write_tree(root / "layout", layout_files(self.index, list(self.images.values()), {}, "latest"))


@pytest.fixture(scope="module")
def hello_binaries(tmp_path_factory) -> dict[Platform, bytes]:
    root = tmp_path_factory.mktemp("hello-go")
    return {p: build_go_program(root, p) for p in (AMD64, ARM64)}


@pytest.fixture
def hello(hello_binaries, tmp_path) -> Hello:
    """A fresh image for each test: tests sharing an engine never see each other's images."""
    return Hello(hello_binaries, tmp_path / f"hello-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def repository(request) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    return f"ko.local/{slug}-{uuid.uuid4().hex[:8]}"


def tool(engine: ContainerEngine, tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pants_backend_ko.tool", *args],
        env=engine.env(PYTHONPATH=str(REPO_ROOT / "pants-plugins"), **env),
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )


def daemon_state(engine: ContainerEngine, tmp_path: Path, *repositories: str) -> RegistryState:
    """The tool's read-only `status` answer for ko.local repositories, as the publish check asks it."""
    query = tmp_path / f"query-{uuid.uuid4().hex[:6]}.json"
    query.write_bytes(encode(StatusQuery((), sbom=False, daemon_repositories=repositories)))
    result = tool(engine, tmp_path, "status", "--query", str(query))
    assert result.returncode == 0, result.stderr
    return decode(RegistryState, result.stdout.encode(), "status")


def client_of(engine: ContainerEngine) -> DaemonClient:
    return DaemonClient(daemon_address(engine.env()))


def test_api_version_negotiated_with_the_engine(container_engine: ContainerEngine) -> None:
    client = client_of(container_engine)
    server = container_engine.docker("version", "--format", "{{.Server.APIVersion}}").stdout.strip()
    assert client.ping() == server
    assert client.api_version() == min(server, MAX_API_VERSION, key=lambda v: tuple(map(int, v.split("."))))
    version = client.version()
    assert version.is_podman == (container_engine.kind == "podman")
    assert version.api_version == server


def test_tcp_docker_host(dockerd: ContainerEngine) -> None:
    client = DaemonClient(daemon_address({"DOCKER_HOST": dockerd.tcp_docker_host}))
    assert client.version().api_version == client_of(dockerd).version().api_version


def test_tls_docker_host(tmp_path: Path, hello: Hello, repository) -> None:
    """DOCKER_HOST=tcp://... with DOCKER_CERT_PATH and DOCKER_TLS_VERIFY, against dockerd --tlsverify."""
    engine = ContainerEngine.start_docker(tmp_path / "dockerd-tls", tls=True)
    try:
        tls_env = {"DOCKER_HOST": engine.tcp_docker_host, "DOCKER_TLS_VERIFY": "1",
                   "DOCKER_CERT_PATH": str(engine.client_cert_path)}
        amd64 = hello.images[AMD64]
        result = load_with_tool(engine, tmp_path, hello.layout, repository, amd64.digest, **tls_env)
        assert result.returncode == 0, result.stderr
        assert engine.inspect(result.stdout.strip())["Id"] == amd64.config_descriptor.digest
        # Plain HTTP to the TLS port, and TLS without a client certificate: one line each.
        with pytest.raises(DaemonError, match=r"answered /_ping with HTTP 400 .*it speaks TLS: set DOCKER_TLS_VERIFY"):
            DaemonClient(daemon_address({"DOCKER_HOST": engine.tcp_docker_host})).api_version()
        other = tmp_path / "other-certs"
        other.mkdir()
        for name in ("ca.pem", "cert.pem", "key.pem"):  # a CA the daemon does not trust for clients
            (other / name).write_bytes((engine.root / "tls" / {"ca.pem": "ca.pem", "cert.pem": "server.pem",
                                                                "key.pem": "server.key"}[name]).read_bytes())
        with pytest.raises(DaemonError, match=r"^TLS with the Docker daemon at DOCKER_HOST=tcp.* failed.*BAD_CERTIFICATE.*; check"):
            DaemonClient(daemon_address({**tls_env, "DOCKER_CERT_PATH": str(other)})).api_version()
    finally:
        engine.stop()


def test_load_tags_runs_and_is_not_loaded_twice(container_engine, hello: Hello, repository, tmp_path) -> None:
    engine = container_engine
    amd64 = hello.images[AMD64]
    reference = f"{repository}:{digest_hex(amd64.digest)}"
    # The read-only check, before: the daemon has nothing under that name.
    assert daemon_state(engine, tmp_path, repository).daemon == {}
    start = time.time()
    result = load_with_tool(engine, tmp_path, hello.layout, repository, amd64.digest, ("latest", "v1"))
    assert result.returncode == 0, result.stderr
    # ko prints the reference; it names the linux/amd64 image of the index by its manifest digest.
    assert result.stdout.splitlines() == [reference]
    assert result.stderr == f"{reference} (loaded into the Docker daemon at DOCKER_HOST={engine.docker_host}, linux/amd64)\n"
    # The engine, asked with its own CLI: one image, our config, our layers, three names.
    inspect = engine.inspect(reference)
    assert inspect["Id"] == amd64.config_descriptor.digest
    assert set(inspect["RepoTags"]) == {reference, f"{repository}:latest", f"{repository}:v1"}
    assert (inspect["Os"], inspect["Architecture"]) == ("linux", "amd64")
    assert inspect["RootFS"]["Layers"] == list(amd64.layers_diff_ids)
    assert inspect["Config"]["Entrypoint"] == ["/ko-app/hello"]
    run = engine.docker("run", "--rm", "--network", "none", f"{repository}:v1")
    assert "hello from linux/amd64" in run.stdout and f"kodata: {hello.kodata.decode()}" in run.stdout
    # The read-only check now sees every name on the one image: publish would load nothing.
    state = daemon_state(engine, tmp_path, repository, f"{repository}-other")
    assert state.daemon == {name: inspect["Id"] for name in inspect["RepoTags"]}
    assert state.is_loaded(repository, reference, ("latest", "v1"))
    assert not state.is_loaded(repository, reference, ("latest", "v1", "v2"))
    # Again with one more tag: nothing is loaded (the daemon has the image ID), the tag is added.
    middle = time.time()
    again = load_with_tool(engine, tmp_path, hello.layout, repository, amd64.digest, ("latest", "v1", "v2"))
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [reference]
    assert again.stderr == (
        f"{reference} (already in the Docker daemon at DOCKER_HOST={engine.docker_host}; tagged {repository}:v2)\n"
    )
    end = time.time() + 1
    if engine.kind == "docker":  # podman's compat API has no `docker events --until`
        actions = lambda since, until: [e["Action"] for e in engine.events(since, until)]  # noqa: E731
        assert "load" in actions(start, middle)
        assert "load" not in actions(middle, end) and "tag" in actions(middle, end)


def test_docker_load_takes_the_archive_package_writes(container_engine, hello, repository, tmp_path) -> None:
    """`docker load -i` (the CLI, not our client) of the single-image `.tar` that `package` writes."""
    amd64 = hello.images[AMD64]
    archive = tmp_path / "image.tar"
    files = layout_files(amd64, [amd64], {}, "latest")
    archive.write_bytes(docker_archive_of_layout(files, [f"{repository}:v1"]))
    loaded = container_engine.docker("load", "-i", str(archive))
    assert f"Loaded image: {repository}:v1" in loaded.stdout
    assert container_engine.inspect(f"{repository}:v1")["Id"] == amd64.config_descriptor.digest


def test_the_image_the_plan_names_is_loaded_from_an_index(container_engine, hello, repository, tmp_path):
    # The rules choose the GOOS/GOARCH image (naming_test, publish_test); the tool loads that one.
    engine = container_engine
    arm64 = hello.images[ARM64]
    result = load_with_tool(engine, tmp_path, hello.layout, repository, arm64.digest)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{repository}:{digest_hex(arm64.digest)}"
    inspect = engine.inspect(f"{repository}:latest")
    assert (inspect["Architecture"], inspect["Id"]) == ("arm64", arm64.config_descriptor.digest)
    # A digest the layout does not hold (a stale plan): one line, nothing loaded.
    stale = "sha256:" + "0" * 64
    result = load_with_tool(engine, tmp_path, hello.layout, f"{repository}-stale", stale)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (
        f"error: {repository}-stale: OCI layout {hello.layout} has no image manifest {stale}; package the image again\n"
    )
    assert engine.inspect(f"{repository}-stale:latest") is None


def test_a_load_the_daemon_refuses_is_one_line_and_nothing_is_tagged(container_engine, repository, tmp_path):
    # The app layer's bytes no longer match the config's diffID: the engine refuses the image.
    engine = container_engine

    def image(payload: bytes) -> BuiltImage:
        return build_image(BaseImage.scratch(AMD64), platform=AMD64, import_path="example.com/x", binaries=[("x", payload)])

    victim, other = image(uuid.uuid4().bytes), image(b"other")
    corrupt = write_tree(tmp_path / "corrupt", layout_files(victim, [victim], {}, "latest"))
    (corrupt / blob_path(victim.layers[-1].digest)).write_bytes(other.blobs[other.layers[-1].digest])
    result = load_with_tool(engine, tmp_path, corrupt, repository, victim.digest)
    assert result.returncode == 1 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        f"error: {repository}: the Docker daemon at DOCKER_HOST={engine.docker_host} refused loading {repository}:"
    )
    reference = f"{repository}:{digest_hex(victim.digest)}"
    assert engine.inspect(reference) is None and engine.inspect(victim.config_descriptor.digest) is None and engine.inspect(f"{repository}:latest") is None


def test_no_daemon_is_one_line(tmp_path: Path, hello: Hello) -> None:
    missing = ContainerEngine("docker", tmp_path, tmp_path / "nothing.sock")
    digest = hello.images[AMD64].digest
    result = load_with_tool(missing, tmp_path, hello.layout, "ko.local/x", digest)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"error: no Docker daemon at DOCKER_HOST=unix://{tmp_path}/nothing.sock: the socket "
        f"{tmp_path}/nothing.sock does not exist; start Docker (or `podman system service`) or set DOCKER_HOST "
        "to the daemon's address\n"
    )
    result = load_with_tool(missing, tmp_path, hello.layout, "ko.local/x", digest, DOCKER_HOST="ssh://build-host")
    assert result.returncode == 1 and result.stderr.startswith("error: DOCKER_HOST=ssh://build-host: the ssh://")
    # The read-only check says nothing is there, and succeeds: the load then says why in its own line.
    assert daemon_state(missing, tmp_path, "ko.local/x").daemon == {}


def test_an_image_read_back_from_the_daemon_is_a_base_image(container_engine, hello, repository, tmp_path):
    """ko's ko.local/... base: the daemon's layers, and the config go-containerregistry makes for ko.

    The layout has Docker schema 2 media types, as go-containerregistry's tarball image that ko
    builds on (skopeo 1.9 skips such entries of an OCI index.json, so the engine itself checks
    it). tests/test_ko_local.py checks against ko that a build on it gets ko's config.
    """
    engine = container_engine
    amd64 = hello.images[AMD64]
    result = load_with_tool(engine, tmp_path, hello.layout, repository, amd64.digest, ("base",))
    assert result.returncode == 0, result.stderr
    out = tmp_path / "saved"
    saved = save_image(client_of(engine), f"{repository}:base", out)
    base = resolve_base_from_layout(out, ["linux/amd64"])
    (image,) = base.images
    assert image.manifest_digest == saved.descriptor.digest == digest_of(image.manifest_bytes)
    assert image.manifest_media_type == "application/vnd.docker.distribution.manifest.v2+json"
    # The engine hands the layers out uncompressed; gzip'd again they are our layers' very bytes.
    assert [layer.digest for layer in image.layers] == [layer.digest for layer in amd64.layers]
    ours, theirs = ConfigFile.parse(amd64.config), ConfigFile.parse(image.config_bytes)
    assert theirs.rootfs == ours.rootfs and theirs.config == ours.config and theirs.platform == ours.platform
    # ggcr's history: the daemon's list, newest first; the kodata layer (directories only) is "empty".
    assert [h.comment for h in theirs.history or ()] == [h.comment for h in reversed(ours.history or ())]
    assert [h.empty_layer for h in theirs.history or ()] == [False, False]
    # The engine takes the layout back and runs it.
    result = load_with_tool(engine, tmp_path, out, f"{repository}-again", image.manifest_digest)
    assert result.returncode == 0, result.stderr
    assert "(loaded into the Docker daemon" in result.stderr
    assert engine.inspect(f"{repository}-again:latest")["Id"] == digest_of(image.config_bytes)
    run = engine.docker("run", "--rm", "--network", "none", f"{repository}-again:latest")
    assert f"kodata: {hello.kodata.decode()}" in run.stdout
    # The tool's `base` verb (a ko.local/... base of a build): the same image, named by its reference.
    request = tmp_path / "base-request.json"
    request.write_bytes(encode(BaseFetch(daemon=f"{repository}:base", platforms=("linux/amd64",))))
    fetched = tool(engine, tmp_path, "base", "--request", str(request), "--out", "fetched")
    assert fetched.returncode == 0, fetched.stderr
    described = decode(BaseDescription, (tmp_path / "fetched" / BASE_DESCRIPTION_FILE).read_bytes(), "base.json")
    assert (described.name, described.is_index, described.digest) == (f"{repository}:base", False, image.manifest_digest)
    for digest in (image.manifest_digest, image.config_digest, *(layer.digest for layer in image.layers)):
        assert digest_of((tmp_path / "fetched" / blob_path(digest)).read_bytes()) == digest
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("ko-daemon-base-")] == []  # no leftovers
    # A name the daemon does not have: one line, no folder.
    with pytest.raises(DaemonError, match=r"has no image ko\.local/nope:v1; load or build it there first"):
        save_image(client_of(engine), "ko.local/nope:v1", tmp_path / "nope")
    assert not (tmp_path / "nope").exists()
    request.write_bytes(encode(BaseFetch(daemon="ko.local/nope:v1", platforms=("linux/amd64",))))
    missing = tool(engine, tmp_path, "base", "--request", str(request), "--out", "nope")
    assert (missing.returncode, missing.stderr.count("\n")) == (1, 1)
    assert missing.stderr.startswith(f"error: the Docker daemon at DOCKER_HOST={engine.docker_host} has no image ko.local/nope:v1")
