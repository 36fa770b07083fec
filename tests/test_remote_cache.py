"""Shared caches across machines: Pants' remote cache, served by a real bazel-remote, lets a
fresh clone build every ko_image without running a single `go build`.

Clone A (its own empty local store and named caches) packages all example images with
`--remote-cache-read --remote-cache-write` against bazel-remote on loopback, so it runs every
`go build` and uploads the results. Clone B lives at another path with its own, empty, local
store and named caches and only reads the remote cache: if every Process the backend runs is
hermetic (no host path that differs between the clones in argv, env or inputs), B finds all
of them in the remote cache, spawns no `go build` and produces the same image digests.

bazel-remote is built once from the Go module proxy by tests/peers/build_bazel_remote.sh.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from tests.peers.pants_repo import make_scratch_repo, pants_args_for_isolated_caches
from tests.peers.registry import write_test_layout

pytestmark = pytest.mark.peers

BUILD_SCRIPT = Path(__file__).resolve().parent / "peers" / "build_bazel_remote.sh"
BUILD_TIMEOUT_S = 1800  # a cold build (downloads + compile) took ~2 min on 2 cores
READY_TIMEOUT_S = 30.0
STOP_GRACE_S = 10.0

IMAGES = ("src.go.cmd.server/server", "src.go.cmd.worker/worker")
# (import path, platform) of every go build the example needs: server is multi-platform.
ALL_BUILDS = [
    ("example.com/app/cmd/server", "linux/amd64"),
    ("example.com/app/cmd/server", "linux/arm64"),
    ("example.com/app/cmd/worker", "linux/amd64"),
]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class BazelRemote:
    grpc_address: str  # grpc://127.0.0.1:<port>, as Pants' remote_store_address wants it
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def bazel_remote(tmp_path_factory) -> Iterator[BazelRemote]:
    built = subprocess.run(
        [str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=BUILD_TIMEOUT_S
    )
    assert built.returncode == 0, f"build_bazel_remote.sh failed:\n{built.stderr[-4000:]}"
    binary = built.stdout.strip().splitlines()[-1]
    work = tmp_path_factory.mktemp("bazel-remote")
    grpc_port, http_port = _free_port(), _free_port()
    log_path = work / "bazel-remote.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                binary,
                "--dir", str(work / "cache"),
                "--max_size", "2",  # GiB; the example's outputs are a few tens of MB
                "--grpc_address", f"127.0.0.1:{grpc_port}",
                "--http_address", f"127.0.0.1:{http_port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            assert process.poll() is None, f"bazel-remote exited {process.returncode}:\n{log_path.read_text()[-3000:]}"
            try:
                socket.create_connection(("127.0.0.1", grpc_port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"bazel-remote did not listen on 127.0.0.1:{grpc_port} within {READY_TIMEOUT_S}s")
                time.sleep(0.2)
        yield BazelRemote(f"grpc://127.0.0.1:{grpc_port}", log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_GRACE_S)


def _go_builds_run(stderr: str) -> list:
    """The `go build` processes that actually executed (cache hits spawn nothing)."""
    return re.findall(r'spawned local process .*?description: "go build (\S+) \((\S+)\)', stderr)


def _dependency_compiles_run(stderr: str) -> list:
    """The per-(module, platform) compiles of the Go dependencies that actually executed."""
    return re.findall(r'spawned local process .*?description: "Compile the Go dependencies of (\S+) \((\S+)\)', stderr)


def _base_reads_run(stderr: str) -> list:
    """The base-image Processes (Python, our core shipped as input) that actually executed."""
    return re.findall(r'spawned local process .*?description: "Read base image layout (\S+)', stderr)


# The worker builds on an OCI layout in the repository: its base is read by a cached Process
# that runs our Python core, which must be as hermetic as the go builds.
WORKER_ON_A_LAYOUT = 'ko_image(name="worker", base_image="./base", platforms=["linux/amd64"])\n'


def _clone(path: Path):
    repo = make_scratch_repo(path, files={"src/go/cmd/worker/BUILD": WORKER_ON_A_LAYOUT})
    write_test_layout(str(repo.root / "src/go/cmd/worker/base"), seed=5, ref_name="latest")
    return repo


def _counter(stats_log: str, name: str) -> int:
    """A counter from Pants' `--stats-log` output (`  name: value` lines)."""
    match = re.search(rf"^\s*{re.escape(name)}: (\d+)\s*$", stats_log, re.MULTILINE)
    assert match, f"no counter {name!r} in the stats log:\n{stats_log[-3000:]}"
    return int(match.group(1))


def _remote_args(server: BazelRemote, *, write: bool) -> tuple:
    return (
        "--remote-cache-read",
        "--remote-cache-write" if write else "--no-remote-cache-write",
        f"--remote-store-address={server.grpc_address}",
        "--remote-instance-name=pants-backend-ko-test",
        "--stats-log",
        "-ldebug",
    )


def test_fresh_clone_builds_every_image_from_the_remote_cache(bazel_remote, tmp_path):
    # Clone A: empty local caches, so it really runs every go build and writes them remotely.
    # (This is also the control for the log parsing: the same regex finds all three builds.)
    clone_a = _clone(tmp_path / "clone-a" / "repo")
    result_a = clone_a.pants(
        *pants_args_for_isolated_caches(tmp_path / "clone-a" / "caches"),
        *_remote_args(bazel_remote, write=True),
        "package", "src/go::",
        timeout=600,
    )
    assert sorted(_go_builds_run(result_a.stderr)) == ALL_BUILDS
    assert _base_reads_run(result_a.stderr) == ["src/go/cmd/worker/base"]
    compiled_a = _dependency_compiles_run(result_a.stderr)
    assert compiled_a and len(compiled_a) == len(set(compiled_a)), compiled_a  # once per platform
    assert _counter(result_a.stderr, "remote_cache_write_successes") > 0, "clone A wrote nothing to the remote cache"
    digests_a = {image: clone_a.image_metadata(image)["digest"] for image in IMAGES}

    # Clone B: another path, its own empty local store and named caches, remote reads only.
    clone_b = _clone(tmp_path / "elsewhere" / "clone-b")
    caches_b = tmp_path / "elsewhere" / "caches"
    result_b = clone_b.pants(
        *pants_args_for_isolated_caches(caches_b),
        *_remote_args(bazel_remote, write=False),
        "package", "src/go::",
        timeout=600,
    )
    assert _go_builds_run(result_b.stderr) == [], (
        "a fresh clone ran go build although clone A had cached it remotely: some Process is not "
        "hermetic (compare its argv/env between the clones)"
    )
    assert _dependency_compiles_run(result_b.stderr) == []
    assert _base_reads_run(result_b.stderr) == []
    assert _counter(result_b.stderr, "remote_cache_requests_cached") >= len(ALL_BUILDS)
    # Not even speculatively: Pants did not start a local run that the remote hit then cancelled.
    assert _counter(result_b.stderr, "remote_cache_speculation_local_completed_first") == 0
    assert {image: clone_b.image_metadata(image)["digest"] for image in IMAGES} == digests_a
    # B really started from nothing: its named caches hold no Go build cache entries.
    go_build_cache = caches_b / "named" / "ko_go_build"
    assert not go_build_cache.exists() or not any(p.is_file() for p in go_build_cache.rglob("*"))

