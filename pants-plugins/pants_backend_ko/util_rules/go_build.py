"""Go builds for `ko_image`: find the toolchain and module, list packages, run `go build`.

Not the Pants 2.17 Go backend (it cannot build with Go >= 1.22): one hermetic `go build` Process
per (binary, platform). Its inputs are only the files of the packages the main package imports
(from `go list`), plus go.mod/go.sum, so an edit in one binary never re-runs another's build.
Before them, one Process per (module, platform, flags) compiles every package from outside the
module that the module's commands import (standard library, third-party modules) into GOCACHE:
concurrent builds would otherwise each compile the same dependencies on a cold cache, since Go
does not share work in progress between processes. Its inputs are go.mod/go.sum and the list
of those packages, so edits inside the module never re-run it.
`GOCACHE`/`GOMODCACHE` are append-only named caches: Go's own caches are content-addressed and
safe to share between concurrent processes.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

from pants.core.util_rules.system_binaries import BinaryPathRequest, BinaryPaths, BinaryPathTest
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import Digest, DigestContents, DigestSubset, PathGlobs, Snapshot
from pants.engine.process import FallibleProcessResult, Process, ProcessCacheScope
from pants.engine.rules import Get, collect_rules, rule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from pants_backend_ko.errors import KoError
from pants_backend_ko.oci.platform import Platform
from pants_backend_ko.subsystems import KoSubsystem

# Variables of the user's environment that decide where modules come from; passed to `go`.
GO_NETWORK_ENV = ("GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GONOPROXY", "GOINSECURE", "GOVCS")

GO_LIST_FIELDS = (
    "ImportPath,Dir,Name,Standard,Module,GoFiles,CgoFiles,CFiles,CXXFiles,MFiles,HFiles,FFiles,"
    "SFiles,SwigFiles,SwigCXXFiles,SysoFiles,EmbedFiles,Deps,Error,DepsErrors"
)
_SOURCE_FILE_FIELDS = (
    "GoFiles",
    "CgoFiles",
    "CFiles",
    "CXXFiles",
    "MFiles",
    "HFiles",
    "FFiles",
    "SFiles",
    "SwigFiles",
    "SwigCXXFiles",
    "SysoFiles",
    "EmbedFiles",
)


@dataclass(frozen=True)
class GoToolchain:
    path: str
    fingerprint: str


@rule(desc="Find the go toolchain", level=LogLevel.DEBUG)
async def find_go_toolchain(ko_env: KoSubsystem.EnvironmentAware) -> GoToolchain:
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
            f"({', '.join(ko_env.executable_search_path) or 'empty'}); install Go or set "
            "[ko].executable_search_paths."
        )
    return GoToolchain(first.path, first.fingerprint)


@dataclass(frozen=True)
class GoModuleRequest:
    """The module that holds `package_dir` (a repository-relative folder)."""

    package_dir: str


@dataclass(frozen=True)
class GoModule:
    root: str  # repository-relative folder holding go.mod ("" for the repository root)
    module_path: str
    vendored: bool

    def import_path_of(self, package_dir: str) -> str:
        rel = os.path.relpath(package_dir, self.root or ".")
        return self.module_path if rel == "." else f"{self.module_path}/{rel}"

    def path(self, rel: str) -> str:
        return os.path.join(self.root, rel) if self.root else rel


_MODULE_LINE = re.compile(r'^\s*module\s+("?)([^\s"/][^\s"]*)\1\s*(//.*)?$', re.MULTILINE)


def parse_module_path(go_mod: str, path: str) -> str:
    match = _MODULE_LINE.search(go_mod)
    if not match:
        raise KoError(f"{path}: no `module` line; run `go mod init <module path>` there.")
    return match.group(2)


@rule(desc="Find the Go module", level=LogLevel.DEBUG)
async def find_go_module(request: GoModuleRequest) -> GoModule:
    parts = [p for p in request.package_dir.split("/") if p]
    candidates = [os.path.join(*parts[:i], "go.mod") if i else "go.mod" for i in range(len(parts), -1, -1)]
    snapshot = await Get(Snapshot, PathGlobs(candidates))
    found = sorted(snapshot.files, key=len, reverse=True)
    if not found:
        raise KoError(
            f"no go.mod in {request.package_dir or '.'} or any folder above it; a ko_image "
            "builds a package of a Go module: run `go mod init <module path>` at the module root."
        )
    go_mod = found[0]
    root = os.path.dirname(go_mod)
    contents = await Get(DigestContents, PathGlobs([go_mod]))
    module_path = parse_module_path(contents[0].content.decode("utf-8", "replace"), go_mod)
    vendor = await Get(Snapshot, PathGlobs([os.path.join(root, "vendor", "modules.txt")]))
    return GoModule(root=root, module_path=module_path, vendored=bool(vendor.files))


@dataclass(frozen=True)
class GoModuleSources:
    """Every file of the module (less nested modules' files it cannot import anyway)."""

    snapshot: Snapshot


@rule(desc="Read a Go module's files", level=LogLevel.DEBUG)
async def go_module_sources(module: GoModule) -> GoModuleSources:
    prefix = f"{module.root}/" if module.root else ""
    snapshot = await Get(
        Snapshot,
        PathGlobs([f"{prefix}**", f"!{prefix}**/BUILD", f"!{prefix}**/BUILD.pants", f"!{prefix}.git/**"]),
    )
    return GoModuleSources(snapshot)


@dataclass(frozen=True)
class GoEnvRequest:
    platform: Platform
    cgo: bool = False  # CGO_ENABLED=1 and the user's PATH (for the C compiler)
    build_env: tuple[str, ...] = ()  # `NAME=VALUE` from .ko.yaml's env (builds[].env/defaultEnv)


@dataclass(frozen=True)
class GoProcessEnv:
    """The environment of every `go` Process: hermetic, plus where modules come from."""

    env: FrozenDict[str, str]


@rule(level=LogLevel.DEBUG)
async def go_process_env(request: GoEnvRequest, go: GoToolchain, ko: KoSubsystem) -> GoProcessEnv:
    user_env = await Get(EnvironmentVars, EnvironmentVarsRequest(GO_NETWORK_ENV + ("PATH",)))
    path = user_env.get("PATH", "") if request.cgo else None
    user_env = {k: v for k, v in user_env.items() if k != "PATH"}
    env = {
        "CGO_ENABLED": "0",
        "GOTOOLCHAIN": "local",
        "GOENV": "off",
        # The sandbox path is substituted at run time, after the cache key is computed.
        "GOCACHE": "{chroot}/.cache/go-build",
        "GOMODCACHE": "{chroot}/.cache/go-mod",
        "GOPATH": "{chroot}/.cache/gopath",
        "HOME": "{chroot}/.cache/home",
        # The toolchain's identity: a new Go invalidates every cached build.
        "__KO_GO_FINGERPRINT": go.fingerprint,
        **request.platform.go_env(),
        **{k: v for k, v in user_env.items() if v},
        **dict(ko.go_env),
        **dict(entry.split("=", 1) for entry in request.build_env),
    }
    if request.cgo:
        # cgo runs the C compiler: it comes from the user's PATH (and `CC` in [ko].go_env).
        env["CGO_ENABLED"] = "1"
        env["PATH"] = path or ""
    return GoProcessEnv(FrozenDict(env))


GO_CACHES = FrozenDict({"ko_go_build": ".cache/go-build", "ko_go_mod": ".cache/go-mod"})

# With a remote cache, Pants races the cache lookup against local execution after this delay
# (0 by default: every `go` Process is spawned even on a remote hit, then killed). A lookup
# answers in milliseconds and a miss starts local execution at once, so waiting costs nothing
# and a fresh clone served by the remote cache spawns no `go build` at all.
GO_REMOTE_CACHE_SPECULATION_DELAY_MS = 2000


@dataclass(frozen=True)
class GoPackage:
    import_path: str
    name: str
    rel_dir: str | None  # folder relative to the module root, for packages of this module
    files: tuple[str, ...]  # source and embedded files, relative to the module root
    deps: tuple[str, ...]
    error: str | None


def mod_flag(module: GoModule) -> str:
    """How `go` treats the module's dependencies: from vendor/ when there is one."""
    return "-mod=vendor" if module.vendored else "-mod=readonly"


def build_inputs(module: GoModule, files: list[str]) -> PathGlobs:
    """`files` (module-relative) plus what every build of the module reads: go.mod, go.sum and,
    when vendored, vendor/modules.txt."""
    module_files = ["go.mod", "go.sum"] + (["vendor/modules.txt"] if module.vendored else [])
    return PathGlobs([module.path(f) for f in files + module_files])


def build_env_of(env: GoProcessEnv, module: GoModule) -> FrozenDict[str, str]:
    return FrozenDict({**env.env, "GOFLAGS": mod_flag(module)})


@dataclass(frozen=True)
class GoListRequest:
    module: GoModule
    platform: Platform
    # Build flags that change which files and imports a package has (`-tags`): `go list`
    # must see the same ones as `go build`, or tagged files would be missing from the inputs.
    selection_flags: tuple[str, ...] = ()
    cgo: bool = False
    build_env: tuple[str, ...] = ()


def selection_flags_of(flags: tuple[str, ...]) -> tuple[str, ...]:
    """The `-tags` flags among `go build` flags, in both `-tags=a,b` and `-tags a,b` forms."""
    selected: list[str] = []
    for i, flag in enumerate(flags):
        name = flag.lstrip("-").split("=")[0]
        if name == "tags":
            if "=" in flag:
                selected.append(flag)
            elif i + 1 < len(flags):
                selected.extend((flag, flags[i + 1]))
    return tuple(selected)


@dataclass(frozen=True)
class GoListing:
    packages: FrozenDict[str, GoPackage]


def parse_go_list(stdout: bytes) -> dict[str, GoPackage]:
    decoder = json.JSONDecoder()
    text = stdout.decode("utf-8")
    packages: dict[str, GoPackage] = {}
    main_module_dir: str | None = None
    objects = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        obj, pos = decoder.raw_decode(text, pos)
        objects.append(obj)
        module = obj.get("Module") or {}
        if module.get("Main") and module.get("Dir"):
            main_module_dir = module["Dir"]
    for obj in objects:
        directory = obj.get("Dir") or ""
        rel_dir = None
        if (
            main_module_dir
            and not obj.get("Standard")
            and (directory == main_module_dir or directory.startswith(main_module_dir + os.sep))
        ):
            rel_dir = os.path.relpath(directory, main_module_dir)
        files: list[str] = []
        if rel_dir is not None:
            for field in _SOURCE_FILE_FIELDS:
                for f in obj.get(field) or ():
                    files.append(os.path.normpath(os.path.join(rel_dir, f)))
        error = (obj.get("Error") or {}).get("Err")
        packages[obj["ImportPath"]] = GoPackage(
            import_path=obj["ImportPath"],
            name=obj.get("Name", ""),
            rel_dir=rel_dir,
            files=tuple(sorted(files)),
            deps=tuple(obj.get("Deps") or ()),
            error=error,
        )
    return packages


@rule(desc="List Go packages", level=LogLevel.DEBUG)
async def go_list(request: GoListRequest, go: GoToolchain) -> GoListing:
    sources = await Get(GoModuleSources, GoModule, request.module)
    env = await Get(GoProcessEnv, GoEnvRequest(request.platform, request.cgo, request.build_env))
    flags = mod_flag(request.module)
    result = await Get(
        FallibleProcessResult,
        Process(
            argv=(
                go.path,
                "list",
                "-e",
                "-deps",
                f"-json={GO_LIST_FIELDS}",
                flags,
                *request.selection_flags,
                "./...",
            ),
            description=f"go list {request.module.module_path} ({request.platform})",
            input_digest=sources.snapshot.digest,
            working_directory=request.module.root or None,
            env=env.env,
            append_only_caches=GO_CACHES,
            remote_cache_speculation_delay_millis=GO_REMOTE_CACHE_SPECULATION_DELAY_MS,
            level=LogLevel.DEBUG,
        ),
    )
    if result.exit_code != 0:
        raise KoError(
            f"`go list` failed in module {request.module.module_path} "
            f"({request.module.path('go.mod')}): {_first_lines(result.stderr)}"
        )
    return GoListing(FrozenDict(parse_go_list(result.stdout)))


@dataclass(frozen=True)
class GoDependenciesRequest:
    module: GoModule
    platform: Platform
    flags: tuple[str, ...]  # the builds' flags: they change what is compiled (-tags, -gcflags)
    cgo: bool
    build_env: tuple[str, ...]
    packages: tuple[str, ...]  # import paths from outside the module, sorted


@dataclass(frozen=True)
class GoDependenciesCompiled:
    ok: bool  # a failure is left to the binary's own build, which reports it


def external_dependencies(listing: GoListing) -> tuple[str, ...]:
    """Every package from outside the module that a `package main` of the module imports,
    directly or not; the same for every binary of the module, so they share one compile."""
    packages = listing.packages
    external: set[str] = set()
    for package in packages.values():
        if package.rel_dir is None or package.name != "main" or package.error:
            continue
        for dep in package.deps:
            info = packages.get(dep)
            if info is not None and info.rel_dir is None and not info.error:
                external.add(dep)
    return tuple(sorted(external))


@rule(desc="Compile Go dependencies", level=LogLevel.DEBUG)
async def compile_go_dependencies(request: GoDependenciesRequest, go: GoToolchain) -> GoDependenciesCompiled:
    if not request.packages:
        return GoDependenciesCompiled(True)
    # No sources: vendored packages sit inside the module and are built with it.
    sources = await Get(GoModuleSources, GoModule, request.module)
    input_digest = await Get(Digest, DigestSubset(sources.snapshot.digest, build_inputs(request.module, [])))
    env = await Get(GoProcessEnv, GoEnvRequest(request.platform, request.cgo, request.build_env))
    # Several packages and no -o: go compiles them into GOCACHE and writes nothing else.
    argv = [go.path, "build", "-trimpath", *request.flags, *request.packages]
    result = await Get(
        FallibleProcessResult,
        Process(
            argv=tuple(argv),
            description=f"Compile the Go dependencies of {request.module.module_path} ({request.platform})",
            input_digest=input_digest,
            working_directory=request.module.root or None,
            env=build_env_of(env, request.module),
            append_only_caches=GO_CACHES,
            remote_cache_speculation_delay_millis=GO_REMOTE_CACHE_SPECULATION_DELAY_MS,
            level=LogLevel.DEBUG,
            # Its only product is GOCACHE's content. A failure (a dependency needing cgo, a
            # module download that failed) is left to the binary's own build to report, and is
            # not cached: a network hiccup must not disable this step for good.
            cache_scope=ProcessCacheScope.SUCCESSFUL,
        ),
    )
    return GoDependenciesCompiled(result.exit_code == 0)


@dataclass(frozen=True)
class GoBuildRequest:
    module: GoModule
    import_path: str
    binary_name: str
    platform: Platform
    flags: tuple[str, ...]
    ldflags: tuple[str, ...]
    owner: str  # the target address, for messages
    cgo: bool = False
    build_env: tuple[str, ...] = ()  # `NAME=VALUE` from .ko.yaml


@dataclass(frozen=True)
class BuiltGoBinary:
    digest: Digest  # holds exactly one file, `binary_path`
    binary_path: str


def _first_lines(stderr: bytes, limit: int = 40) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return "\n".join(lines[:limit]) + ("\n..." if len(lines) > limit else "")


def check_build_flags(flags: tuple[str, ...], owner: str) -> None:
    for flag in flags:
        if flag.lstrip("-").split("=")[0] == "toolexec":
            raise KoError(
                f"{owner}: `{flag}` is not allowed in `flags` (as in ko): it would run arbitrary programs inside the build."
            )
        if flag.lstrip("-").split("=")[0] == "o":
            raise KoError(f"{owner}: `{flag}` in `flags`: the output path is chosen by the backend; remove it.")


@rule(desc="Build a Go binary", level=LogLevel.DEBUG)
async def go_build(request: GoBuildRequest, go: GoToolchain, ko: KoSubsystem) -> BuiltGoBinary:
    check_build_flags(request.flags, request.owner)
    listing = await Get(
        GoListing,
        GoListRequest(
            request.module, request.platform, selection_flags_of(request.flags), request.cgo, request.build_env
        ),
    )
    main = listing.packages.get(request.import_path)
    if main is None:
        raise KoError(
            f"{request.owner}: package {request.import_path} is not in module "
            f"{request.module.module_path} ({request.module.path('go.mod')}); check the `main` field."
        )
    if main.error:
        raise KoError(f"{request.owner}: {main.error.strip()}")
    if main.name != "main":
        raise KoError(
            f"{request.owner}: {request.import_path} is `package {main.name}`, not `package main`; "
            "a ko_image builds a command: point `main` at a folder with `package main`."
        )
    files = set(main.files)
    for dep in main.deps:
        package = listing.packages.get(dep)
        if package is not None and package.rel_dir is not None:
            files.update(package.files)
    # Warm GOCACHE with the dependencies first (one compile shared by every binary).
    await Get(
        GoDependenciesCompiled,
        GoDependenciesRequest(
            request.module,
            request.platform,
            request.flags,
            request.cgo,
            request.build_env,
            external_dependencies(listing),
        ),
    )
    sources = await Get(GoModuleSources, GoModule, request.module)
    input_digest = await Get(Digest, DigestSubset(sources.snapshot.digest, build_inputs(request.module, sorted(files))))
    env = await Get(GoProcessEnv, GoEnvRequest(request.platform, request.cgo, request.build_env))
    out = f"__ko_out/{request.binary_name}"
    argv = [go.path, "build", "-trimpath"]
    if ko.strip_vcs_info:
        argv.append("-buildvcs=false")
    argv.extend(request.flags)
    if request.ldflags:
        argv.append("-ldflags=" + " ".join(request.ldflags))
    argv.extend(["-o", out, request.import_path])
    result = await Get(
        FallibleProcessResult,
        Process(
            argv=tuple(argv),
            description=f"go build {request.import_path} ({request.platform}) for {request.owner}",
            input_digest=input_digest,
            working_directory=request.module.root or None,
            env=build_env_of(env, request.module),
            append_only_caches=GO_CACHES,
            remote_cache_speculation_delay_millis=GO_REMOTE_CACHE_SPECULATION_DELAY_MS,
            output_files=(out,),
            level=LogLevel.DEBUG,
            cache_scope=ProcessCacheScope.SUCCESSFUL,
        ),
    )
    if result.exit_code != 0:
        raise KoError(
            f"{request.owner}: go build {request.import_path} ({request.platform}) failed:\n"
            f"{_first_lines(result.stderr)}"
        )
    return BuiltGoBinary(result.output_digest, out)


def rules():
    return collect_rules()
