"""Dependency inference for Go: what `--changed-since`, `dependents` and `filedeps` follow.

- `ko_go_package` -> the `ko_go_package` of every repository package it imports (resolved as
  `go` resolves it from the package's module: its own path, local `replace`s, go.work), the
  targets owning its `//go:embed` files, and its `ko_go_module`;
- `ko_go_module` -> the `ko_go_module` of every folder its `replace`s point at;
- `ko_go_work` -> the `ko_go_module` of every `use`d and replaced folder;
- `ko_image` -> the `ko_go_package` of `main` and of each of `binaries`, the owners of its
  `kodata` files, its `ko_go_module` and `ko_go_work`.

Third-party modules are the module's go.mod/go.sum: a change there reaches every image of it.
An import of a repository package no target owns, a package in two targets, an embedded or
kodata file no target owns: one line naming the file and the fix.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from pants.engine.addresses import Address
from pants.engine.fs import DigestContents, PathGlobs, Paths
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import (
    FieldSet,
    HydratedSources,
    HydrateSourcesRequest,
    InferDependenciesRequest,
    InferredDependencies,
)
from pants.engine.unions import UnionRule
from pants.util.logging import LogLevel

from pants_backend_ko.errors import KoError
from pants_backend_ko.gosrc.modfile import ModFileError, parse_work
from pants_backend_ko.target_types import (
    KoBinariesField,
    KoDataField,
    KoGoModuleSourcesField,
    KoGoPackageSourcesField,
    KoGoWorkSourcesField,
    KoMainField,
    kodata_folder,
)
from pants_backend_ko.util_rules.go_module import GoModule, GoModuleAt, GoModuleRequest
from pants_backend_ko.util_rules.go_packages import (
    EmbeddedFiles,
    EmbeddedFilesRequest,
    FileOwners,
    FileOwnersRequest,
    GoPackageAnalysis,
    GoPackageAnalysisRequest,
    GoPackageOwner,
    GoPackageOwnerRequest,
)


def _build_file(folder: str) -> str:
    return posixpath.join(folder, "BUILD") if folder else "BUILD"


async def _single_owner(path: str, alias: str, fix: str) -> Address | None:
    """The one `alias` target owning `path`; None when the file does not exist."""
    paths = await Get(Paths, PathGlobs([path]))
    if not paths.files:
        return None
    owners = await Get(FileOwners, FileOwnersRequest((path,)))
    found = sorted(owners.of_alias(alias))
    if not found:
        raise KoError(f"{path} is not owned by a {alias} target: {fix}")
    if len(found) > 1:
        raise KoError(f"{path} is in {len(found)} {alias} targets ({', '.join(map(str, found))}); keep one.")
    return found[0]


async def module_target(module: GoModule) -> Address | None:
    return await _single_owner(
        module.path("go.mod"),
        "ko_go_module",
        f'add `ko_go_module(name="mod")` to {_build_file(module.root)}, or run `pants tailor ::`.',
    )


async def module_targets_at(folders, exclude: Address) -> InferredDependencies:
    """The `ko_go_module` targets of modules in `folders` (less `exclude`, the asking target)."""
    include: set[Address] = set()
    for folder in folders:
        target = await module_target(await Get(GoModule, GoModuleAt(folder)))
        if target is not None:
            include.add(target)
    include.discard(exclude)
    return InferredDependencies(sorted(include))


async def work_target(module: GoModule) -> Address | None:
    if not module.work_file:
        return None
    return await _single_owner(
        module.work_file,
        "ko_go_work",
        f'add `ko_go_work(name="work")` to {_build_file(posixpath.dirname(module.work_file))}, or run `pants tailor ::`.',
    )


async def owners_of_files(files: list[str], fix_for) -> set[Address]:
    """Every target owning one of `files`; a file none owns is an error (`fix_for(file)`)."""
    if not files:
        return set()
    owners = await Get(FileOwners, FileOwnersRequest(tuple(files)))
    unowned = owners.unowned(files)
    if unowned:
        raise KoError(fix_for(unowned[0], len(unowned)))
    return {a for f in files for a in owners.by_file[f]}


# ---------------------------------------------------------------------------------------------
# ko_go_package


@dataclass(frozen=True)
class KoGoPackageInferenceFieldSet(FieldSet):
    required_fields = (KoGoPackageSourcesField,)

    sources: KoGoPackageSourcesField


class InferKoGoPackageDependencies(InferDependenciesRequest):
    infer_from = KoGoPackageInferenceFieldSet


@rule(desc="Infer ko_go_package dependencies", level=LogLevel.DEBUG)
async def infer_go_package_dependencies(request: InferKoGoPackageDependencies) -> InferredDependencies:
    address = request.field_set.address
    analysis = await Get(GoPackageAnalysis, GoPackageAnalysisRequest(address, request.field_set.sources))
    if analysis.problem:
        raise KoError(analysis.problem)
    if not analysis.headers:
        return InferredDependencies([])
    module = await Get(GoModule, GoModuleRequest(analysis.package_dir))
    found = [(imported, path, module.resolve(imported)) for imported, path in analysis.imports]
    local = [(imported, path, folder) for imported, path, folder in found if folder is not None]
    owners = await MultiGet(Get(GoPackageOwner, GoPackageOwnerRequest(folder)) for _, _, folder in local)
    include: set[Address] = set()
    for (imported, path, _), owner in zip(local, owners):
        if owner.problem:
            raise KoError(f"{path} imports {imported}: {owner.problem}")
        if owner.address is not None and owner.address != address:
            include.add(owner.address)
    mod = await module_target(module)
    if mod is not None:
        include.add(mod)
    if analysis.embeds:
        embedded = await Get(
            EmbeddedFiles, EmbeddedFilesRequest(analysis.package_dir, tuple(p for p, _ in analysis.embeds))
        )
        declared_in = dict(analysis.embeds)
        patterns = dict(embedded.files)

        def embed_fix(path: str, count: int) -> str:
            pattern = patterns[path]
            more = f" (and {count - 1} more)" if count > 1 else ""
            return (
                f"{declared_in[pattern]}: `//go:embed {pattern}` names {path}{more}, which no target owns: "
                f"add it to the `sources` of {address} (e.g. {posixpath.relpath(path, address.spec_path or '.')!r}), "
                "or to another target."
            )

        include |= await owners_of_files([f for f, _ in embedded.files], embed_fix)
    include.discard(address)
    return InferredDependencies(sorted(include))


# ---------------------------------------------------------------------------------------------
# ko_go_module and ko_go_work


@dataclass(frozen=True)
class KoGoModuleInferenceFieldSet(FieldSet):
    required_fields = (KoGoModuleSourcesField,)

    sources: KoGoModuleSourcesField


class InferKoGoModuleDependencies(InferDependenciesRequest):
    infer_from = KoGoModuleInferenceFieldSet


@rule(desc="Infer ko_go_module dependencies", level=LogLevel.DEBUG)
async def infer_go_module_dependencies(request: InferKoGoModuleDependencies) -> InferredDependencies:
    hydrated = await Get(HydratedSources, HydrateSourcesRequest(request.field_set.sources))
    go_mods = [f for f in hydrated.snapshot.files if posixpath.basename(f) == "go.mod"]
    folders: list[str] = []
    for go_mod in go_mods:
        module = await Get(GoModule, GoModuleAt(posixpath.dirname(go_mod)))
        folders.extend(module.replaced_dirs)
    return await module_targets_at(folders, request.field_set.address)


@dataclass(frozen=True)
class KoGoWorkInferenceFieldSet(FieldSet):
    required_fields = (KoGoWorkSourcesField,)

    sources: KoGoWorkSourcesField


class InferKoGoWorkDependencies(InferDependenciesRequest):
    infer_from = KoGoWorkInferenceFieldSet


@rule(desc="Infer ko_go_work dependencies", level=LogLevel.DEBUG)
async def infer_go_work_dependencies(request: InferKoGoWorkDependencies) -> InferredDependencies:
    hydrated = await Get(HydratedSources, HydrateSourcesRequest(request.field_set.sources))
    contents = await Get(DigestContents, PathGlobs([f for f in hydrated.snapshot.files if f.endswith("go.work")]))
    folders: list[str] = []
    for fc in contents:
        try:
            work = parse_work(fc.content.decode("utf-8", "replace"), fc.path)
        except ModFileError as e:
            raise KoError(str(e)) from None
        if not work.uses:
            continue
        # A module of the workspace knows every folder the workspace puts in its builds.
        use_dir = posixpath.normpath(posixpath.join(posixpath.dirname(fc.path), work.uses[0].path))
        module = await Get(GoModule, GoModuleAt("" if use_dir == "." else use_dir))
        folders.extend(folder for _, folder in module.local_modules)
    return await module_targets_at(folders, request.field_set.address)


# ---------------------------------------------------------------------------------------------
# ko_image


@dataclass(frozen=True)
class KoImageInferenceFieldSet(FieldSet):
    required_fields = (KoMainField,)

    main: KoMainField
    binaries: KoBinariesField
    kodata: KoDataField


class InferKoImageDependencies(InferDependenciesRequest):
    infer_from = KoImageInferenceFieldSet


def _folder(spec_path: str, rel: str) -> str:
    folder = posixpath.normpath(posixpath.join(spec_path, rel))
    return "" if folder == "." else folder


@rule(desc="Infer ko_image dependencies", level=LogLevel.DEBUG)
async def infer_ko_image_dependencies(request: InferKoImageDependencies) -> InferredDependencies:
    field_set = request.field_set
    address = field_set.address
    main_dir = _folder(address.spec_path, field_set.main.value or ".")
    if main_dir.startswith(".."):
        return InferredDependencies([])  # reported by the build, with the field to fix
    package_dirs = [("main", main_dir)] + [
        (f"binaries entry {rel!r}", _folder(address.spec_path, rel)) for rel in field_set.binaries.value or ()
    ]
    owners = await MultiGet(Get(GoPackageOwner, GoPackageOwnerRequest(folder)) for _, folder in package_dirs)
    include: set[Address] = set()
    for (what, _), owner in zip(package_dirs, owners):
        if owner.problem:
            raise KoError(f"{address}: the `{what}` package: {owner.problem}")
        if owner.address is not None:
            include.add(owner.address)
    module = await Get(GoModule, GoModuleRequest(main_dir))
    for target in (await module_target(module), await work_target(module)):
        if target is not None:
            include.add(target)
    # A folder outside the image's own folders is refused by the build, with the field to fix.
    kodata_dir = kodata_folder(address.spec_path, main_dir, field_set.kodata.value)
    if kodata_dir is not None:
        kodata = await Get(Paths, PathGlobs([f"{kodata_dir}/**" if kodata_dir else "**"]))

        folder: str = kodata_dir

        def kodata_fix(path: str, count: int) -> str:
            more = f" (and {count - 1} more)" if count > 1 else ""
            rel = posixpath.relpath(folder, main_dir or ".")
            sources = "" if rel == "kodata" else f", sources=[{rel + '/**'!r}]"
            return (
                f"{address}: the kodata file {path}{more} is not owned by any target: add "
                f'`ko_kodata(name="kodata"{sources})` to {_build_file(main_dir)}, or run `pants tailor ::`.'
            )

        include |= await owners_of_files(list(kodata.files), kodata_fix)
    include.discard(address)
    return InferredDependencies(sorted(include))


def rules():
    return [
        *collect_rules(),
        UnionRule(InferDependenciesRequest, InferKoGoPackageDependencies),
        UnionRule(InferDependenciesRequest, InferKoGoModuleDependencies),
        UnionRule(InferDependenciesRequest, InferKoGoWorkDependencies),
        UnionRule(InferDependenciesRequest, InferKoImageDependencies),
    ]
