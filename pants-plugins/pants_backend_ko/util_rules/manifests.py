"""`ko_manifests`: which `ko_image` each `ko://` string means, and the rendered YAML.

Rendering needs no push and no network: every digest is known at package time. The pure
splicing and selection live in `pants_backend_ko.k8s`; this module gathers the files, the
images' digests and repositories, and reports problems with file, line and target address.
"""

from __future__ import annotations

from dataclasses import dataclass

from pants.engine.addresses import Address
from pants.engine.fs import Digest, DigestContents
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import (
    AllTargets,
    DependenciesRequest,
    HydratedSources,
    HydrateSourcesRequest,
    InferDependenciesRequest,
    InferredDependencies,
    Targets,
)
from pants.engine.unions import UnionRule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from pants_backend_ko.errors import KoError, located
from pants_backend_ko.k8s import ManifestError
from pants_backend_ko.k8s.documents import render_stream, select_stream, selected_ranges
from pants_backend_ko.k8s.resolve import references_in
from pants_backend_ko.k8s.scan import ParsedStream, parse_stream
from pants_backend_ko.k8s.selector import parse_selector
from pants_backend_ko.oci.naming import ko_reference
from pants_backend_ko.target_types import (
    KoImageFieldSet,
    KoImageTarget,
    KoManifestsFieldSet,
    KoManifestsSourcesField,
)
from pants_backend_ko.util_rules.destinations import published_reference
from pants_backend_ko.util_rules.ko_build import (
    BuiltKoImage,
    KoImageRequest,
    KoImageSettings,
    KoImageSettingsRequest,
)


@dataclass(frozen=True)
class KoImageIndex:
    """Every `ko_image` of the repository by import path: what `ko://<import path>` can mean."""

    by_import_path: FrozenDict[str, tuple[Address, ...]]
    # ko_image targets whose settings are invalid, with the one-line reason. Nothing can refer
    # to them, but one broken image must not break every ko_manifests target of the repository.
    unreadable: tuple[tuple[Address, str], ...] = ()


@rule(desc="Index ko_image targets by import path", level=LogLevel.DEBUG)
async def index_ko_images(all_targets: AllTargets) -> KoImageIndex:
    images = [t for t in all_targets if isinstance(t, KoImageTarget)]
    requests = [KoImageSettingsRequest(KoImageFieldSet.create(t)) for t in images]
    unreadable: list[tuple[Address, str]] = []
    try:
        settings = list(await MultiGet(Get(KoImageSettings, KoImageSettingsRequest, r) for r in requests))
    except KoError:
        # Find the broken ones one at a time (each result is cached), keeping the others.
        settings = []
        for request in requests:
            try:
                settings.append(await Get(KoImageSettings, KoImageSettingsRequest, request))
            except KoError as e:
                address = request.field_set.address
                unreadable.append((address, str(located(e, str(address)))))
    index: dict[str, list[Address]] = {}
    for s in settings:
        index.setdefault(s.import_path, []).append(s.address)
    return KoImageIndex(FrozenDict({k: tuple(sorted(v)) for k, v in index.items()}), tuple(unreadable))


@dataclass(frozen=True)
class KoManifestsInferenceFieldSet(KoManifestsFieldSet):
    pass


class InferKoManifestsDependencies(InferDependenciesRequest):
    infer_from = KoManifestsInferenceFieldSet


@dataclass(frozen=True)
class ManifestSources:
    files: tuple[tuple[str, str], ...]  # (path, text) in document order


@rule(desc="Read ko_manifests sources", level=LogLevel.DEBUG)
async def read_manifest_sources(field: KoManifestsSourcesField) -> ManifestSources:
    hydrated = await Get(HydratedSources, HydrateSourcesRequest(field))
    contents = await Get(DigestContents, Digest, hydrated.snapshot.digest)
    by_path = {fc.path: fc.content for fc in contents}
    files = []
    for path in hydrated.snapshot.files:  # sorted
        try:
            text = by_path[path].decode("utf-8")
        except UnicodeDecodeError as e:
            raise KoError(
                f"not UTF-8 text (byte {e.start})", where=path, fix="Kubernetes YAML must be UTF-8."
            ) from None
        files.append((path, text))
    return ManifestSources(tuple(files))


@dataclass(frozen=True)
class ParseManifestsRequest:
    sources: ManifestSources
    structure: bool  # the reduced node trees a label selector reads


@dataclass(frozen=True, eq=False)
class ParsedManifests:
    """Each file parsed once per run, shared by dependency inference and rendering: a 50 MB
    file is one pass of libyaml (k8s/scan.py), not four of PyYAML's pure-Python loader."""

    files: tuple[tuple[ParsedStream | None, str], ...]  # (the parse, or the one-line error)

    def streams(self, owner: Address) -> tuple[ParsedStream, ...]:
        for stream, error in self.files:
            if stream is None:
                raise KoError(error, where=str(owner))
        return tuple(stream for stream, _ in self.files if stream is not None)


@rule(desc="Parse ko_manifests sources", level=LogLevel.DEBUG)
async def parse_manifests(request: ParseManifestsRequest) -> ParsedManifests:
    files: list[tuple[ParsedStream | None, str]] = []
    for path, text in request.sources.files:
        try:
            files.append((parse_stream(text, path, structure=request.structure), ""))
        except ManifestError as e:
            files.append((None, str(e)))
    return ParsedManifests(tuple(files))


def import_paths_in(parsed: ParsedManifests, selector: str | None, owner: Address) -> dict[str, tuple[str, int]]:
    """The import paths referenced by the documents that survive the selector, with a location."""
    found: dict[str, tuple[str, int]] = {}
    for stream in parsed.streams(owner):
        try:
            # Select ranges of the file itself, not a cut-down copy: locations stay file lines.
            kept = selected_ranges(stream, parse_selector(selector)) if selector else [(0, len(stream.text))]
            refs = references_in(stream, kept)
        except ValueError as e:  # ManifestError too: its file and line follow the target's address
            raise KoError(str(e), where=str(owner)) from None
        for ref in refs:
            found.setdefault(ref.import_path, (stream.path, ref.line))
    return found


@rule(desc="Infer ko_manifests dependencies", level=LogLevel.DEBUG)
async def infer_ko_manifests_dependencies(
    request: InferKoManifestsDependencies, index: KoImageIndex
) -> InferredDependencies:
    sources = await Get(ManifestSources, KoManifestsSourcesField, request.field_set.sources)
    # The same request as rendering's: the engine parses each file once for both.
    parsed = await Get(ParsedManifests, ParseManifestsRequest(sources, bool(request.field_set.selector.value)))
    try:
        found = import_paths_in(parsed, None, request.field_set.address)
    except KoError:
        return InferredDependencies([])  # reported with its location when rendering
    include = []
    for import_path in found:
        addresses = index.by_import_path.get(import_path, ())
        if len(addresses) == 1:
            include.append(addresses[0])
    return InferredDependencies(include)


@dataclass(frozen=True)
class RenderManifestsRequest:
    field_set: KoManifestsFieldSet
    # False for `kubectl delete` (ko delete): documents are selected but `ko://` strings stay
    # as written and no image is built, since deleting needs only kinds and names.
    resolve_images: bool = True


@dataclass(frozen=True)
class RenderedManifests:
    files: tuple[tuple[str, str], ...]  # (source path, rendered text)
    images: tuple[BuiltKoImage, ...]  # the images the surviving documents refer to

    @property
    def combined(self) -> str:
        """Every rendered file's documents, in order, as one YAML stream."""
        parts = []
        for _, text in self.files:
            if not text.strip():
                continue
            parts.append(text if text.endswith("\n") else text + "\n")
        return "---\n".join(parts)


def image_reference(image: BuiltKoImage) -> str:
    """ko's returned reference (`published_reference`): `repo@sha256:…`, `repo:tag@sha256:…` for
    one non-latest tag, `repo:tag` with `[ko].tag_only`; for ko.local `ko.local/<name>:<hex>`, the
    name the daemon gets (no daemon asked)."""
    reference = published_reference(image)
    assert reference is not None, "the caller reports an image without a repository"
    return reference


@rule(desc="Render ko_manifests", level=LogLevel.DEBUG)
async def render_ko_manifests(request: RenderManifestsRequest, index: KoImageIndex) -> RenderedManifests:
    field_set = request.field_set
    owner = field_set.address
    selector = field_set.selector.value
    if selector:
        try:
            parse_selector(selector)
        except ValueError as e:
            raise KoError(f"invalid `selector`: {e}", where=str(owner)) from None
    sources, dependencies = await MultiGet(
        Get(ManifestSources, KoManifestsSourcesField, field_set.sources),
        Get(Targets, DependenciesRequest(field_set.dependencies)),
    )
    if not sources.files:
        raise KoError("no YAML or JSON files match `sources`", where=str(owner), fix="check the globs.")
    parsed = await Get(ParsedManifests, ParseManifestsRequest(sources, bool(selector)))
    if not request.resolve_images:
        selected = []
        for stream in parsed.streams(owner):
            try:
                selected.append((stream.path, select_stream(stream, selector) if selector else stream.text))
            except ValueError as e:  # ManifestError too, which keeps its file and line
                raise located(e, str(owner)) from None
        return RenderedManifests(tuple(selected), ())
    wanted = import_paths_in(parsed, selector, owner)
    image_targets = [t for t in dependencies if isinstance(t, KoImageTarget)]
    settings = await MultiGet(
        Get(KoImageSettings, KoImageSettingsRequest(KoImageFieldSet.create(t))) for t in image_targets
    )
    by_import_path: dict[str, list] = {}
    for target, s in zip(image_targets, settings):
        by_import_path.setdefault(s.import_path, []).append(target)
    chosen = {}
    for import_path, (path, line) in wanted.items():
        candidates = by_import_path.get(import_path, [])
        if len(candidates) > 1:
            raise KoError(
                f"{ko_reference(import_path)} is ambiguous: ko_image targets "
                f"{', '.join(str(t.address) for t in candidates)} all build it",
                where=f"{path}:{line}",
                fix=f"keep one, or list the one you mean in {owner}'s `dependencies` and exclude the others with `!`.",
            )
        if len(candidates) == 1:
            chosen[import_path] = candidates[0]
        elif len(index.by_import_path.get(import_path, ())) > 1:
            addresses = ", ".join(str(a) for a in index.by_import_path[import_path])
            raise KoError(
                f"{ko_reference(import_path)} is ambiguous: ko_image targets {addresses} all build it",
                where=f"{path}:{line}",
                fix=f"list the one you mean in {owner}'s `dependencies`.",
            )
    unknown = [p for p in wanted if p not in chosen and p not in index.by_import_path]
    if unknown and index.unreadable:
        # The reference may well mean a broken target: its problem is the one to report.
        path, line = wanted[unknown[0]]
        first = index.unreadable[0][1]
        more = f" (and {len(index.unreadable) - 1} more)" if len(index.unreadable) > 1 else ""
        raise KoError(
            f"no ko_image target builds {ko_reference(unknown[0])}, and some cannot be read{more}",
            where=f"{path}:{line}",
            fix=f"fix them first: {first}",
        )
    images = await MultiGet(Get(BuiltKoImage, KoImageRequest(KoImageFieldSet.create(t))) for t in chosen.values())
    resolved = {}
    for import_path, image in zip(chosen, images):
        if image.name.repository is None:
            path, line = wanted[import_path]
            raise KoError(
                f"{ko_reference(import_path)} ({image.settings.address}) has no repository to be referred to by: "
                "set KO_DOCKER_REPO, [ko].docker_repo or its `repository` field.",
                where=f"{path}:{line}",
            )
        try:
            resolved[import_path] = image_reference(image)
        except KoError as e:  # ko.local: the index lacks the GOOS/GOARCH platform
            path, line = wanted[import_path]
            what = f"{ko_reference(import_path)} ({image.settings.address}): {e.what}"
            raise KoError(what, where=f"{path}:{line}", fix=e.fix) from None
    known = sorted(index.by_import_path)
    rendered = []
    for stream in parsed.streams(owner):
        try:
            rendered.append((stream.path, render_stream(stream, resolved, selector, known)))
        except ValueError as e:  # ManifestError too, which keeps its file and line
            raise located(e, str(owner)) from None
    return RenderedManifests(tuple(rendered), tuple(images))


def rules():
    return [*collect_rules(), UnionRule(InferDependenciesRequest, InferKoManifestsDependencies)]
