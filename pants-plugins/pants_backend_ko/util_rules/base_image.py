"""Base images: `scratch`, a registry reference, or an OCI image layout folder in the repository.

Registry bases are fetched by a Process running the tool's `base` verb (`tool/base_fetch.py`,
a `BaseFetch` answered by a `BaseDescription`): its result is cached forever for a digest reference
and fetched once per run for a tag (a tag can move). Children, configs and layers are verified
against their digests and kept in a content-addressed named cache, so a tag costs one manifest
request once its content has been seen.

A base named `ko.local/...` is read from the Docker daemon at `DOCKER_HOST`, as ko does
(`tool/base_fetch.py`): once per run (the daemon's image behind a name can change at any
time), as the single image the daemon holds; the built image names it as its base, as ko's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pants.engine.fs import (
    EMPTY_DIGEST,
    Digest,
    DigestContents,
    DigestSubset,
    FileContent,
    PathGlobs,
    RemovePrefix,
    Snapshot,
)
from pants.engine.process import FallibleProcessResult, ProcessCacheScope
from pants.engine.rules import Get, collect_rules, rule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from pants_backend_ko.codec import decode, encode
from pants_backend_ko.errors import KoError
from pants_backend_ko.oci.base import BaseImage
from pants_backend_ko.oci.daemon.local import is_local_docker_repo
from pants_backend_ko.oci.image import ANNOTATION_BASE_DIGEST, ANNOTATION_BASE_NAME, base_index_digest
from pants_backend_ko.oci.layout import LAYOUT_PREFIX
from pants_backend_ko.oci.mediatypes import OCI_INDEX
from pants_backend_ko.oci.platform import Platform
from pants_backend_ko.subsystems import KoSubsystem
from pants_backend_ko.tool.messages import (
    BASE_DESCRIPTION_FILE,
    BaseDescription,
    BaseFetch,
    blob_path,
    error_from_stderr,
)
from pants_backend_ko.util_rules.tool import KoToolRequest

if TYPE_CHECKING:
    from pants_backend_ko.util_rules.ko_build import KoImageSettings


@dataclass(frozen=True)
class BaseImageRequest:
    reference: str
    platforms: tuple[Platform, ...]
    owner: str  # the target address, for messages
    spec_path: str  # the BUILD file's folder: layout paths starting with ./ are relative to it
    all_platforms: bool = False  # every platform of the base index (ko's `all`)

    @classmethod
    def of(cls, settings: KoImageSettings) -> BaseImageRequest:
        """The base of a `ko_image`, as its build asks for it (the same request: resolved once)."""
        return cls(
            settings.base_image,
            settings.platforms,
            str(settings.address),
            settings.address.spec_path,
            all_platforms=settings.all_platforms,
        )


@dataclass(frozen=True)
class ResolvedBaseImage:
    """The base narrowed to the requested platforms, in the order the output lists them."""

    reference: str
    platforms: tuple[Platform, ...]
    images: tuple[BaseImage, ...]  # one per platform
    is_index: bool  # ko: exactly one match gives an image, several give an index
    index_media_type: str
    index_digest: str | None  # the base index's digest, for the base.digest annotation
    # The base layers the layout carries (`blobs/sha256/<hex>` at its root), passed by digest:
    # their bytes never enter Pants' Python.
    layers: Digest
    layer_digests: frozenset[str]
    # Where publish may mount or stream base blobs from: (digest, "registry/repository").
    blob_sources: tuple[tuple[str, str], ...] = ()
    shallow: bool = False  # base layers are referenced, not held (`[ko].shallow_base_images`)
    index_manifest: bytes | None = None  # the base index's bytes (a registry base index only)
    name: str | None = None  # the base's fully qualified name (a registry base only)
    digest: str | None = None  # what the reference resolved to (manifest or index); None for scratch

    def index_annotations(self, user_annotations: dict[str, str]) -> dict[str, str]:
        """The annotations of an index built on this base index, as ko's `buildAll` writes them."""
        annotations = dict(user_annotations)
        if self.index_digest and self.index_manifest is not None:
            name = self.name or self.reference
            own = {**annotations, ANNOTATION_BASE_DIGEST: self.index_digest, ANNOTATION_BASE_NAME: name}
            annotations[ANNOTATION_BASE_NAME] = name
            annotations[ANNOTATION_BASE_DIGEST] = base_index_digest(self.index_manifest, self.index_media_type, own)
        return annotations


def layout_dir_of(reference: str, spec_path: str) -> str | None:
    """The repository-relative folder of a layout base, or None for a registry reference."""
    if reference.startswith(LAYOUT_PREFIX):
        reference = reference[len(LAYOUT_PREFIX) :]
    elif not reference.startswith(("./", "../", "//")):
        return None
    if reference.startswith("//"):
        return os.path.normpath(reference[2:])
    return os.path.normpath(os.path.join(spec_path, reference))


def _scratch(request: BaseImageRequest) -> ResolvedBaseImage:
    return ResolvedBaseImage(
        reference="scratch",
        platforms=request.platforms,
        images=tuple(BaseImage.scratch(p) for p in request.platforms),
        is_index=len(request.platforms) > 1,
        index_media_type=OCI_INDEX,
        index_digest=None,
        layers=EMPTY_DIGEST,
        layer_digests=frozenset(),
    )


BASE_DIR = "__ko_base"
REQUEST_FILE = "__ko_base_request.json"


@rule(desc="Resolve the base image", level=LogLevel.DEBUG)
async def resolve_base_image(request: BaseImageRequest, ko: KoSubsystem) -> ResolvedBaseImage:
    owner = request.owner
    if request.reference == "scratch":
        if request.all_platforms:
            raise KoError(
                "platforms `all` means every platform of the base image, and `scratch` has none",
                where=owner,
                fix="list the platforms, or use a base image index.",
            )
        return _scratch(request)
    platforms = tuple(str(p) for p in request.platforms) + (("all",) if request.all_platforms else ())
    base = f"base image {request.reference!r}"
    layout_dir = layout_dir_of(request.reference, request.spec_path)
    if layout_dir is not None:
        snapshot = await Get(Snapshot, PathGlobs([f"{layout_dir}/**"]))
        if f"{layout_dir}/index.json" not in snapshot.files:
            raise KoError(
                f"{base}: {layout_dir}/index.json not found",
                where=owner,
                fix="a path base must be an OCI image layout folder in the repository.",
            )
        fetch = BaseFetch(layout=layout_dir, platforms=platforms)
        inputs, scope = snapshot.digest, ProcessCacheScope.SUCCESSFUL
        description = f"Read base image layout {layout_dir} for {owner}"
    elif is_local_docker_repo(request.reference):
        fetch = BaseFetch(daemon=request.reference, platforms=platforms)
        inputs, scope = EMPTY_DIGEST, ProcessCacheScope.PER_SESSION
        description = f"Read base image {request.reference} from the Docker daemon for {owner}"
    else:
        fetch = BaseFetch(
            reference=request.reference,
            platforms=platforms,
            layers=not ko.shallow_base_images,
            cache_dir=".cache/ko-base",
            insecure_registries=tuple(ko.insecure_registries),
            transport=ko.transport_limits,
        )
        inputs = EMPTY_DIGEST
        # A digest never changes: cache forever. A tag may move: ask the registry once per run.
        by_digest = "@sha256:" in request.reference
        scope = ProcessCacheScope.SUCCESSFUL if by_digest else ProcessCacheScope.PER_SESSION
        description = f"Fetch base image {request.reference} for {owner}"
    result = await Get(
        FallibleProcessResult,
        KoToolRequest(
            "base",
            ("--request", REQUEST_FILE, "--out", BASE_DIR),
            description=description,
            input_digest=inputs,
            request_file=FileContent(REQUEST_FILE, encode(fetch)),
            output_directories=(BASE_DIR,),
            append_only_caches=FrozenDict({"ko_base_blobs": ".cache/ko-base"}),
            cache_scope=scope,
            # The daemon is on this machine: a run that reads it uses DOCKER_HOST, ships nothing.
            ship_sources=fetch.daemon is None,
        ),
    )
    if result.exit_code != 0:
        raise KoError(f"{base}: {error_from_stderr(result.stderr, result.exit_code)}", where=owner)
    # Only the small files are read: the description, manifests, configs and the index. The
    # layers stay a digest (the image's layout takes them as they are).
    output = await Get(Digest, RemovePrefix(result.output_digest, BASE_DIR))
    (description_file,) = await Get(DigestContents, DigestSubset(output, PathGlobs([BASE_DESCRIPTION_FILE])))
    described = decode(BaseDescription, description_file.content, f"{description}: {BASE_DESCRIPTION_FILE}")
    small = [blob_path(d) for e in described.images for d in (e.manifest_digest, e.config_digest)]
    if described.is_index:
        small.append(blob_path(described.digest))
    contents = await Get(DigestContents, DigestSubset(output, PathGlobs(small)))
    files = {fc.path: fc.content for fc in contents}

    from_registry = layout_dir is None and fetch.daemon is None
    named = layout_dir is None  # registry and daemon bases are named in the image, as ko names them
    platforms_out, images = [], []
    layer_paths: dict[str, str] = {}
    sources: list[tuple[str, str]] = []
    for entry in described.images:
        platform = Platform.parse(entry.platform)
        try:
            image = BaseImage.from_manifest(
                files[blob_path(entry.manifest_digest)],
                files[blob_path(entry.config_digest)],
                name=described.name if named else None,
                digest=entry.manifest_digest,
                media_type=entry.manifest_media_type,
            )
        except ValueError as e:
            raise KoError(f"{base} ({platform}): {e}", where=owner) from None
        platforms_out.append(platform)
        images.append(image)
        layer_paths.update((digest, blob_path(digest)) for digest in entry.layers)
        if from_registry:
            sources.extend((d, described.origin) for d in [entry.config_digest, *entry.layers])
    if not images:
        raise KoError(f"{base} has no image for the requested platforms.", where=owner)
    # The layers the fetch wrote (all of them, unless `[ko].shallow_base_images`).
    layers = await Get(Digest, DigestSubset(output, PathGlobs(sorted(set(layer_paths.values())))))
    held = set((await Get(Snapshot, Digest, layers)).files)
    return ResolvedBaseImage(
        reference=request.reference,
        platforms=tuple(platforms_out),
        images=tuple(images),
        is_index=described.is_index and len(images) > 1,
        index_media_type=described.media_type if described.is_index else OCI_INDEX,
        index_digest=described.digest if (described.is_index and from_registry) else None,
        layers=layers,
        layer_digests=frozenset(d for d, path in layer_paths.items() if path in held),
        blob_sources=tuple(dict.fromkeys(sources)),
        shallow=from_registry and ko.shallow_base_images,
        index_manifest=files.get(blob_path(described.digest)) if described.is_index else None,
        name=described.name if from_registry else None,
        digest=described.digest,
    )


def rules():
    return collect_rules()
