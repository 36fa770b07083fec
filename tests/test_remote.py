"""Past one machine: a pinned Go toolchain and remote execution on a real Buildbarn.

One repository with three images (the example's server for two platforms and worker, plus a
third), built air-gapped: every Go module and the toolchain come from a `file://` GOPROXY (the
peers' module cache, filled once by tests/peers/fetch_go_toolchain.sh and checked by `go`
against the checksum database).

* Locally, `[ko].go_version` with no `go` on the search path builds the digests the host's `go`
  of that release builds; a wrong sha256 in `[ko].go_known_versions` fails in one line.
* On a loopback Buildbarn (tests/peers/buildbarn.py, one cluster for the session), `pants
  --remote-execution package ::` on fresh local caches runs every `go` Process on the worker
  (the action digests Pants sent, by their commands, are the ones the worker's log shows it ran,
  and its metrics count them) and none here, with the local digests; an `adhoc_tool` running a
  ko_image in the remote environment runs it on the worker; `publish ::` pushes from here and
  runs nothing there. A fresh clone elsewhere with `--remote-cache-read` executes nothing.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from tests.peers.buildbarn import Buildbarn, buildbarn_cluster
from tests.peers.pants_repo import ScratchRepo, make_scratch_repo, pants_args_for_isolated_caches

pytestmark = pytest.mark.peers

FETCH_SCRIPT = Path(__file__).resolve().parent / "peers" / "fetch_go_toolchain.sh"
IMAGES = ("src.go.cmd.server/server", "src.go.cmd.worker/worker", "src.go.cmd.hello/hello")
GO_BUILDS = sorted(
    [
        ("example.com/app/cmd/server", "linux/amd64"),
        ("example.com/app/cmd/server", "linux/arm64"),
        ("example.com/app/cmd/worker", "linux/amd64"),
        ("example.com/app/cmd/hello", "linux/amd64"),
    ]
)
HELLO = """// Command hello greets once.
package main

import (
\t"fmt"

\t"example.com/app/internal/greeting"
)

func main() { fmt.Println(greeting.Hello("hello")) }
"""
PANTS_PLATFORMS = {("linux", "amd64"): "linux_x86_64", ("linux", "arm64"): "linux_arm64"}


def _go_env(*names: str) -> list[str]:
    return subprocess.run(["go", "env", *names], capture_output=True, text=True, check=True).stdout.split()


@dataclass(frozen=True)
class Toolchain:
    release: str  # the host's go, e.g. 1.26.8
    pants_platform: str  # this machine's (and the loopback worker's)
    goproxy: str  # file://...: the toolchain zip and the example's modules
    zip_path: Path

    @property
    def known_version(self) -> str:
        data = self.zip_path.read_bytes()
        return f"{self.release}|{self.pants_platform}|{hashlib.sha256(data).hexdigest()}|{len(data)}"


@pytest.fixture(scope="module")
def toolchain() -> Toolchain:
    fetched = subprocess.run([str(FETCH_SCRIPT)], capture_output=True, text=True, timeout=900)
    assert fetched.returncode == 0, f"fetch_go_toolchain.sh failed:\n{fetched.stderr[-3000:]}"
    goproxy = fetched.stdout.strip().splitlines()[-1]
    version, goos, goarch = _go_env("GOVERSION", "GOHOSTOS", "GOHOSTARCH")
    release = version.removeprefix("go")
    zip_path = Path(goproxy.removeprefix("file://")) / f"golang.org/toolchain/@v/v0.0.1-go{release}.{goos}-{goarch}.zip"
    return Toolchain(release, PANTS_PLATFORMS[(goos, goarch)], goproxy, zip_path)


def _repo(path: Path, *, extra_files: dict[str, str] | None = None, pants_toml_extra: str = "") -> ScratchRepo:
    files = {"src/go/cmd/hello/main.go": HELLO, "src/go/cmd/hello/BUILD": 'ko_image(name="hello")\n'}
    return make_scratch_repo(path, only_ko_backend=True, files={**files, **(extra_files or {})}, pants_toml_extra=pants_toml_extra)


def _digests(repo: ScratchRepo) -> dict[str, str]:
    return {image: repo.image_metadata(image)["digest"] for image in IMAGES}


def _pinned(toolchain: Toolchain) -> tuple[str, ...]:
    # Only the pinned toolchain: no `go` anywhere the host lookup would search.
    return (f"--ko-go-version={toolchain.release}", "--ko-executable-search-paths=['/nonexistent']")


@pytest.fixture(scope="module")
def local_digests(toolchain, tmp_path_factory) -> dict[str, str]:
    """The digests the host's go builds (the reference for every other build here)."""
    root = tmp_path_factory.mktemp("local")
    repo = _repo(root / "repo")
    repo.pants(*pants_args_for_isolated_caches(root / "caches"), "package", "::", env={"GOPROXY": toolchain.goproxy})
    return _digests(repo)


def test_pinned_toolchain_builds_what_the_host_go_builds(toolchain, local_digests, tmp_path) -> None:
    repo = _repo(tmp_path / "repo")
    env = {"GOPROXY": toolchain.goproxy}
    caches = pants_args_for_isolated_caches(tmp_path / "caches")
    repo.pants(*caches, *_pinned(toolchain), "package", "::", env=env)
    assert _digests(repo) == local_digests

    # A wrong sha256 for the release: one line saying which entry and what the proxy served.
    _, platform, sha256, size = toolchain.known_version.split("|")
    wrong = hashlib.sha256(b"not the toolchain").hexdigest()
    result = repo.pants(
        *caches,
        *_pinned(toolchain),
        f"--ko-go-known-versions=['{toolchain.release}|{platform}|{wrong}|{size}']",
        "package",
        "src/go/cmd/worker",
        env=env,
        check=False,
    )
    assert result.returncode != 0
    url = f"{toolchain.goproxy}/golang.org/toolchain/@v/{toolchain.zip_path.name}"
    line = (
        f"KoError: [ko].go_known_versions: go{toolchain.release} for {platform} should have sha256 {wrong} "
        f"({size} bytes), but {url} has sha256 {sha256} ({size} bytes); correct the entry if you added it, "
        "or check what your GOPROXY serves."
    )
    assert line in result.stderr.splitlines(), result.stderr[-3000:]
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------------------------------------
# Remote execution


@pytest.fixture(scope="session")
def buildbarn(tmp_path_factory) -> Iterator[Buildbarn]:
    yield from buildbarn_cluster(tmp_path_factory.mktemp("buildbarn"))


ENVIRONMENTS_TOML = """
[environments-preview.names]
local = "//:local"
remote = "//:remote"
"""
TOOL_BUILD = 'adhoc_tool(name="greet", runnable="src/go/cmd/server:server", args=["-once"], stdout="greeting.txt", environment="remote")\n'


def _remote_repo(path: Path, toolchain: Toolchain) -> ScratchRepo:
    root_build = (
        'local_environment(name="local")\n'
        "remote_environment(\n"
        '    name="remote",\n'
        f'    platform="{toolchain.pants_platform}",\n'
        '    extra_platform_properties=["OSFamily=linux"],\n'
        '    fallback_environment="local",\n'
        ")\n"
    )
    repo = _repo(path, extra_files={"BUILD": root_build, "src/tools/BUILD": TOOL_BUILD}, pants_toml_extra=ENVIRONMENTS_TOML)
    toml = (repo.root / "pants.toml").read_text()
    (repo.root / "pants.toml").write_text(
        toml.replace('backend_packages = ["pants_backend_ko"]', 'backend_packages = ["pants_backend_ko", "pants.backend.experimental.adhoc"]', 1)
    )
    return repo


def _remote_args(buildbarn: Buildbarn, toolchain: Toolchain) -> tuple[str, ...]:
    return (*buildbarn.pants_options(), "--remote-execution", "--ko-build-environment=remote", *_pinned(toolchain), "-ldebug")


_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class RemoteRequest:
    action: str  # <hash>-<size>, as the worker's log names it
    arguments: tuple[str, ...]
    env: dict

    @property
    def go_build(self) -> tuple[str, str] | None:
        """(import path, platform) when this is a `go build` of a binary."""
        args = self.arguments
        if "build" not in args or "-o" not in args or args[args.index("-o") + 1] == "golayer":
            return None  # not a binary of the repository (the layer writer's compile: see below)
        return args[-1], f"{self.env.get('GOOS')}/{self.env.get('GOARCH')}"


def remote_requests(stderr: str) -> list[RemoteRequest]:
    """Every REAPI request Pants built (its `-ldebug` lines): action digest, argv, environment."""
    requests = []
    for line in stderr.splitlines():
        if "built REv2 request" not in line:
            continue
        digest = re.search(r'action_digest: Some\(Digest \{ hash: "([0-9a-f]{64})", size_bytes: (\d+) \}\)', line)
        arguments = re.search(r"arguments: \[(.*?)\], environment_variables: \[(.*?)\], output_files", line)
        assert digest and arguments, line[:2000]
        argv = tuple(m.group(1).replace('\\"', '"').replace("\\\\", "\\") for m in _STRING.finditer(arguments.group(1)))
        env = dict(re.findall(r'EnvironmentVariable \{ name: "([^"]*)", value: "([^"]*)" \}', arguments.group(2)))
        requests.append(RemoteRequest(f"{digest.group(1)}-{digest.group(2)}", argv, env))
    return requests


def wrapper_of(argv: tuple[str, ...]) -> str | None:
    """`go` or `ko-run` for our `sh -c` wrappers (after Pants' own append-only-caches wrapper)."""
    start = argv.index("/bin/sh") if "/bin/sh" in argv[:2] else None
    return argv[start + 3] if start is not None and argv[start + 1] == "-c" else None


def local_go_processes(stderr: str) -> list[str]:
    """Descriptions of `go` Processes that ran on this machine."""
    return re.findall(r'spawned local process .*?description: "((?:go |Compile the Go dependencies)[^"]*)"', stderr)


def _fresh_caches(folder: Path) -> tuple[str, ...]:
    """A local store and named caches of their own (empty the first time), with the local process
    cache on: a later run with the same folder finds what this one ran, remotely or not."""
    return (f"--named-caches-dir={folder / 'named'}", f"--local-store-dir={folder / 'store'}")


@dataclass(frozen=True)
class RemoteBuild:
    repo: ScratchRepo
    caches: Path
    requests: list[RemoteRequest]
    executed: list[str]  # action digests the worker ran during the build
    metric_runs: float  # and what its metrics counted
    stderr: str


@pytest.fixture(scope="module")
def remote_build(buildbarn, toolchain, tmp_path_factory) -> RemoteBuild:
    root = tmp_path_factory.mktemp("remote")
    repo = _remote_repo(root / "repo", toolchain)
    before, runs_before = len(buildbarn.executed_actions()), buildbarn.executions()
    result = repo.pants(
        *_fresh_caches(root / "caches"),
        *_remote_args(buildbarn, toolchain),
        "package", "::",
        "export-codegen", "src/tools:greet",
        env={"GOPROXY": toolchain.goproxy},
        timeout=1500,
    )
    (root / "pants.stderr").write_text(result.stderr)  # for a failing assertion: what Pants did
    return RemoteBuild(
        repo,
        root / "caches",
        remote_requests(result.stderr),
        buildbarn.executed_actions()[before:],
        buildbarn.executions() - runs_before,
        result.stderr,
    )


def test_every_go_process_runs_on_the_worker_and_none_here(remote_build, local_digests) -> None:
    requests = remote_build.requests
    builds = {r.go_build: r.action for r in requests if r.go_build}
    assert sorted(builds) == GO_BUILDS
    # Each go build's action is one the worker ran (its log names the action digest)...
    executed = set(remote_build.executed)
    assert set(builds.values()) <= executed
    # ... and the worker ran only what Pants sent: the go Processes (through the wrapper: go
    # list, the dependency compiles, go build), the adhoc_tool's run of the server binary, and
    # Pants' own probes of the remote environment for the adhoc_tool (`env -0`, finding bash);
    # never the registry tool or anything else of ours.
    assert executed == {r.action for r in requests}
    go = [r for r in requests if wrapper_of(r.arguments) == "go"]
    assert {r.arguments[r.arguments.index("go") + 3] for r in go} == {"list", "build"}
    assert len([r for r in requests if "ko-run __ko_run/" in " ".join(r.arguments)]) == 1
    # The layer writer is compiled there once and writes every image's layers there.
    assert len([r for r in go if "golayer" in r.arguments]) == 1
    writes = [r for r in requests if r.arguments[:2] == ("./__ko_golayer/golayer", "layers")]
    assert len(writes) == len(GO_BUILDS), [r.arguments for r in requests]
    assert not any("pants_backend_ko" in " ".join(r.arguments) for r in requests)
    assert remote_build.metric_runs == len(remote_build.executed)
    assert local_go_processes(remote_build.stderr) == []
    # The same images as the host's go builds here.
    assert _digests(remote_build.repo) == local_digests
    # The ko_image ran in the remote sandbox, with its kodata.
    greeting = (remote_build.repo.root / "dist/codegen/src/tools/greeting.txt").read_text()
    assert "hello from server on linux/" in greeting and "kodata: message from kodata" in greeting


def test_publish_pushes_from_here_and_runs_nothing_remotely(
    remote_build, buildbarn, toolchain, registry_plain, unique_repo, local_digests
) -> None:
    repo = remote_build.repo
    before = len(buildbarn.executed_actions())
    result = repo.pants(
        *_fresh_caches(remote_build.caches),  # the build's: its results are in the local cache
        *_remote_args(buildbarn, toolchain),
        "publish", "src/go::",
        env={"GOPROXY": toolchain.goproxy, "KO_DOCKER_REPO": f"{registry_plain.host}/{unique_repo}"},
    )
    pushed = dict(re.findall(r"^(\S+)@(sha256:[0-9a-f]{64})$", result.stdout, re.MULTILINE))
    assert sorted(pushed.values()) == sorted(local_digests.values()), result.stdout
    assert buildbarn.executed_actions()[before:] == []
    assert remote_requests(result.stderr) == []


def test_a_fresh_clone_is_served_by_the_remote_action_cache(
    remote_build, buildbarn, toolchain, tmp_path, local_digests
) -> None:
    clone = _remote_repo(tmp_path / "elsewhere" / "clone", toolchain)
    before = len(buildbarn.executed_actions())
    result = clone.pants(
        *pants_args_for_isolated_caches(tmp_path / "elsewhere" / "caches"),
        *_remote_args(buildbarn, toolchain),
        "--remote-cache-read",
        "--stats-log",
        "package", "::",
        env={"GOPROXY": toolchain.goproxy},
        timeout=900,
    )
    (tmp_path / "clone.stderr").write_text(result.stderr)  # for a failing assertion: what Pants did
    sent = [r.arguments[:4] for r in remote_requests(result.stderr)]
    assert buildbarn.executed_actions()[before:] == [], sent
    assert sent == [] and local_go_processes(result.stderr) == []
    cached = re.search(r"^\s*remote_cache_requests_cached: (\d+)\s*$", result.stderr, re.MULTILINE)
    assert cached and int(cached.group(1)) >= len(GO_BUILDS)
    assert _digests(clone) == local_digests


def test_remote_execution_without_environments_is_refused_in_one_line(buildbarn, toolchain, tmp_path) -> None:
    """Without `[environments-preview].names`, Pants would run every Process remotely."""
    repo = _repo(tmp_path / "repo")
    result = repo.pants(
        *buildbarn.pants_options(),
        "--remote-execution",
        "--remote-execution-extra-platform-properties=['OSFamily=linux']",
        "package",
        "src/go/cmd/worker",
        check=False,
    )
    assert result.returncode != 0
    assert "`--remote-execution` is on and `[environments-preview].names` is empty" in result.stderr
