"""`ko_manifests`: which `ko_image` each `ko://` string means, and the rendered YAML.

Rendering needs no push and no network: every digest is known at package time. The YAML is
read by the tool (`tool/manifests.py`, over the pure `pants_backend_ko.k8s`) in two cached
Processes, `scan` (the import paths referred to: dependency inference, and which images to
build) and `render` (the files with each `ko://` replaced); this module gathers the files, the
images' digests and repositories, and reports problems with file, line and target address. The
rendered YAML comes back as digests: a 50 MB manifest never passes through Pants' Python.
"""

from __future__ import annotations

from dataclasses import dataclass

from pants.engine.addresses import Address
from pants.engine.fs import (
    Digest,
    DigestSubset,
    FileContent,
    MergeDigests,
    PathGlobs,
    RemovePrefix,
)
from pants.engine.process import FallibleProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import (
    AllTargets,
    DependenciesRequest,
    HydratedSources,
    HydrateSourcesRequest,
    InferDependenciesRequest,
    InferredDependencies,
    Target,
    Targets,
)
from pants.engine.unions import UnionRule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from pants_backend_ko.codec import decode, encode
from pants_backend_ko.errors import KoError, format_error, located
from pants_backend_ko.k8s.selector import parse_selector
from pants_backend_ko.oci.naming import ko_reference
from pants_backend_ko.target_types import (
    KoImageFieldSet,
    KoImageTarget,
    KoManifestsFieldSet,
    KoManifestsSourcesField,
)
from pants_backend_ko.tool.messages import (
    COMBINED_MANIFEST,
    RENDERED_FILES_DIR,
    SPLICE_PLAN,
    ManifestRender,
    ManifestScan,
    ReferenceSite,
    RenderedManifestFiles,
    ScannedManifests,
    error_from_stderr,
)
from pants_backend_ko.util_rules.destinations import published_reference
from pants_backend_ko.util_rules.ko_build import (
    BuiltKoImage,
    KoImageRequest,
    KoImageSettings,
    KoImageSettingsRequest,
)
from pants_backend_ko.util_rules.tool import KoToolRequest

# The tool's files in the scan and render sandboxes, beside the target's YAML at its own paths.
SCAN_REQUEST = "__ko_manifests_scan.json"
RENDER_REQUEST = "__ko_manifests_render.json"
RENDER_OUT = "__ko_rendered"
SCAN_OUT = "__ko_scanned"


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
class ManifestFiles:
    """A ko_manifests target's files, as a digest: their text is read by the tool, not here."""

    digest: Digest  # each file at its path in the repository
    paths: tuple[str, ...]  # sorted: the order of documents in the rendered stream


@rule(desc="Read ko_manifests sources", level=LogLevel.DEBUG)
async def read_manifest_sources(field: KoManifestsSourcesField) -> ManifestFiles:
    hydrated = await Get(HydratedSources, HydrateSourcesRequest(field))
    return ManifestFiles(hydrated.snapshot.digest, hydrated.snapshot.files)


@dataclass(frozen=True)
class ScanManifestsRequest:
    owner: Address  # for messages only
    files: ManifestFiles
    selector: str  # checked already; "" keeps every document


@dataclass(frozen=True)
class ScannedManifestFiles:
    answer: ScannedManifests
    plan: Digest  # SCAN_OUT/SPLICE_PLAN, what the render takes (empty when the answer has a problem)


@rule(desc="Scan ko_manifests for ko:// references", level=LogLevel.DEBUG)
async def scan_ko_manifests(request: ScanManifestsRequest) -> ScannedManifestFiles:
    """One cached Process per target, shared by dependency inference and rendering."""
    scan = ManifestScan(files=request.files.paths, selector=request.selector)
    result = await Get(
        FallibleProcessResult,
        KoToolRequest(
            "scan",
            ("--request", SCAN_REQUEST, "--out", SCAN_OUT),
            description=f"Scan {request.owner}'s YAML for ko:// references",
            input_digest=request.files.digest,
            request_file=FileContent(SCAN_REQUEST, encode(scan)),
            output_directories=(SCAN_OUT,),
        ),
    )
    if result.exit_code != 0:
        what = f"cannot scan the YAML: {error_from_stderr(result.stderr, result.exit_code)}"
        raise KoError(what, where=str(request.owner))
    return ScannedManifestFiles(
        decode(ScannedManifests, result.stdout, f"the scan of {request.owner}"), result.output_digest
    )


def _checked_selector(field_set: KoManifestsFieldSet) -> str:
    selector = field_set.selector.value or ""
    if selector.strip():
        try:
            parse_selector(selector)
        except ValueError as e:
            raise KoError(f"invalid `selector`: {e}", where=str(field_set.address)) from None
    return selector


@rule(desc="Infer ko_manifests dependencies", level=LogLevel.DEBUG)
async def infer_ko_manifests_dependencies(
    request: InferKoManifestsDependencies, index: KoImageIndex
) -> InferredDependencies:
    field_set = request.field_set
    try:
        selector = _checked_selector(field_set)
    except KoError:
        selector = ""  # reported when rendering
    sources = await Get(ManifestFiles, KoManifestsSourcesField, field_set.sources)
    # The same request as rendering's: one scan serves both.
    scanned = (await Get(ScannedManifestFiles, ScanManifestsRequest(field_set.address, sources, selector))).answer
    if scanned.problem is not None:
        return InferredDependencies([])  # reported with its location when rendering
    include = []
    for site in scanned.references:
        addresses = index.by_import_path.get(site.import_path, ())
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
    """The rendered YAML, as digests (Pants' Python never holds its text)."""

    combined: Digest  # one file, COMBINED_MANIFEST: every rendered document, in order
    files: Digest  # each source file rendered, at its own path
    paths: tuple[str, ...]  # the source files, in order
    images: tuple[BuiltKoImage, ...]  # the images the surviving documents refer to


def image_reference(image: BuiltKoImage) -> str:
    """ko's returned reference (`published_reference`): `repo@sha256:…`, `repo:tag@sha256:…` for
    one non-latest tag, `repo:tag` with `[ko].tag_only`; for ko.local `ko.local/<name>:<hex>`, the
    name the daemon gets (no daemon asked)."""
    reference = published_reference(image)
    assert reference is not None, "the caller reports an image without a repository"
    return reference


@dataclass(frozen=True)
class ResolveImagesRequest:
    owner: Address
    wanted: tuple[ReferenceSite, ...]  # what the kept documents refer to
    dependencies: tuple[Target, ...]


@dataclass(frozen=True)
class ResolvedImages:
    images: tuple[BuiltKoImage, ...]
    references: FrozenDict[str, str]  # import path -> the reference that replaces `ko://<it>`


@rule(desc="Build the images ko_manifests refer to", level=LogLevel.DEBUG)
async def resolve_ko_images(request: ResolveImagesRequest, index: KoImageIndex) -> ResolvedImages:
    owner = request.owner
    wanted = {site.import_path: (site.path, site.line) for site in request.wanted}
    image_targets = [t for t in request.dependencies if isinstance(t, KoImageTarget)]
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
        path, line = wanted[import_path]
        if image.name.repository is None:
            raise KoError(
                f"{ko_reference(import_path)} ({image.settings.address}) has no repository to be referred to by: "
                "set KO_DOCKER_REPO, [ko].docker_repo or its `repository` field.",
                where=f"{path}:{line}",
            )
        try:
            resolved[import_path] = image_reference(image)
        except KoError as e:  # ko.local: the index lacks the GOOS/GOARCH platform
            what = f"{ko_reference(import_path)} ({image.settings.address}): {e.what}"
            raise KoError(what, where=f"{path}:{line}", fix=e.fix) from None
    return ResolvedImages(tuple(images), FrozenDict(resolved))


@rule(desc="Render ko_manifests", level=LogLevel.DEBUG)
async def render_ko_manifests(request: RenderManifestsRequest, index: KoImageIndex) -> RenderedManifests:
    field_set = request.field_set
    owner = field_set.address
    selector = _checked_selector(field_set)
    sources, dependencies = await MultiGet(
        Get(ManifestFiles, KoManifestsSourcesField, field_set.sources),
        Get(Targets, DependenciesRequest(field_set.dependencies)),
    )
    if not sources.paths:
        raise KoError("no YAML or JSON files match `sources`", where=str(owner), fix="check the globs.")
    scanned = await Get(ScannedManifestFiles, ScanManifestsRequest(owner, sources, selector))
    if scanned.answer.problem is not None:
        problem = scanned.answer.problem
        raise KoError(format_error(problem.what, where=problem.where, fix=problem.fix), where=str(owner))
    resolved = ResolvedImages((), FrozenDict())
    if request.resolve_images:
        wanted = scanned.answer.selected
        resolved = await Get(ResolvedImages, ResolveImagesRequest(owner, wanted, tuple(dependencies)))
    render = ManifestRender(
        plan=f"{SCAN_OUT}/{SPLICE_PLAN}",
        resolved=resolved.references,
        resolve=request.resolve_images,
        known=tuple(sorted(index.by_import_path)) if request.resolve_images else (),
    )
    result = await Get(
        FallibleProcessResult,
        KoToolRequest(
            "render",
            ("--request", RENDER_REQUEST, "--out", RENDER_OUT),
            description=f"Render {owner}'s YAML",
            input_digest=await Get(Digest, MergeDigests([sources.digest, scanned.plan])),
            request_file=FileContent(RENDER_REQUEST, encode(render)),
            output_directories=(RENDER_OUT,),
        ),
    )
    if result.exit_code != 0:
        raise KoError(f"cannot render the YAML: {error_from_stderr(result.stderr, result.exit_code)}", where=str(owner))
    answer = decode(RenderedManifestFiles, result.stdout, f"the render of {owner}")
    if answer.problem is not None:
        problem = answer.problem
        raise located(KoError(problem.what, where=problem.where, fix=problem.fix), str(owner))
    out = await Get(Digest, RemovePrefix(result.output_digest, RENDER_OUT))
    combined, files = await MultiGet(
        Get(Digest, DigestSubset(out, PathGlobs([COMBINED_MANIFEST]))),
        Get(Digest, DigestSubset(out, PathGlobs([f"{RENDERED_FILES_DIR}/**"]))),
    )
    files = await Get(Digest, RemovePrefix(files, RENDERED_FILES_DIR))
    return RenderedManifests(combined, files, sources.paths, resolved.images)


def rules():
    return [*collect_rules(), UnionRule(InferDependenciesRequest, InferKoManifestsDependencies)]
