"""Base images: `scratch`, a registry reference, or an OCI image layout folder in the repository.

Registry bases are fetched by a Process running the pure registry client
(`pants_backend_ko.oci.remote.base_tool`): its result is cached forever for a digest reference
and fetched once per run for a tag (a tag can move). Children, configs and layers are verified
against their digests and kept in a content-addressed named cache, so a tag costs one manifest
request once its content has been seen.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from pants.engine.fs import Digest, DigestContents, MergeDigests, PathGlobs, Snapshot
from pants.engine.process import FallibleProcessResult, Process, ProcessCacheScope
from pants.engine.rules import Get, collect_rules, rule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from pants_backend_ko.errors import KoError
from pants_backend_ko.oci.base import BaseImage
from pants_backend_ko.oci.image import ANNOTATION_BASE_DIGEST, ANNOTATION_BASE_NAME, base_index_digest
from pants_backend_ko.oci.layout import LAYOUT_PREFIX
from pants_backend_ko.oci.platform import Platform
from pants_backend_ko.subsystems import KoSubsystem
from pants_backend_ko.util_rules.registry import RegistryToolEnv

OCI_INDEX = "application/vnd.oci.image.index.v1+json"


@dataclass(frozen=True)
class BaseImageRequest:
    reference: str
    platforms: tuple[Platform, ...]
    owner: str  # the target address, for messages
    spec_path: str  # the BUILD file's folder: layout paths starting with ./ are relative to it
    all_platforms: bool = False  # every platform of the base index (ko's `all`)


@dataclass(frozen=True)
class ResolvedBaseImage:
    """The base narrowed to the requested platforms, in the order the output lists them."""

    reference: str
    platforms: tuple[Platform, ...]
    images: tuple[BaseImage, ...]  # one per platform
    is_index: bool  # ko: exactly one match gives an image, several give an index
    index_media_type: str
    index_digest: str | None  # the base index's digest, for the base.digest annotation
    blobs: FrozenDict[str, bytes]  # base layers that the layout carries, by digest
    # Where publish may mount or stream base blobs from: (digest, "registry/repository").
    blob_sources: tuple[tuple[str, str], ...] = ()
    shallow: bool = False  # base layers are referenced, not held (`[ko].shallow_base_images`)
    index_manifest: bytes | None = None  # the base index's bytes (a registry base index only)
    name: str | None = None  # the base's fully qualified name (a registry base only)

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
        blobs=FrozenDict(),
    )


@rule(desc="Resolve the base image", level=LogLevel.DEBUG)
async def resolve_base_image(request: BaseImageRequest, ko: KoSubsystem, tool: RegistryToolEnv) -> ResolvedBaseImage:
    if request.reference == "scratch":
        if request.all_platforms:
            raise KoError(
                f"{request.owner}: platforms `all` means every platform of the base image, and "
                "`scratch` has none; list the platforms, or use a base image index."
            )
        return _scratch(request)
    out = "__ko_base"
    argv = [tool.python, "-m", "pants_backend_ko.oci.remote.base_tool", "--out", out]
    for platform in request.platforms:
        argv.extend(["--platform", str(platform)])
    if request.all_platforms:
        argv.extend(["--platform", "all"])
    layout_dir = layout_dir_of(request.reference, request.spec_path)
    if layout_dir is not None:
        snapshot = await Get(Snapshot, PathGlobs([f"{layout_dir}/**"]))
        if f"{layout_dir}/index.json" not in snapshot.files:
            raise KoError(
                f"{request.owner}: base image {request.reference!r}: {layout_dir}/index.json not "
                "found; a path base must be an OCI image layout folder in the repository."
            )
        argv.extend(["--layout", layout_dir])
        input_digest, scope = snapshot.digest, ProcessCacheScope.SUCCESSFUL
        description = f"Read base image layout {layout_dir} for {request.owner}"
    else:
        argv.extend(["--ref", request.reference, "--cache-dir", ".cache/ko-base"])
        if ko.shallow_base_images:
            argv.append("--no-layers")
        for registry in ko.insecure_registries:
            argv.extend(["--insecure-registry", registry])
        input_digest = None
        # A digest never changes: cache forever. A tag may move: ask the registry once per run.
        by_digest = "@sha256:" in request.reference
        scope = ProcessCacheScope.SUCCESSFUL if by_digest else ProcessCacheScope.PER_SESSION
        description = f"Fetch base image {request.reference} for {request.owner}"
    # Our code comes in the input digest (not from this checkout's path): the cache key is the
    # same in every clone, so a fresh clone is served by the remote cache.
    input_digest = await Get(Digest, MergeDigests([tool.core, *([input_digest] if input_digest is not None else [])]))
    process = Process(
        argv=tuple(argv),
        description=description,
        env=tool.sandboxed_env,
        input_digest=input_digest,
        output_directories=(out,),
        append_only_caches=FrozenDict({"ko_base_blobs": ".cache/ko-base"}),
        cache_scope=scope,
        level=LogLevel.DEBUG,
    )
    result = await Get(FallibleProcessResult, Process, process)
    if result.exit_code != 0:
        message = result.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = message[-1] if message else f"exit code {result.exit_code}"
        detail = detail[len("error: ") :] if detail.startswith("error: ") else detail
        raise KoError(f"{request.owner}: base image {request.reference!r}: {detail}")
    contents = await Get(DigestContents, Digest, result.output_digest)
    files = {fc.path[len(out) + 1 :]: fc.content for fc in contents}
    described = json.loads(files["base.json"])

    def blob(digest: str) -> bytes:
        return files["blobs/" + digest.replace(":", "/", 1)]

    name = described["name"] if layout_dir is None else None
    platforms, images, blobs, sources = [], [], {}, []
    for entry in described["images"]:
        platform = Platform.parse(entry["platform"])
        try:
            image = BaseImage.from_manifest(
                blob(entry["manifest_digest"]),
                blob(entry["config_digest"]),
                name=name,
                digest=entry["manifest_digest"],
                media_type=entry["manifest_media_type"],
            )
        except ValueError as e:
            raise KoError(f"{request.owner}: base image {request.reference!r} ({platform}): {e}") from None
        platforms.append(platform)
        images.append(image)
        for digest in entry["layers"]:
            if f"blobs/{digest.replace(':', '/', 1)}" in files:
                blobs[digest] = blob(digest)
        if layout_dir is None:
            origin = f"{described['registry']}/{described['repository']}"
            sources.extend((d, origin) for d in [entry["config_digest"], *entry["layers"]])
    if not images:
        raise KoError(f"{request.owner}: base image {request.reference!r} has no image for the requested platforms.")
    return ResolvedBaseImage(
        reference=request.reference,
        platforms=tuple(platforms),
        images=tuple(images),
        is_index=described["is_index"] and len(images) > 1,
        index_media_type=described["media_type"] if described["is_index"] else OCI_INDEX,
        index_digest=described["digest"] if (described["is_index"] and name) else None,
        blobs=FrozenDict(blobs),
        blob_sources=tuple(dict.fromkeys(sources)),
        shallow=layout_dir is None and ko.shallow_base_images,
        index_manifest=files.get(f"blobs/{described['digest'].replace(':', '/', 1)}")
        if described["is_index"]
        else None,
        name=name,
    )


def rules():
    return collect_rules()
