"""The toolchain rules with the real engine: a toolchain module zip downloaded by Pants from a
`file://` proxy (the air-gapped set-up), unzipped into a GOROOT and run by `go_process`'s
wrapper; the host `go` found on PATH. The real go1.26.8 is built with in `tests/test_remote.py`."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from pants.engine.fs import CreateDigest, Digest, DigestEntries, FileContent, FileEntry
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.process import FallibleProcessResult
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner
from pants.util.frozendict import FrozenDict

from pants_backend_ko.golang.gotoolchain import module_version
from pants_backend_ko.golang.gotoolchain_test import FAKE_RELEASE, fake_toolchain_zip, host_platform, write_file_proxy
from pants_backend_ko.testutil import ko_error_message, ko_rule_runner, set_ko_options
from pants_backend_ko.util_rules.go_build import GoProcess, GoProcessEnv, go_process
from pants_backend_ko.util_rules.go_module import GoModule
from pants_backend_ko.util_rules.go_toolchain import GOROOT_DIR, GoToolchain, go_version_fingerprint


@pytest.fixture(scope="module")
def rule_runner() -> RuleRunner:
    return ko_rule_runner(
        extra_rules=[
            QueryRule(FallibleProcessResult, (GoProcess,)),
            QueryRule(DigestEntries, (Digest,)),
            QueryRule(Digest, (CreateDigest,)),
        ]
    )


@pytest.fixture(scope="module")
def fake_proxy(tmp_path_factory) -> tuple[Path, str]:
    """A file:// GOPROXY with a miniature toolchain release, and its known-versions entry."""
    goos, goarch = host_platform()
    proxy = tmp_path_factory.mktemp("goproxy")
    data = fake_toolchain_zip(FAKE_RELEASE, goos, goarch)
    write_file_proxy(proxy, FAKE_RELEASE, goos, goarch, data)
    platform = {"linux": "linux", "darwin": "macos"}[goos] + "_" + {"amd64": "x86_64", "arm64": "arm64"}[goarch]
    return proxy, f"{FAKE_RELEASE}|{platform}|{hashlib.sha256(data).hexdigest()}|{len(data)}"


def pinned(rule_runner: RuleRunner, proxy: Path, known: str, *extra: str) -> None:
    set_ko_options(
        rule_runner,
        [f"--ko-go-version={FAKE_RELEASE}", f"--ko-go-known-versions=['{known}']", *extra],
        env={"GOPROXY": f"file://{proxy}"},
    )


def run_go_in_module(rule_runner: RuleRunner, go: GoToolchain, args: tuple[str, ...]) -> FallibleProcessResult:
    """`go <args>` through `go_process`, in the module folder `a/b` of a sandbox."""
    inputs = rule_runner.request(Digest, [CreateDigest([FileContent("a/b/go.mod", b"module x\n\ngo 1.21\n")])])
    process = go_process(
        go,
        args,
        module=GoModule(root="a/b", module_path="x", vendored=False),
        env=GoProcessEnv(FrozenDict({"GOTOOLCHAIN": "local", "GOENV": "off"})),
        input_digest=inputs,
        description=f"go {' '.join(args)}",
    )
    assert not any("{chroot}" in text for text in (*process.argv, *process.env.values()))
    return rule_runner.request(FallibleProcessResult, [GoProcess(process)])


def test_a_pinned_release_is_a_goroot_input_run_by_the_wrapper(rule_runner: RuleRunner, fake_proxy) -> None:
    proxy, known = fake_proxy
    # No `go` anywhere on the search path: the toolchain is the download.
    pinned(rule_runner, proxy, known, "--ko-executable-search-paths=['/nonexistent']")
    try:
        go = rule_runner.request(GoToolchain, [])
        goos, goarch = host_platform()
        assert go.path == f"{GOROOT_DIR}/bin/go"
        assert go.fingerprint == go_version_fingerprint(FAKE_RELEASE, goos, goarch)
        entries = {e.path: e for e in rule_runner.request(DigestEntries, [go.goroot]) if isinstance(e, FileEntry)}
        assert entries["bin/go"].is_executable and entries[f"pkg/tool/{goos}_{goarch}/compile"].is_executable
        assert not entries["src/fmt/print.go"].is_executable
        assert entries["src/go.mod"].file_digest == entries["src/_go.mod"].file_digest

        # The wrapper runs the GOROOT's go (an immutable input) in the module's folder.
        result = run_go_in_module(rule_runner, go, ("version",))
        assert result.exit_code == 0, result.stderr
        assert result.stdout == b"fake go version\n"
    finally:
        set_ko_options(rule_runner)


def test_the_wrapper_sets_gocache_in_the_sandbox_root(rule_runner: RuleRunner) -> None:
    """With the host's go: `go env` from a module two folders down names caches in the sandbox,
    and nothing in the Process is `{chroot}` (which Pants 2.17 does not expand remotely)."""
    go = rule_runner.request(GoToolchain, [])
    result = run_go_in_module(rule_runner, go, ("env", "GOCACHE", "GOMODCACHE", "GOPATH", "GOMOD"))
    assert result.exit_code == 0, result.stderr
    gocache, gomodcache, gopath, gomod = result.stdout.decode().splitlines()
    sandbox = gomod[: -len("/a/b/go.mod")]
    assert gomod.endswith("/a/b/go.mod") and sandbox.startswith("/")
    assert (gocache, gomodcache, gopath) == (
        f"{sandbox}/.cache/go-build",
        f"{sandbox}/.cache/go-mod",
        f"{sandbox}/.cache/gopath",
    )


def test_the_host_go_has_the_fingerprint_of_its_release(rule_runner: RuleRunner) -> None:
    """The host's go1.x.y and the downloaded go1.x.y give builds the same fingerprint."""
    out = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout.strip()
    goos, goarch = host_platform()
    go = rule_runner.request(GoToolchain, [])
    assert go.goroot is None and go.path.startswith("/")
    assert go.fingerprint == go_version_fingerprint(out.removeprefix("go"), goos, goarch)


def test_a_wrong_sha256_fails_in_one_line(rule_runner: RuleRunner, fake_proxy) -> None:
    proxy, known = fake_proxy
    release, platform, sha256, size = known.split("|")
    wrong = "0" * 64
    pinned(rule_runner, proxy, f"{release}|{platform}|{wrong}|{size}")
    try:
        with pytest.raises(ExecutionError) as excinfo:
            rule_runner.request(GoToolchain, [])
    finally:
        set_ko_options(rule_runner)
    goos, goarch = host_platform()
    url = f"file://{proxy}/golang.org/toolchain/@v/{module_version(release, goos, goarch)}.zip"
    assert ko_error_message(excinfo) == (
        f"[ko].go_known_versions: go{release} for {platform} should have sha256 {wrong} ({size} bytes), "
        f"but {url} has sha256 {sha256} ({size} bytes); correct the entry if you added it, or check what "
        "your GOPROXY serves."
    )


def test_an_unknown_release_or_no_proxy_says_what_to_add(rule_runner: RuleRunner, fake_proxy) -> None:
    proxy, known = fake_proxy
    set_ko_options(rule_runner, ["--ko-go-version=1.20.1"], env={"GOPROXY": f"file://{proxy}"})
    try:
        with pytest.raises(ExecutionError) as excinfo:
            rule_runner.request(GoToolchain, [])
        message = ko_error_message(excinfo)
        assert message.startswith("[ko].go_version = 1.20.1: no sha256 for go1.20.1 on ")
        assert "add `1.20.1|" in message and "to [ko].go_known_versions" in message
        pinned(rule_runner, proxy, known, '--ko-go-env={"GOPROXY": "off"}')
        with pytest.raises(ExecutionError) as excinfo:
            rule_runner.request(GoToolchain, [])
        assert ko_error_message(excinfo).startswith(f"[ko].go_version = {FAKE_RELEASE}: GOPROXY=off forbids downloads")
    finally:
        set_ko_options(rule_runner)
