"""The Go toolchain of every `go` Process: the host's `go`, or a pinned release as an input.

With `[ko].go_version` unset, `go` is found on `[ko].executable_search_paths` of the environment
the `go` Processes run in (`[ko].build_environment`), and its `go version` output is fingerprinted
into every build's cache key.

With `[ko].go_version = "1.26.8"`, the toolchain is the `golang.org/toolchain` module of that
release for the platform of that environment (a remote worker's, not this machine's, when the
builds run remotely), fetched as `go` itself fetches it (`golang/gotoolchain.py`): the zip from the
first proxy of `GOPROXY` by Pants' downloader, checked against the sha256 and size in
`[ko].go_known_versions` (a wrong entry fails in one line), unzipped by a cached Process, and
made a GOROOT with `go`'s file modes and `go.mod` copies. The GOROOT goes to every `go` Process
as an immutable input at `GOROOT_DIR` (materialized once, not copied into each sandbox; sent to a
remote cluster's CAS once), so a worker needs no Go at all. Its `go version` line is known
without running it, and is fingerprinted as the host's is: the host's go1.26.8 and the
downloaded one give builds the same `__KO_GO_FINGERPRINT`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from pants.core.util_rules.archive import ExtractedArchive, MaybeExtractArchiveRequest
from pants.core.util_rules.system_binaries import BinaryPathRequest, BinaryPaths, BinaryPathTest
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.environment import EnvironmentName
from pants.engine.fs import CreateDigest, Digest, DigestEntries, Directory, DownloadFile, FileDigest, FileEntry
from pants.engine.platform import Platform
from pants.engine.rules import Get, collect_rules, rule
from pants.util.logging import LogLevel

from pants_backend_ko.errors import KoError
from pants_backend_ko.golang import gotoolchain
from pants_backend_ko.golang.gotoolchain import KnownVersion, ToolchainError
from pants_backend_ko.subsystems import KoSubsystem
from pants_backend_ko.util_rules.environments import KoEnvironments

# Where the downloaded GOROOT is in every `go` sandbox (an immutable input).
GOROOT_DIR = "__ko_goroot"

# Go's GOOS/GOARCH of Pants' platforms (the platforms Pants' environments can have).
GO_PLATFORMS = {
    Platform.linux_x86_64: ("linux", "amd64"),
    Platform.linux_arm64: ("linux", "arm64"),
    Platform.macos_x86_64: ("darwin", "amd64"),
    Platform.macos_arm64: ("darwin", "arm64"),
}


@dataclass(frozen=True)
class GoToolchain:
    """The `go` of every `go` Process and where those Processes run."""

    path: str  # the host's absolute path, or relative to the sandbox root (in GOROOT_DIR)
    fingerprint: str  # sha256 of the `go version` output: part of every build's cache key
    environment: EnvironmentName  # where `go` Processes run ([ko].build_environment)
    goroot: Digest | None = None  # the downloaded GOROOT (an immutable input at GOROOT_DIR)

    @property
    def immutable_inputs(self) -> dict[str, Digest]:
        return {GOROOT_DIR: self.goroot} if self.goroot is not None else {}


def go_version_fingerprint(release: str, goos: str, goarch: str) -> str:
    """The fingerprint of what `go version` prints, as Pants' `BinaryPathTest(fingerprint_stdout=True)`
    computes it for the host's `go`."""
    return hashlib.sha256(f"go version go{release} {goos}/{goarch}\n".encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# The host's go


@dataclass(frozen=True)
class HostGoRequest:
    """Find `go` on the search path; requested in the environment the `go` Processes run in."""


@dataclass(frozen=True)
class HostGo:
    path: str
    fingerprint: str


@rule(desc="Find the go toolchain", level=LogLevel.DEBUG)
async def find_host_go(_: HostGoRequest, ko_env: KoSubsystem.EnvironmentAware) -> HostGo:
    request = BinaryPathRequest(
        binary_name="go",
        search_path=ko_env.executable_search_path,
        test=BinaryPathTest(args=["version"], fingerprint_stdout=True),
    )
    paths = await Get(BinaryPaths, BinaryPathRequest, request)
    first = paths.first_path
    if first is None:
        raise KoError(
            "no `go` toolchain found on the search path "
            f"({', '.join(ko_env.executable_search_path) or 'empty'}); install Go, set "
            "[ko].executable_search_paths, or set [ko].go_version to download a pinned Go."
        )
    return HostGo(first.path, first.fingerprint)


# ---------------------------------------------------------------------------------------------
# A pinned release from the Go module proxy


@dataclass(frozen=True)
class GoRootRequest:
    release: str  # e.g. 1.26.8
    platform: Platform  # of the machine that runs `go`


@dataclass(frozen=True)
class DownloadedGoRoot:
    digest: Digest  # bin/go, pkg/tool/..., src/..., with go's modes and go.mod copies


def known_version(entries: tuple[str, ...], release: str, platform: Platform, url: str) -> KnownVersion:
    known = []
    for entry in entries:
        try:
            parsed = KnownVersion.parse(entry)
        except ToolchainError as e:
            raise KoError(f"[ko].go_known_versions: {e}.") from None
        if parsed.release == release and parsed.platform == platform.value:
            return parsed
        known.append(f"{parsed.release} on {parsed.platform}")
    raise KoError(
        f"[ko].go_version = {release}: no sha256 for go{release} on {platform.value} in [ko].go_known_versions "
        f"(it has {', '.join(known) or 'nothing'}); add `{release}|{platform.value}|<sha256>|<size>` of {url} "
        "to [ko].go_known_versions."
    )


_WRONG_DIGEST = re.compile(r"got Digest \{ hash: Fingerprint<([0-9a-f]{64})>, size_bytes: (\d+) \}")


def download_failure(error: Exception, url: str, known: KnownVersion) -> KoError:
    text = str(error)
    wrong = _WRONG_DIGEST.search(text)
    if wrong:
        return KoError(
            f"[ko].go_known_versions: go{known.release} for {known.platform} should have sha256 {known.sha256} "
            f"({known.size} bytes), but {url} has sha256 {wrong.group(1)} ({wrong.group(2)} bytes); correct the "
            "entry if you added it, or check what your GOPROXY serves."
        )
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    reason = lines[-1] if lines else type(error).__name__
    return KoError(
        f"cannot download the Go toolchain go{known.release} for {known.platform} from {url}: {reason}; "
        "check GOPROXY (or [ko].go_env) and your network."
    )


@rule(desc="Download the Go toolchain", level=LogLevel.DEBUG)
async def download_goroot(request: GoRootRequest, ko: KoSubsystem, envs: KoEnvironments) -> DownloadedGoRoot:
    goos, goarch = GO_PLATFORMS[request.platform]
    # Your GOPROXY, from this machine's environment wherever `go` runs.
    user_env = await Get(
        EnvironmentVars, {EnvironmentVarsRequest(["GOPROXY"]): EnvironmentVarsRequest, envs.local: EnvironmentName}
    )
    goproxy = dict(ko.go_env).get("GOPROXY", user_env.get("GOPROXY"))
    try:
        proxy = gotoolchain.toolchain_proxy(goproxy)
    except ToolchainError as e:
        raise KoError(f"[ko].go_version = {request.release}: {e}.") from None
    url = gotoolchain.zip_url(proxy, request.release, goos, goarch)
    known = known_version(tuple(ko.go_known_versions), request.release, request.platform, url)
    try:
        archive = await Get(Digest, DownloadFile(url, FileDigest(known.sha256, known.size)))
    except Exception as e:  # the engine's download error: a wrong digest, a 404, no network
        raise download_failure(e, url, known) from None
    # Unzipped here, whatever environment `go` runs in (the cached Process needs `unzip`).
    extracted = await Get(
        ExtractedArchive,
        {MaybeExtractArchiveRequest(archive, ".zip"): MaybeExtractArchiveRequest, envs.local: EnvironmentName},
    )
    entries = await Get(DigestEntries, Digest, extracted.digest)
    root = gotoolchain.zip_root(request.release, goos, goarch)
    goroot: list[FileEntry | Directory] = []
    try:
        for entry in entries:
            if isinstance(entry, FileEntry):
                for path in gotoolchain.goroot_paths(entry.path, root):
                    goroot.append(FileEntry(path, entry.file_digest, is_executable=gotoolchain.is_executable(path)))
            elif isinstance(entry, Directory) and entry.path + "/" != root:
                goroot.append(Directory(gotoolchain.goroot_paths(entry.path, root)[0]))
    except ToolchainError as e:
        raise KoError(f"{url}: {e}.") from None
    if not any(isinstance(e, FileEntry) and e.path == "bin/go" for e in goroot):
        raise KoError(f"{url} has no bin/go under {root}: it is not a Go toolchain module zip.")
    return DownloadedGoRoot(await Get(Digest, CreateDigest(goroot)))


# ---------------------------------------------------------------------------------------------


@rule(desc="Choose the Go toolchain", level=LogLevel.DEBUG)
async def go_toolchain(ko: KoSubsystem, envs: KoEnvironments) -> GoToolchain:
    if ko.go_version is None:
        host = await Get(HostGo, {HostGoRequest(): HostGoRequest, envs.go: EnvironmentName})
        return GoToolchain(host.path, host.fingerprint, envs.go)
    try:
        release = gotoolchain.parse_release(ko.go_version)
    except ToolchainError as e:
        raise KoError(f"[ko].go_version: {e}.") from None
    if envs.go_platform not in GO_PLATFORMS:
        raise KoError(f"[ko].go_version: no Go toolchain for the platform {envs.go_platform.value}.")
    goos, goarch = GO_PLATFORMS[envs.go_platform]
    downloaded = await Get(DownloadedGoRoot, GoRootRequest(release, envs.go_platform))
    return GoToolchain(
        path=f"{GOROOT_DIR}/bin/go",
        fingerprint=go_version_fingerprint(release, goos, goarch),
        environment=envs.go,
        goroot=downloaded.digest,
    )


def rules():
    return collect_rules()
