"""`pants tailor`: a `ko_image` next to every `package main` of a Go module that has none, and a
`ko_manifests` target next to YAML/JSON that contains `ko://` and is not owned yet."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from pants.core.goals.tailor import (
    AllOwnedSources,
    PutativeTarget,
    PutativeTargets,
    PutativeTargetsRequest,
)
from pants.engine.fs import DigestContents, PathGlobs, Paths
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import AllTargets
from pants.engine.unions import UnionRule
from pants.util.logging import LogLevel

from pants_backend_ko.subsystems import KoSubsystem
from pants_backend_ko.target_types import KoImageTarget, KoMainField, KoManifestsTarget

# The package clause, after any comments and build constraints at the top of a file.
_PACKAGE_CLAUSE = re.compile(r"^\s*package\s+([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)
_IGNORED_BUILD = re.compile(r"^//go:build\s+ignore\s*$", re.MULTILINE)


def package_name(source: str) -> str | None:
    """The Go package name of a file, skipping comments; None for `//go:build ignore` files."""
    if _IGNORED_BUILD.search(source):
        return None
    without_block_comments = re.sub(r"/\*.*?\*/", "", source, flags=re.DOTALL)
    without_line_comments = re.sub(r"//[^\n]*", "", without_block_comments)
    match = _PACKAGE_CLAUSE.search(without_line_comments)
    return match.group(1) if match else None


def package_dir_of(spec_path: str, main: str | None) -> str:
    directory = os.path.normpath(os.path.join(spec_path, main or "."))
    return "" if directory == "." else directory


def in_module(directory: str, module_roots: set[str]) -> bool:
    parts = directory.split("/") if directory else []
    return any("/".join(parts[:i]) in module_roots for i in range(len(parts), -1, -1))


@dataclass(frozen=True)
class PutativeKoTargetsRequest(PutativeTargetsRequest):
    pass


@rule(desc="Find Go main packages and ko:// YAML without ko targets", level=LogLevel.DEBUG)
async def find_putative_ko_targets(
    request: PutativeKoTargetsRequest,
    all_owned_sources: AllOwnedSources,
    all_targets: AllTargets,
    ko: KoSubsystem,
) -> PutativeTargets:
    if not ko.tailor:
        return PutativeTargets()
    putative: list[PutativeTarget] = []

    go_mods = await Get(Paths, PathGlobs(["**/go.mod"]))
    module_roots = {os.path.dirname(p) for p in go_mods.files}
    images_at = {
        package_dir_of(t.address.spec_path, t[KoMainField].value) for t in all_targets if isinstance(t, KoImageTarget)
    }
    go_files = await Get(DigestContents, PathGlobs, request.path_globs("*.go"))
    main_dirs: dict[str, list[str]] = {}
    for fc in go_files:
        if fc.path.endswith("_test.go"):
            continue
        directory = os.path.dirname(fc.path)
        if package_name(fc.content.decode("utf-8", "replace")) == "main":
            main_dirs.setdefault(directory, []).append(os.path.basename(fc.path))
    for directory, files in sorted(main_dirs.items()):
        if directory in images_at or not in_module(directory, module_roots):
            continue
        putative.append(
            PutativeTarget.for_target_type(
                KoImageTarget,
                path=directory,
                name=os.path.basename(directory) or "image",
                # ko_image has no sources field: its Go files are found with `go list`.
                triggering_sources=(),
                comments=[f"# Builds the `package main` of {', '.join(sorted(files))} into an OCI image."],
            )
        )

    yaml_files = await Get(DigestContents, PathGlobs, request.path_globs("*.yaml", "*.yml", "*.json"))
    unowned = set()
    for fc in yaml_files:
        if fc.path in all_owned_sources:
            continue
        if b"ko://" in fc.content:
            unowned.add(fc.path)
    by_dir: dict[str, list[str]] = {}
    for path in sorted(unowned):
        by_dir.setdefault(os.path.dirname(path), []).append(os.path.basename(path))
    for directory, files in by_dir.items():
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
