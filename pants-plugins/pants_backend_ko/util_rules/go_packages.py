"""Go packages as targets: which target owns a folder's Go package or a set of files, and what a
`ko_go_package`'s files say (package name, imports, `//go:embed` files).

The analysis reads the files of the target's own `sources` with `gosrc.source` (Go's header
reader) in the engine: it is keyed by their digest and re-runs only when they change.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from pants.base.specs import AncestorGlobSpec, RawSpecsWithoutFileOwners
from pants.engine.addresses import Address
from pants.engine.fs import Digest, DigestContents, DigestSubset, GlobMatchErrorBehavior, PathGlobs, Paths
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import (
    HydratedSources,
    HydrateSourcesRequest,
    SourcesField,
    SourcesPaths,
    SourcesPathsRequest,
    Targets,
)
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from pants_backend_ko.gosrc.source import GO_SOURCE_EXTENSIONS, GoFileHeader, ignored_by_go, read_header
from pants_backend_ko.target_types import KoGoPackageSourcesField


@dataclass(frozen=True)
class FileOwnersRequest:
    files: tuple[str, ...]


@dataclass(frozen=True)
class FileOwners:
    """The targets owning each of the requested files (a file no target owns is absent)."""

    by_file: FrozenDict[str, tuple[Address, ...]]
    aliases: FrozenDict[Address, str]  # the target type of every owner

    def unowned(self, files) -> list[str]:
        return [f for f in files if f not in self.by_file]

    def of_alias(self, alias: str) -> set[Address]:
        return {a for owners in self.by_file.values() for a in owners if self.aliases[a] == alias}


@rule(desc="Find the owners of files", level=LogLevel.DEBUG)
async def find_file_owners(request: FileOwnersRequest) -> FileOwners:
    if not request.files:
        return FileOwners(FrozenDict(), FrozenDict())
    # As Pants' own owner lookup: the targets of each file's folder and the folders above it.
    folders = sorted({posixpath.dirname(f) for f in request.files})
    targets = await Get(
        Targets,
        RawSpecsWithoutFileOwners(
            ancestor_globs=tuple(AncestorGlobSpec(directory=d) for d in folders),
            description_of_origin="the ko backend's owner lookup",
            unmatched_glob_behavior=GlobMatchErrorBehavior.ignore,
        ),
    )
    with_sources = [t for t in targets if t.has_field(SourcesField)]
    paths = await MultiGet(Get(SourcesPaths, SourcesPathsRequest(t[SourcesField])) for t in with_sources)
    wanted = set(request.files)
    by_file: dict[str, list[Address]] = {}
    aliases = {}
    for target, owned in zip(with_sources, paths):
        for path in set(owned.files) & wanted:
            by_file.setdefault(path, []).append(target.address)
            aliases[target.address] = target.alias
    return FileOwners(
        FrozenDict({path: tuple(sorted(addresses)) for path, addresses in sorted(by_file.items())}),
        FrozenDict(aliases),
    )


def _go_source_globs(package_dir: str) -> list[str]:
    prefix = f"{package_dir}/" if package_dir else ""
    return [f"{prefix}*{ext}" for ext in GO_SOURCE_EXTENSIONS]


def compiled_go_files(paths) -> list[str]:
    """The `.go` files Go may compile for a package (tests and `_`/`.` names left out)."""
    return sorted(
        p
        for p in paths
        if p.endswith(".go") and not p.endswith("_test.go") and not ignored_by_go(posixpath.basename(p))
    )


@dataclass(frozen=True)
class GoPackageOwnerRequest:
    package_dir: str


@dataclass(frozen=True)
class GoPackageOwner:
    """The `ko_go_package` target of a folder: `address` None and `problem` None when the folder
    has no Go files (no package: Go reports the import), `problem` when it cannot be chosen."""

    package_dir: str
    address: Address | None
    problem: str | None = None


@rule(desc="Find the ko_go_package of a folder", level=LogLevel.DEBUG)
async def find_go_package_owner(request: GoPackageOwnerRequest) -> GoPackageOwner:
    folder = request.package_dir
    paths = await Get(Paths, PathGlobs(_go_source_globs(folder)))
    go_files = compiled_go_files(paths.files)
    if not go_files:
        return GoPackageOwner(folder, None)
    owners = await Get(FileOwners, FileOwnersRequest(tuple(go_files)))
    packages = sorted(owners.of_alias("ko_go_package"))
    build_file = posixpath.join(folder, "BUILD") if folder else "BUILD"
    if not packages:
        others = sorted({a for f in go_files for a in owners.by_file.get(f, ())})
        also = f" (it is owned only by {', '.join(map(str, others))})" if others else ""
        return GoPackageOwner(
            folder,
            None,
            f"no ko_go_package target owns the Go package in {folder or '.'}/{also}: add `ko_go_package()` "
            f"to {build_file}, or run `pants tailor ::`.",
        )
    if len(packages) > 1:
        return GoPackageOwner(
            folder,
            None,
            f"the Go package in {folder or '.'}/ is in {len(packages)} ko_go_package targets "
            f"({', '.join(map(str, packages))}); a package must be in one: remove its files from the "
            "`sources` of all but one.",
        )
    address = packages[0]
    unowned = [f for f in go_files if address not in owners.by_file.get(f, ())]
    if unowned:
        return GoPackageOwner(
            folder,
            None,
            f"{unowned[0]} is part of the Go package in {folder or '.'}/ but not in the `sources` of "
            f"{address}; add it there.",
        )
    return GoPackageOwner(folder, address)


@dataclass(frozen=True)
class GoPackageAnalysisRequest:
    address: Address
    sources: KoGoPackageSourcesField


@dataclass(frozen=True)
class GoPackageAnalysis:
    """What the files of one `ko_go_package` say, as Go's package loader reads them."""

    address: Address
    package_dir: str  # the folder of its Go files (the BUILD file's folder when it has none)
    headers: FrozenDict[str, GoFileHeader]  # every compiled-candidate `.go` file, by path
    # (import path, first file importing it) of every file some build compiles, "C" left out.
    imports: tuple[tuple[str, str], ...]
    # (pattern, file declaring it) of every `//go:embed` pattern.
    embeds: tuple[tuple[str, str], ...]
    problem: str | None = None  # e.g. Go files in several folders


@rule(desc="Read the imports of a ko_go_package", level=LogLevel.DEBUG)
async def analyze_go_package(request: GoPackageAnalysisRequest) -> GoPackageAnalysis:
    hydrated = await Get(HydratedSources, HydrateSourcesRequest(request.sources))
    go_files = compiled_go_files(hydrated.snapshot.files)
    folders = sorted({posixpath.dirname(f) for f in go_files})
    if len(folders) > 1:
        return GoPackageAnalysis(
            request.address,
            folders[0],
            FrozenDict(),
            (),
            (),
            problem=(
                f"{request.address} has Go files in {len(folders)} folders ({', '.join(f or '.' for f in folders)}); "
                "a Go package is one folder: give each folder its own ko_go_package."
            ),
        )
    package_dir = folders[0] if folders else request.address.spec_path
    subset = await Get(Digest, DigestSubset(hydrated.snapshot.digest, PathGlobs(go_files)))
    contents = await Get(DigestContents, Digest, subset)
    headers = {fc.path: read_header(fc.content) for fc in contents}
    imports: dict[str, str] = {}
    embeds: dict[str, str] = {}
    for path in sorted(headers):
        header = headers[path]
        if not header.buildable_somewhere():
            continue  # `//go:build ignore` and the like: never part of the package
        for imported in header.imports:
            if imported != "C":
                imports.setdefault(imported, path)
        for pattern in header.embed_patterns:
            embeds.setdefault(pattern, path)
    return GoPackageAnalysis(
        request.address,
        package_dir,
        FrozenDict(headers),
        tuple(sorted(imports.items())),
        tuple(sorted(embeds.items())),
    )


@dataclass(frozen=True)
class EmbeddedFilesRequest:
    package_dir: str
    patterns: tuple[str, ...]


@dataclass(frozen=True)
class EmbeddedFiles:
    files: tuple[tuple[str, str], ...]  # (repository path, pattern that names it)


def _hidden_below(path: str, folder: str) -> bool:
    rel = path[len(folder) + 1 :] if folder else path
    return any(part.startswith((".", "_")) for part in rel.split("/"))


@rule(desc="Find the files of //go:embed patterns", level=LogLevel.DEBUG)
async def find_embedded_files(request: EmbeddedFilesRequest) -> EmbeddedFiles:
    """The files Go embeds for each pattern (cmd/go/internal/load `resolveEmbed`): the files it
    matches, and every file below a folder it matches except names starting with `.` or `_`
    (unless the pattern starts with `all:`)."""
    prefix = f"{request.package_dir}/" if request.package_dir else ""
    patterns = [(p, p[len("all:") :] if p.startswith("all:") else p) for p in request.patterns]
    matched = await MultiGet(Get(Paths, PathGlobs([prefix + glob])) for _, glob in patterns)
    below = await MultiGet(Get(Paths, PathGlobs([f"{d}/**" for d in m.dirs])) for m in matched)
    files: dict[str, str] = {}
    for (pattern, _), direct, nested in zip(patterns, matched, below):
        for path in direct.files:
            files.setdefault(path, pattern)
        for path in nested.files:
            folder = next((d for d in direct.dirs if path.startswith(d + "/")), "")
            if pattern.startswith("all:") or not _hidden_below(path, folder):
                files.setdefault(path, pattern)
    return EmbeddedFiles(tuple(sorted(files.items())))


def rules():
    return collect_rules()
