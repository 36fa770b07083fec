"""ko.local against real engines: the daemon client core loads, tags, skips, refuses and reads back.

Every test runs against Debian's dockerd and against podman's Docker-compatible API (the
`container_engine` fixture), except where noted. What the engines hold is checked with
Debian's docker CLI (`docker image inspect`, `docker run --network none`, `docker events`),
not with our client. The images are a stdlib Go program that prints its platform and its
kodata, built for linux/amd64 and linux/arm64 into a two-platform index.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

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
from tests.peers.container_engine import ContainerEngine
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


def load(engine: ContainerEngine, tmp_path: Path, layout: Path, repository: str, tags=("latest",), **env: str):
    """`python -m pants_backend_ko.oci.daemon load` as the publish wiring will run it."""
    request = {
        "images": [{"layout": str(layout), "repository": repository, "tags": list(tags), "what": "//:hello"}],
        "goos": env.pop("GOOS", "linux"),
        "goarch": env.pop("GOARCH", "amd64"),
    }
    request_file = tmp_path / f"request-{uuid.uuid4().hex[:6]}.json"
    request_file.write_text(json.dumps(request))
    output = request_file.with_suffix(".out.json")
    result = subprocess.run(
        [sys.executable, "-m", "pants_backend_ko.oci.daemon", "load", "--request", str(request_file),
         "--json-output", str(output)],
        env=engine.env(PYTHONPATH=str(REPO_ROOT / "pants-plugins"), **env),
        capture_output=True, text=True, timeout=600,
    )
    outcome = json.loads(output.read_text()) if output.exists() else None
    return result, outcome


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
        result, _ = load(engine, tmp_path, hello.layout, repository, **tls_env)
        assert result.returncode == 0, result.stderr
        assert engine.inspect(result.stdout.strip())["Id"] == hello.images[AMD64].config_descriptor.digest
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
    start = time.time()
    result, outcome = load(engine, tmp_path, hello.layout, repository, tags=("latest", "v1"))
    assert result.returncode == 0, result.stderr
    # ko prints the reference; it names the linux/amd64 image of the index by its manifest digest.
    assert result.stdout.splitlines() == [reference]
    assert f"Loaded {reference} (linux/amd64)" in result.stderr
    (loaded,) = outcome["results"]
    assert loaded["loaded"] is True and loaded["image_id"] == amd64.config_descriptor.digest
    # The engine, asked with its own CLI: one image, our config, our layers, three names.
    inspect = engine.inspect(reference)
    assert inspect["Id"] == amd64.config_descriptor.digest
    assert set(inspect["RepoTags"]) == {reference, f"{repository}:latest", f"{repository}:v1"}
    assert (inspect["Os"], inspect["Architecture"]) == ("linux", "amd64")
    assert inspect["RootFS"]["Layers"] == list(amd64.layers_diff_ids)
    assert inspect["Config"]["Entrypoint"] == ["/ko-app/hello"]
    run = engine.docker("run", "--rm", "--network", "none", f"{repository}:v1")
    assert "hello from linux/amd64" in run.stdout and f"kodata: {hello.kodata.decode()}" in run.stdout
    # Again: nothing is loaded (the daemon has the image ID); the engine records no load.
    middle = time.time()
    again, outcome = load(engine, tmp_path, hello.layout, repository, tags=("latest", "v1", "v2"))
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [reference]
    assert f"{reference} is already in the daemon" in again.stderr
    assert outcome["results"][0]["loaded"] is False
    assert outcome["results"][0]["tags_added"] == [f"{repository}:v2"]
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


def test_goarch_picks_the_platform_and_a_missing_one_is_refused(container_engine, hello, repository, tmp_path):
    engine = container_engine
    arm64 = hello.images[ARM64]
    result, _ = load(engine, tmp_path, hello.layout, repository, GOARCH="arm64")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{repository}:{digest_hex(arm64.digest)}"
    inspect = engine.inspect(f"{repository}:latest")
    assert (inspect["Architecture"], inspect["Id"]) == ("arm64", arm64.config_descriptor.digest)
    result, outcome = load(engine, tmp_path, hello.layout, f"{repository}-s390x", GOARCH="s390x")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip() == (
        "error: //:hello: the image has no linux/s390x platform to load into the Docker daemon (it has "
        "linux/amd64, linux/arm64); ko.local loads the platform of GOOS/GOARCH (default linux/amd64): set them "
        "to one it has, or add linux/s390x to the target's platforms"
    )
    assert outcome["results"] == [] and len(outcome["failures"]) == 1
    assert engine.inspect(f"{repository}-s390x:latest") is None


def test_a_load_the_daemon_refuses_is_one_line_and_nothing_is_tagged(container_engine, repository, tmp_path):
    # The app layer's bytes no longer match the config's diffID: the engine refuses the image.
    engine = container_engine

    def image(payload: bytes) -> BuiltImage:
        return build_image(BaseImage.scratch(AMD64), platform=AMD64, import_path="example.com/x", binaries=[("x", payload)])

    victim, other = image(uuid.uuid4().bytes), image(b"other")
    corrupt = write_tree(tmp_path / "corrupt", layout_files(victim, [victim], {}, "latest"))
    (corrupt / blob_path(victim.layers[-1].digest)).write_bytes(other.blobs[other.layers[-1].digest])
    result, outcome = load(engine, tmp_path, corrupt, repository)
    assert result.returncode == 1 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: the Docker daemon at DOCKER_HOST={engine.docker_host} refused loading {repository}:")
    assert outcome["results"] == []
    reference = f"{repository}:{digest_hex(victim.digest)}"
    assert engine.inspect(reference) is None and engine.inspect(victim.config_descriptor.digest) is None and engine.inspect(f"{repository}:latest") is None


def test_no_daemon_is_one_line(tmp_path: Path, hello: Hello) -> None:
    missing = ContainerEngine("docker", tmp_path, tmp_path / "nothing.sock")
    result, outcome = load(missing, tmp_path, hello.layout, "ko.local/x")
    assert result.returncode == 1 and outcome is None
    assert result.stderr == (
        f"error: no Docker daemon at DOCKER_HOST=unix://{tmp_path}/nothing.sock: the socket "
        f"{tmp_path}/nothing.sock does not exist; start Docker (or `podman system service`) or set DOCKER_HOST "
        "to the daemon's address\n"
    )
    result, _ = load(missing, tmp_path, hello.layout, "ko.local/x", DOCKER_HOST="ssh://build-host")
    assert result.returncode == 1 and result.stderr.startswith("error: DOCKER_HOST=ssh://build-host: the ssh://")


def test_an_image_read_back_from_the_daemon_is_a_base_image(container_engine, hello, repository, tmp_path):
    """ko's ko.local/... base: the daemon's layers, and the config go-containerregistry makes for ko.

    The layout has Docker schema 2 media types, as go-containerregistry's tarball image that ko
    builds on (skopeo 1.9 skips such entries of an OCI index.json, so the engine itself checks
    it). tests/test_ko_local.py checks against ko that a build on it gets ko's config.
    """
    engine = container_engine
    amd64 = hello.images[AMD64]
    result, _ = load(engine, tmp_path, hello.layout, repository, tags=("base",))
    assert result.returncode == 0, result.stderr
    out = tmp_path / "saved"
    saved = subprocess.run(
        [sys.executable, "-m", "pants_backend_ko.oci.daemon", "save", "--ref", f"{repository}:base", "--out", str(out)],
        env=engine.env(PYTHONPATH=str(REPO_ROOT / "pants-plugins")), capture_output=True, text=True, timeout=600,
    )
    assert saved.returncode == 0, saved.stderr
    base = resolve_base_from_layout(out, ["linux/amd64"])
    (image,) = base.images
    assert image.manifest_digest == saved.stdout.strip() == digest_of(image.manifest_bytes)
    assert image.manifest_media_type == "application/vnd.docker.distribution.manifest.v2+json"
    # The engine hands the layers out uncompressed; gzip'd again they are our layers' very bytes.
    assert [layer.digest for layer in image.layers] == [layer.digest for layer in amd64.layers]
    ours, theirs = ConfigFile.parse(amd64.config), ConfigFile.parse(image.config_bytes)
    assert theirs.rootfs == ours.rootfs and theirs.config == ours.config and theirs.platform == ours.platform
    # ggcr's history: the daemon's list, newest first; the kodata layer (directories only) is "empty".
    assert [h.comment for h in theirs.history or ()] == [h.comment for h in reversed(ours.history or ())]
    assert [h.empty_layer for h in theirs.history or ()] == [False, False]
    # The engine takes the layout back and runs it.
    result, outcome = load(engine, tmp_path, out, f"{repository}-again")
    assert result.returncode == 0, result.stderr
    assert outcome["results"][0]["loaded"] is True
    assert engine.inspect(f"{repository}-again:latest")["Id"] == digest_of(image.config_bytes)
    run = engine.docker("run", "--rm", "--network", "none", f"{repository}-again:latest")
    assert f"kodata: {hello.kodata.decode()}" in run.stdout
    # A name the daemon does not have: one line, no folder.
    with pytest.raises(DaemonError, match=r"has no image ko\.local/nope:v1; load or build it there first"):
        save_image(client_of(engine), "ko.local/nope:v1", tmp_path / "nope")
    assert not (tmp_path / "nope").exists()
