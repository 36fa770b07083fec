"""`pants tailor`: every target a ko-style Go repository needs, where none exists yet.

- `ko_go_module` beside every go.mod and `ko_go_work` beside every go.work;
- `ko_go_package` in every folder of a module with Go files (not `testdata`, `vendor`, `_x`,
  `.x`), its `sources` extended by the globs of its `//go:embed` files that no target owns;
- `ko_image` next to every `package main` without one, and `ko_kodata` for the files of each
  image's kodata folder that no target owns;
- `ko_manifests(name="apply")` next to YAML/JSON that contains `ko://` and is not owned yet.

A Go file counts as owned only by a `ko_go_package` (go.mod by a `ko_go_module`, go.work by a
`ko_go_work`): Pants' own `go_package`/`go_mod` cannot be read by this backend.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass

from pants.core.goals.tailor import (
    AllOwnedSources,
    PutativeTarget,
    PutativeTargets,
    PutativeTargetsRequest,
)
from pants.engine.fs import DigestContents, PathGlobs, Paths
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import AllTargets, SourcesField, SourcesPaths, SourcesPathsRequest
from pants.engine.unions import UnionRule
from pants.util.logging import LogLevel

from pants_backend_ko.gosrc.source import GO_SOURCE_EXTENSIONS, ignored_by_go, ignored_directory, read_header
from pants_backend_ko.subsystems import KoSubsystem
from pants_backend_ko.target_types import (
    KoDataField,
    KoGoModuleTarget,
    KoGoPackageTarget,
    KoGoWorkTarget,
    KoImageTarget,
    KoKodataSourcesField,
    KoKodataTarget,
    KoMainField,
    KoManifestsTarget,
)
from pants_backend_ko.util_rules.go_packages import EmbeddedFiles, EmbeddedFilesRequest, compiled_go_files


def package_dir_of(spec_path: str, main: str | None) -> str:
    directory = posixpath.normpath(posixpath.join(spec_path, main or "."))
    return "" if directory == "." else directory


def module_root_of(directory: str, module_roots: set[str]) -> str | None:
    parts = directory.split("/") if directory else []
    for i in range(len(parts), -1, -1):
        candidate = "/".join(parts[:i])
        if candidate in module_roots:
            return candidate
    return None


def go_package_folder(directory: str, module_roots: set[str]) -> bool:
    """Whether `go build ./...` in the enclosing module would look at this folder's files."""
    root = module_root_of(directory, module_roots)
    if root is None:
        return False
    rel = directory[len(root) :].lstrip("/")
    parts = rel.split("/") if rel else []
    return not (parts[:1] == ["vendor"] or any(ignored_directory(p) for p in parts))


@dataclass(frozen=True)
class PutativeKoTargetsRequest(PutativeTargetsRequest):
    pass


def _build_file_names(all_targets: AllTargets) -> dict[str, set[str]]:
    names: dict[str, set[str]] = {}
    for t in all_targets:
        names.setdefault(t.address.spec_path, set()).add(t.address.target_name)
    return names


async def _owned_by(all_targets: AllTargets, *aliases: str) -> set[str]:
    targets = [t for t in all_targets if t.alias in aliases and t.has_field(SourcesField)]
    paths = await MultiGet(Get(SourcesPaths, SourcesPathsRequest(t[SourcesField])) for t in targets)
    return {f for p in paths for f in p.files}


def _embed_globs(package_dir: str, files: list[tuple[str, str]]) -> list[str]:
    """Source globs (relative to the package folder) covering the given embedded files."""
    globs: list[str] = []
    prefix = f"{package_dir}/" if package_dir else ""
    by_pattern: dict[str, list[str]] = {}
    for path, pattern in files:
        by_pattern.setdefault(pattern, []).append(path)
    for pattern, paths in sorted(by_pattern.items()):
        glob = pattern[len("all:") :] if pattern.startswith("all:") else pattern
        direct = all(posixpath.dirname(p[len(prefix) :]) == posixpath.dirname(glob) for p in paths)
        globs.append(glob if direct else f"{glob}/**")
    return globs


@rule(desc="Find Go code, main packages and ko:// YAML without ko targets", level=LogLevel.DEBUG)
async def find_putative_ko_targets(
    request: PutativeKoTargetsRequest,
    all_owned_sources: AllOwnedSources,
    all_targets: AllTargets,
    ko: KoSubsystem,
) -> PutativeTargets:
    if not ko.tailor:
        return PutativeTargets()
    putative: list[PutativeTarget] = []
    names_in = _build_file_names(all_targets)

    def take_name(directory: str, preferred: str | None, fallback: str) -> str | None:
        """`preferred` (None: the folder's name, Pants' default) unless taken, else `fallback`."""
        taken = names_in.setdefault(directory, set())
        default = preferred or posixpath.basename(directory)
        chosen = default if directory and default not in taken else fallback
        taken.add(chosen)
        return None if preferred is None and chosen == default else chosen

    # Modules and workspaces.
    go_mods = await Get(Paths, PathGlobs(["**/go.mod"]))
    module_roots = {posixpath.dirname(p) for p in go_mods.files}
    owned_mod_files = await _owned_by(all_targets, KoGoModuleTarget.alias, KoGoWorkTarget.alias)
    for_module_files = await Get(Paths, PathGlobs, request.path_globs("go.mod", "go.work"))
    for path in sorted(for_module_files.files):
        if path in owned_mod_files:
            continue
        directory, name = posixpath.dirname(path), posixpath.basename(path)
        target_type = KoGoModuleTarget if name == "go.mod" else KoGoWorkTarget
        short = "mod" if name == "go.mod" else "work"
        putative.append(
            PutativeTarget.for_target_type(
                target_type,
                path=directory,
                name=take_name(directory, short, short),
                triggering_sources=(name,),
                comments=[f"# The Go {'module' if short == 'mod' else 'workspace'}: {name} and what belongs to it."],
            )
        )

    # Images: one per `package main` folder without one.
    images = [t for t in all_targets if isinstance(t, KoImageTarget)]
    images_at = {package_dir_of(t.address.spec_path, t[KoMainField].value) for t in images}
    go_globs = [f"*{ext}" for ext in GO_SOURCE_EXTENSIONS]
    go_paths = await Get(Paths, PathGlobs, request.path_globs(*go_globs))
    go_contents = await Get(DigestContents, PathGlobs(compiled_go_files(go_paths.files)))
    headers = {fc.path: read_header(fc.content) for fc in go_contents}
    by_dir: dict[str, list[str]] = {}
    for path in go_paths.files:
        directory = posixpath.dirname(path)
        if go_package_folder(directory, module_roots) and not ignored_by_go(posixpath.basename(path)):
            by_dir.setdefault(directory, []).append(path)
    main_dirs = sorted(
        d
        for d, paths in by_dir.items()
        if any(headers[p].package == "main" and headers[p].buildable_somewhere() for p in paths if p in headers)
    )
    new_images: list[tuple[str, str]] = []  # (folder, kodata folder name)
    for directory in main_dirs:
        if directory in images_at:
            continue
        files = sorted(
            posixpath.basename(p) for p in by_dir[directory] if p in headers and headers[p].package == "main"
        )
        name = posixpath.basename(directory) or "image"
        names_in.setdefault(directory, set()).add(name)
        putative.append(
            PutativeTarget.for_target_type(
                KoImageTarget,
                path=directory,
                name=name,
                # ko_image has no sources field: its Go files are its ko_go_package's.
                triggering_sources=(),
                comments=[f"# Builds the `package main` of {', '.join(files)} into an OCI image."],
            )
        )
        new_images.append((directory, KoDataField.default))

    # kodata of every image (existing or new) that no target owns.
    kodata_of = [
        (package_dir_of(t.address.spec_path, t[KoMainField].value), t[KoDataField].value or KoDataField.default)
        for t in images
    ] + new_images
    will_own: set[str] = set()
    kodata_paths = await MultiGet(
        Get(Paths, PathGlobs([posixpath.join(main, kodata, "**")])) for main, kodata in kodata_of
    )
    for (main, kodata), paths in zip(kodata_of, kodata_paths):
        unowned = [p for p in paths.files if p not in all_owned_sources and p not in will_own]
        kodata_rel = posixpath.normpath(kodata)
        if not unowned or kodata_rel.startswith(".."):
            continue
        will_own.update(unowned)
        glob = f"{kodata_rel}/**"
        putative.append(
            PutativeTarget.for_target_type(
                KoKodataTarget,
                path=main,
                name=take_name(main, "kodata", "kodata_files"),
                triggering_sources=tuple(posixpath.relpath(p, main or ".") for p in unowned),
                kwargs={} if (glob,) == KoKodataSourcesField.default else {"sources": (glob,)},
                comments=["# Files the image copies to /var/run/ko ($KO_DATA_PATH)."],
            )
        )

    # Packages: every folder of a module with Go files no ko_go_package owns.
    owned_go = await _owned_by(all_targets, KoGoPackageTarget.alias)
    package_dirs = sorted(d for d, paths in by_dir.items() if any(p not in owned_go for p in paths))
    embeds_wanted = []
    for directory in package_dirs:
        patterns = sorted(
            {
                pattern
                for p in by_dir[directory]
                if p in headers and not p.endswith("_test.go") and headers[p].buildable_somewhere()
                for pattern in headers[p].embed_patterns
            }
        )
        embeds_wanted.append(EmbeddedFilesRequest(directory, tuple(patterns)))
    embedded = await MultiGet(Get(EmbeddedFiles, EmbeddedFilesRequest, r) for r in embeds_wanted)
    for directory, embeds in zip(package_dirs, embedded):
        files = [p for p in by_dir[directory] if p not in owned_go]
        unowned_embeds = [(p, pat) for p, pat in embeds.files if p not in all_owned_sources and p not in will_own]
        kwargs = {}
        if unowned_embeds:
            extensions = sorted({os.path.splitext(p)[1] for p in by_dir[directory]})
            kwargs["sources"] = tuple(f"*{ext}" for ext in extensions) + tuple(_embed_globs(directory, unowned_embeds))
        kind = "`package main`" if directory in main_dirs else "Go package"
        putative.append(
            PutativeTarget.for_target_type(
                KoGoPackageTarget,
                path=directory,
                name=take_name(directory, None, "pkg"),
                triggering_sources=tuple(sorted(posixpath.basename(p) for p in files)),
                kwargs=kwargs,
                comments=[f"# The {kind} in this folder; images depend on the packages they import."],
            )
        )

    # Manifests.
    yaml_files = await Get(DigestContents, PathGlobs, request.path_globs("*.yaml", "*.yml", "*.json"))
    unowned_yaml = sorted(fc.path for fc in yaml_files if fc.path not in all_owned_sources and b"ko://" in fc.content)
    yaml_by_dir: dict[str, list[str]] = {}
    for path in unowned_yaml:
        yaml_by_dir.setdefault(posixpath.dirname(path), []).append(posixpath.basename(path))
    for directory, files in yaml_by_dir.items():
        putative.append(
            PutativeTarget.for_target_type(
                KoManifestsTarget,
                path=directory,
                name="apply",
                triggering_sources=files,
                comments=["# `pants run <dir>:apply` pushes the images it needs and runs kubectl apply."],
            )
        )
    return PutativeTargets(putative)


def rules():
    return [*collect_rules(), UnionRule(PutativeTargetsRequest, PutativeKoTargetsRequest)]
