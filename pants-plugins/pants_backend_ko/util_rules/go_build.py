"""Go builds for `ko_image`: find the toolchain, list packages, run `go build`.

Not the Pants 2.17 Go backend (it cannot build with Go >= 1.22): one hermetic `go build` Process
per (binary, platform). Its inputs come from targets: the files of the image's transitive
dependencies (`ko_go_package`, `ko_go_module`, `ko_go_work`, embedded files), narrowed to the
files of the packages the main package imports (from `go list`) plus go.mod/go.sum/go.work, so
an edit in one binary never re-runs another's build. A file the build needs that is not among
those dependencies is an error (an `!` exclusion, or an import inference missed), not a guess.

`go list` runs once per (module, platform, tags) over the files of every target of the module's
folders (and of the sibling modules its `replace`s and go.work bring in), cut to what it reads
(`GoListInputs`): an edit inside a function body or to embedded data does not re-run it. Before the builds, one
Process per (module, platform, flags) compiles every package from outside the module that the
module's commands import (standard library, third-party modules) into GOCACHE: concurrent builds
would otherwise each compile the same dependencies on a cold cache, since Go does not share work
in progress between processes. Its inputs are the module files and that package list, so edits
inside the module never re-run it.
`GOCACHE`/`GOMODCACHE` are append-only named caches: Go's own caches are content-addressed and
safe to share between concurrent processes.

Every `go` Process can run on another machine (`[ko].build_environment` naming a remote
environment): its argv, environment and inputs hold no path of this machine but the host `go`'s
when no `[ko].go_version` is set (the toolchain is `go_toolchain.py`'s). Go wants absolute cache
paths inside the sandbox, and Pants 2.17 expands `{chroot}` only in local Processes (not in
remote execution commands: pantsbuild/pants#17519, fixed in Pants 2.25), so a `/bin/sh` wrapper
sets them from the sandbox's path when it starts (`GO_WRAPPER`): a worker needs `/bin/sh`, as
Pants' own remote wrapper for append-only caches does (`make_wrapper_for_append_only_caches` in
`src/rust/engine/process_execution/src/lib.rs`).
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass

from pants.base.specs import RawSpecs, RecursiveGlobSpec
from pants.core.util_rules.source_files import SourceFiles, SourceFilesRequest
from pants.engine.addresses import Address, Addresses
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.environment import EnvironmentName
from pants.engine.fs import (
    CreateDigest,
    Digest,
    DigestContents,
    DigestSubset,
    FileContent,
    GlobMatchErrorBehavior,
    MergeDigests,
    PathGlobs,
    Snapshot,
)
from pants.engine.process import FallibleProcessResult, Process, ProcessCacheScope
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import SourcesField, Targets, TransitiveTargets, TransitiveTargetsRequest
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from pants_backend_ko.errors import KoError
from pants_backend_ko.gosrc.source import GO_SOURCE_EXTENSIONS, list_stub, read_header
from pants_backend_ko.oci.platform import Platform
from pants_backend_ko.subsystems import KoSubsystem
from pants_backend_ko.util_rules.environments import REMOTE_CACHE_SPECULATION_DELAY_MS, KoEnvironments
from pants_backend_ko.util_rules.go_module import GoModule
from pants_backend_ko.util_rules.go_packages import FileOwners, FileOwnersRequest, compiled_go_files
from pants_backend_ko.util_rules.go_toolchain import GoToolchain

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


# ---------------------------------------------------------------------------------------------
# Inputs: files of targets


@dataclass(frozen=True)
class DependencySourcesRequest:
    """The files of `roots` and of everything they depend on, transitively."""

    roots: tuple[Address, ...]


@dataclass(frozen=True)
class DependencySources:
    snapshot: Snapshot


@rule(desc="Gather the files of a build's dependencies", level=LogLevel.DEBUG)
async def dependency_sources(request: DependencySourcesRequest) -> DependencySources:
    transitive = await Get(TransitiveTargets, TransitiveTargetsRequest(request.roots))
    fields = [t[SourcesField] for t in transitive.closure if t.has_field(SourcesField)]
    sources = await Get(SourceFiles, SourceFilesRequest(fields))
    return DependencySources(sources.snapshot)


@dataclass(frozen=True)
class GoModuleSources:
    """The files `go list` reads: those of every target in the folders of the module's build
    context (less nested modules), and the go.work."""

    snapshot: Snapshot


def _within(path: str, folder: str) -> bool:
    return folder == "" or path == folder or path.startswith(folder + "/")


@rule(desc="Read a Go module's files", level=LogLevel.DEBUG)
async def go_module_sources(module: GoModule) -> GoModuleSources:
    context = module.context_dirs
    addresses = await Get(
        Addresses,
        RawSpecs(
            recursive_globs=tuple(RecursiveGlobSpec(d) for d in context),
            description_of_origin=f"the Go module {module.module_path}",
            unmatched_glob_behavior=GlobMatchErrorBehavior.ignore,
        ),
    )
    targets = await Get(Targets, Addresses, addresses)

    def in_context(spec_path: str) -> bool:
        home = max((c for c in context if _within(spec_path, c)), key=len, default=None)
        if home is None:
            return False
        return not any(_within(spec_path, n) and len(n) > len(home) for n in module.nested_roots)

    fields = [t[SourcesField] for t in targets if t.has_field(SourcesField) and in_context(t.address.spec_path)]
    if module.work_file:
        owners = await Get(FileOwners, FileOwnersRequest((module.work_file,)))
        work_targets = await Get(Targets, Addresses(owners.by_file.get(module.work_file, ())))
        fields.extend(t[SourcesField] for t in work_targets)
    sources = await Get(SourceFiles, SourceFilesRequest(fields))
    return GoModuleSources(sources.snapshot)


# ---------------------------------------------------------------------------------------------
# The environment and the Process of every `go` command


@dataclass(frozen=True)
class GoEnvRequest:
    platform: Platform
    cgo: bool = False  # CGO_ENABLED=1 and the user's PATH (for the C compiler)
    build_env: tuple[str, ...] = ()  # `NAME=VALUE` from .ko.yaml's env (builds[].env/defaultEnv)
    vendored: bool = False  # -mod=vendor instead of -mod=readonly


@dataclass(frozen=True)
class GoProcessEnv:
    """The environment of every `go` Process: hermetic, plus where modules come from."""

    env: FrozenDict[str, str]


def merge_goflags(user: str | None, mod_flag: str) -> str:
    """The user's GOFLAGS (as ko passes them to `go`), plus how modules are read unless the user
    says so (`-mod=...`) themselves."""
    flags = (user or "").split()
    if not any(f.lstrip("-").startswith("mod=") for f in flags):
        flags.append(mod_flag)
    return " ".join(flags)


@rule(level=LogLevel.DEBUG)
async def go_process_env(request: GoEnvRequest, go: GoToolchain, ko: KoSubsystem, envs: KoEnvironments) -> GoProcessEnv:
    """The one place the build environment is merged: `go list`, the dependency compile and
    `go build` all run with it. GOCACHE, GOMODCACHE, GOPATH and HOME are set by `GO_WRAPPER`."""
    # Where modules come from is your choice: read on this machine, even when this is asked in
    # a remote environment (an adhoc_tool running a ko_image there). cgo's C compiler is where
    # `go` runs.
    user_env = await Get(
        EnvironmentVars, {EnvironmentVarsRequest(GO_NETWORK_ENV): EnvironmentVarsRequest, envs.local: EnvironmentName}
    )
    configured = {**dict(ko.go_env), **dict(entry.split("=", 1) for entry in request.build_env)}
    env = {
        "CGO_ENABLED": "0",
        "GOTOOLCHAIN": "local",
        "GOENV": "off",
        # The toolchain's identity: a new Go invalidates every cached build.
        "__KO_GO_FINGERPRINT": go.fingerprint,
        **request.platform.go_env(),
        **{k: v for k, v in user_env.items() if v},
        **configured,
        "GOFLAGS": merge_goflags(configured.get("GOFLAGS"), "-mod=vendor" if request.vendored else "-mod=readonly"),
    }
    if request.cgo:
        # cgo runs the C compiler: it comes from the PATH where `go` runs (and `CC` in [ko].go_env).
        path = await Get(
            EnvironmentVars, {EnvironmentVarsRequest(["PATH"]): EnvironmentVarsRequest, go.environment: EnvironmentName}
        )
        env["CGO_ENABLED"] = "1"
        env["PATH"] = path.get("PATH", "")
    return GoProcessEnv(FrozenDict(env))


GO_CACHES = FrozenDict({"ko_go_build": ".cache/go-build", "ko_go_mod": ".cache/go-mod"})

# GOMODCACHE as the sandbox sees it (relative to its root): packages there are not the repository's.
_GOMODCACHE_IN_SANDBOX = ".cache/go-mod/"

# `sh -c GO_WRAPPER go <folder> <go> <args...>`, started in the sandbox root: Go's caches and
# HOME are absolute paths in this sandbox, wherever it is (`{chroot}` is not expanded remotely by
# Pants 2.17); a relative `<go>` (the downloaded toolchain) is in the sandbox too; then `go` runs
# in `<folder>` (the module's). Only shell built-ins: the sandbox has no PATH.
#
# Not Pants' `working_directory`: remotely, with append-only caches, Pants 2.17 moves it into its
# own wrapper script and leaves it out of the REAPI Command, whose output paths the worker then
# reads from the input root instead of that folder (`make_execute_request` in
# `src/rust/engine/process_execution/src/lib.rs`): the outputs would silently be missing.
# `$root` is the sandbox root and `$go` the toolchain's `go`, absolute, when this has run.
GO_SANDBOX_SETUP = (
    "case $go in /*) ;; *) go=$root/$go ;; esac; "
    'export GOCACHE="$root/.cache/go-build" GOMODCACHE="$root/.cache/go-mod" '
    'GOPATH="$root/.cache/gopath" HOME="$root/.cache/home"; '
)
GO_WRAPPER = 'root=$(pwd) && cd "$1" || exit 1; go=$2; shift 2; ' + GO_SANDBOX_SETUP + 'exec "$go" "$@"'

SHELL = "/bin/sh"


def go_process(
    go: GoToolchain,
    args: tuple[str, ...],
    *,
    module: GoModule | None,
    env: GoProcessEnv,
    input_digest: Digest,
    description: str,
    output_files: tuple[str, ...] = (),
) -> Process:
    """Every `go` command: in the module's folder (or the sandbox root), with the merged
    environment, Go's caches and the toolchain; a failure is never cached (a network hiccup must
    not stick). `output_files` are relative to the sandbox root (`output_path` makes the path a
    `go` argument names from the module's folder). Run it with
    `Get(FallibleProcessResult, GoProcess(...))`, which runs it where `[ko].build_environment` says."""
    folder = module.root if module is not None and module.root else "."
    return Process(
        argv=(SHELL, "-c", GO_WRAPPER, "go", folder, go.path, *args),
        description=description,
        input_digest=input_digest,
        immutable_input_digests=go.immutable_inputs,
        env=env.env,
        append_only_caches=GO_CACHES,
        remote_cache_speculation_delay_millis=REMOTE_CACHE_SPECULATION_DELAY_MS,
        output_files=output_files,
        level=LogLevel.DEBUG,
        cache_scope=ProcessCacheScope.SUCCESSFUL,
    )


def output_path(module: GoModule | None, path: str) -> str:
    """`path` (relative to the sandbox root) as a `go` argument, relative to the module's folder."""
    return posixpath.relpath(path, module.root) if module is not None and module.root else path


@dataclass(frozen=True)
class GoProcess:
    """A Process made by `go_process`, to run in the toolchain's environment."""

    process: Process


@rule(level=LogLevel.DEBUG)
async def run_go_process(request: GoProcess, go: GoToolchain) -> FallibleProcessResult:
    return await Get(FallibleProcessResult, {request.process: Process, go.environment: EnvironmentName})


# ---------------------------------------------------------------------------------------------
# go list


@dataclass(frozen=True)
class GoPackage:
    import_path: str
    name: str
    package_dir: str | None  # repository-relative folder, for packages read from the repository
    files: tuple[str, ...]  # source and embedded files, repository-relative
    deps: tuple[str, ...]
    error: str | None


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


def _json_stream(stdout: bytes) -> list[dict]:
    decoder = json.JSONDecoder()
    text = stdout.decode("utf-8")
    objects: list[dict] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return objects
        obj, pos = decoder.raw_decode(text, pos)
        objects.append(obj)


def parse_go_list(stdout: bytes, module_root: str, module_path: str) -> dict[str, GoPackage]:
    """`go list -json` output, with the files of the repository's packages as repository paths.

    The sandbox root is where the listed module's folder (`Module.Dir`) minus `module_root` is;
    a package is the repository's when its folder is below it and not in GOMODCACHE (packages
    of the module, of sibling modules brought in by `replace` or go.work, and of vendor/).
    """
    objects = _json_stream(stdout)
    sandbox: str | None = None
    for obj in objects:
        module = obj.get("Module") or {}
        if module.get("Main") and module.get("Path") == module_path and module.get("Dir"):
            directory = module["Dir"]
            sandbox = directory[: len(directory) - len(module_root)].rstrip("/") if module_root else directory
            break
    packages: dict[str, GoPackage] = {}
    for obj in objects:
        directory = obj.get("Dir") or ""
        package_dir = None
        if sandbox is not None and not obj.get("Standard") and _within(directory, sandbox):
            rel = posixpath.relpath(directory, sandbox)
            if not (rel + "/").startswith(_GOMODCACHE_IN_SANDBOX):
                package_dir = "" if rel == "." else rel
        files: list[str] = []
        if package_dir is not None:
            for field in _SOURCE_FILE_FIELDS:
                for f in obj.get(field) or ():
                    files.append(posixpath.normpath(posixpath.join(package_dir, f)))
        error = (obj.get("Error") or {}).get("Err")
        packages[obj["ImportPath"]] = GoPackage(
            import_path=obj["ImportPath"],
            name=obj.get("Name", ""),
            package_dir=package_dir,
            files=tuple(sorted(files)),
            deps=tuple(obj.get("Deps") or ()),
            error=error,
        )
    return packages


def _first_lines(stderr: bytes, limit: int = 40) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return "\n".join(lines[:limit]) + ("\n..." if len(lines) > limit else "")


@dataclass(frozen=True)
class GoListInputs:
    """The module's files as `go list` needs them: `.go` files cut to what it reads
    (`gosrc.source.list_stub`), other Go sources and module files whole, every other file
    (embedded data, kodata) empty (`go list` only matches their names). Edits to function
    bodies or data leave this digest, and so the listing, unchanged."""

    digest: Digest


_KEPT_WHOLE = {"go.mod", "go.sum", "go.work", "go.work.sum", "modules.txt"}


@rule(desc="Prepare the files go list reads", level=LogLevel.DEBUG)
async def go_list_inputs(sources: GoModuleSources) -> GoListInputs:
    snapshot = sources.snapshot
    go_files = [f for f in snapshot.files if f.endswith(".go")]
    contents = await Get(DigestContents, DigestSubset(snapshot.digest, PathGlobs(go_files)))
    files = [FileContent(fc.path, list_stub(fc.content)) for fc in contents]
    others = [f for f in snapshot.files if not f.endswith(".go")]
    whole = {f for f in others if posixpath.basename(f) in _KEPT_WHOLE or f.endswith(GO_SOURCE_EXTENSIONS)}
    files.extend(FileContent(f, b"") for f in others if f not in whole)
    stubs, kept = await MultiGet(
        Get(Digest, CreateDigest(files)), Get(Digest, DigestSubset(snapshot.digest, PathGlobs(sorted(whole))))
    )
    return GoListInputs(await Get(Digest, MergeDigests([stubs, kept])))


@rule(desc="List Go packages", level=LogLevel.DEBUG)
async def go_list(request: GoListRequest, go: GoToolchain) -> GoListing:
    module = request.module
    sources = await Get(GoModuleSources, GoModule, module)
    inputs = await Get(GoListInputs, GoModuleSources, sources)
    env = await Get(GoProcessEnv, GoEnvRequest(request.platform, request.cgo, request.build_env, module.vendored))
    result = await Get(
        FallibleProcessResult,
        GoProcess(
            go_process(
                go,
                ("list", "-e", "-deps", f"-json={GO_LIST_FIELDS}", *request.selection_flags, "./..."),
                module=module,
                env=env,
                input_digest=inputs.digest,
                description=f"go list {module.module_path} ({request.platform})",
            )
        ),
    )
    if result.exit_code != 0:
        raise KoError(
            f"`go list` failed in module {module.module_path} ({module.path('go.mod')}): {_first_lines(result.stderr)}"
        )
    return GoListing(FrozenDict(parse_go_list(result.stdout, module.root, module.module_path)))


# ---------------------------------------------------------------------------------------------
# The shared compile of the module's outside dependencies


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
    """Every package from outside the repository that a `package main` of the module imports,
    directly or not; the same for every binary of the module, so they share one compile."""
    packages = listing.packages
    external: set[str] = set()
    for package in packages.values():
        if package.package_dir is None or package.name != "main" or package.error:
            continue
        for dep in package.deps:
            info = packages.get(dep)
            if info is not None and info.package_dir is None and not info.error:
                external.add(dep)
    return tuple(sorted(external))


@rule(desc="Compile Go dependencies", level=LogLevel.DEBUG)
async def compile_go_dependencies(request: GoDependenciesRequest, go: GoToolchain) -> GoDependenciesCompiled:
    if not request.packages:
        return GoDependenciesCompiled(True)
    module = request.module
    # No sources: vendored packages and sibling modules are built with each binary.
    sources = await Get(GoModuleSources, GoModule, module)
    input_digest = await Get(Digest, DigestSubset(sources.snapshot.digest, PathGlobs(module.module_files)))
    env = await Get(GoProcessEnv, GoEnvRequest(request.platform, request.cgo, request.build_env, module.vendored))
    # Several packages and no -o: go compiles them into GOCACHE and writes nothing else.
    result = await Get(
        FallibleProcessResult,
        GoProcess(
            go_process(
                go,
                ("build", "-trimpath", *request.flags, *request.packages),
                module=module,
                env=env,
                input_digest=input_digest,
                description=f"Compile the Go dependencies of {module.module_path} ({request.platform})",
            )
        ),
    )
    return GoDependenciesCompiled(result.exit_code == 0)


# ---------------------------------------------------------------------------------------------
# go build


@dataclass(frozen=True)
class GoBuildRequest:
    module: GoModule
    import_path: str
    binary_name: str
    platform: Platform
    flags: tuple[str, ...]
    ldflags: tuple[str, ...]
    owner: str  # the target address, for messages
    # The targets whose transitive dependencies hold the build's files (the ko_image).
    roots: tuple[Address, ...]
    cgo: bool = False
    build_env: tuple[str, ...] = ()  # `NAME=VALUE` from .ko.yaml


@dataclass(frozen=True)
class BuiltGoBinary:
    digest: Digest  # holds exactly one file, `binary_path`
    binary_path: str


def check_build_flags(flags: tuple[str, ...], owner: str) -> None:
    for flag in flags:
        if flag.lstrip("-").split("=")[0] == "toolexec":
            raise KoError(
                f"{owner}: `{flag}` is not allowed in `flags` (as in ko): it would run arbitrary programs inside the build."
            )
        if flag.lstrip("-").split("=")[0] == "o":
            raise KoError(f"{owner}: `{flag}` in `flags`: the output path is chosen by the backend; remove it.")


async def _not_listed_reason(request: GoBuildRequest, sources: Snapshot) -> str:
    """Why `go list` has no package at the main import path: it is not in the module, or
    every one of its files is excluded for this build (build constraints, cgo)."""
    module = request.module
    not_in_module = (
        f"{request.owner}: package {request.import_path} is not in module {module.module_path} "
        f"({module.path('go.mod')}); check the `main` field."
    )
    package_dir = module.resolve(request.import_path)
    if package_dir is None:
        return not_in_module
    go_files = [f for f in compiled_go_files(sources.files) if posixpath.dirname(f) == package_dir]
    if not go_files:
        return not_in_module
    contents = await Get(DigestContents, DigestSubset(sources.digest, PathGlobs(go_files)))
    reasons = []
    uses_cgo = False
    for fc in sorted(contents, key=lambda fc: fc.path):
        header = read_header(fc.content)
        name = posixpath.basename(fc.path)
        if header.constraint_text:
            reasons.append(f"{name} has `{header.constraint_text}`")
        elif header.uses_cgo and not request.cgo:
            uses_cgo = True
            reasons.append(f'{name} imports "C" (cgo), and cgo is off')
        else:
            reasons.append(f"{name} is excluded by its file name")
    fixes = ["build for a platform its constraints allow (`platforms`)", "pass the tags it needs in `flags`"]
    if uses_cgo:
        fixes.insert(0, "set `cgo=True` on the ko_image (with a base image that has libc)")
    fix = ", or ".join(fixes)
    return (
        f"{request.owner}: package {request.import_path} has no Go file to build for {request.platform}"
        f"{'' if request.cgo else ' (cgo off)'}: {'; '.join(reasons)}. {fix[0].upper()}{fix[1:]}."
    )


@rule(desc="Build a Go binary", level=LogLevel.DEBUG)
async def go_build(request: GoBuildRequest, go: GoToolchain, ko: KoSubsystem) -> BuiltGoBinary:
    check_build_flags(request.flags, request.owner)
    module = request.module
    listing = await Get(
        GoListing,
        GoListRequest(module, request.platform, selection_flags_of(request.flags), request.cgo, request.build_env),
    )
    sources = await Get(DependencySources, DependencySourcesRequest(request.roots))
    main = listing.packages.get(request.import_path)
    if main is None:
        raise KoError(await _not_listed_reason(request, sources.snapshot))
    if main.error:
        raise KoError(f"{request.owner}: {main.error.strip()}")
    if main.name != "main":
        raise KoError(
            f"{request.owner}: {request.import_path} is `package {main.name}`, not `package main`; "
            "a ko_image builds a command: point `main` at a folder with `package main`."
        )
    needed: dict[str, str] = {f: request.import_path for f in main.files}
    for dep in main.deps:
        package = listing.packages.get(dep)
        if package is not None and package.package_dir is not None:
            needed.update({f: dep for f in package.files})
    available = set(sources.snapshot.files)
    missing = sorted(f for f in needed if f not in available)
    if missing:
        roots = " ".join(str(r) for r in request.roots)
        raise KoError(
            f"{request.owner}: go build {request.import_path} needs {missing[0]} (package {needed[missing[0]]})"
            f"{f' and {len(missing) - 1} more files' if len(missing) > 1 else ''}, which is not among the files of "
            f"its dependencies (`pants dependencies --transitive {roots}`): add the target owning it to "
            "`dependencies`, or remove the `!` that excludes it."
        )
    # Warm GOCACHE with the dependencies first (one compile shared by every binary).
    await Get(
        GoDependenciesCompiled,
        GoDependenciesRequest(
            module, request.platform, request.flags, request.cgo, request.build_env, external_dependencies(listing)
        ),
    )
    inputs = sorted(needed) + [f for f in module.module_files if f in available]
    input_digest = await Get(Digest, DigestSubset(sources.snapshot.digest, PathGlobs(inputs)))
    env = await Get(GoProcessEnv, GoEnvRequest(request.platform, request.cgo, request.build_env, module.vendored))
    out = f"__ko_out/{request.binary_name}"
    argv = ["build", "-trimpath"]
    if ko.strip_vcs_info:
        argv.append("-buildvcs=false")
    argv.extend(request.flags)
    if request.ldflags:
        argv.append("-ldflags=" + " ".join(request.ldflags))
    argv.extend(["-o", output_path(module, out), request.import_path])
    result = await Get(
        FallibleProcessResult,
        GoProcess(
            go_process(
                go,
                tuple(argv),
                module=module,
                env=env,
                input_digest=input_digest,
                description=f"go build {request.import_path} ({request.platform}) for {request.owner}",
                output_files=(out,),
            )
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
