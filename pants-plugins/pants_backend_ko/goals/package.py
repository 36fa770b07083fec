"""`pants package` for `ko_image`: an OCI layout, a docker archive and a JSON of references."""

from __future__ import annotations

import json
from dataclasses import dataclass

from pants.core.goals.package import BuiltPackage, BuiltPackageArtifact, PackageFieldSet
from pants.engine.fs import (
    AddPrefix,
    CreateDigest,
    Digest,
    DigestEntries,
    FileContent,
    FileEntry,
    MergeDigests,
    RemovePrefix,
)
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.unions import UnionRule
from pants.util.logging import LogLevel

from pants_backend_ko.errors import KoError
from pants_backend_ko.oci.layerwriter import ArchiveEntry, ArchiveRequest
from pants_backend_ko.oci.layout import (
    blob_path,
    docker_archive_index_metadata,
    docker_archive_metadata,
    tar_order,
)
from pants_backend_ko.oci.mediatypes import INDEX_TYPES
from pants_backend_ko.target_types import KoImageFieldSet, KoManifestsFieldSet
from pants_backend_ko.util_rules.command_line import CommandLineGoals
from pants_backend_ko.util_rules.destinations import destination_reference
from pants_backend_ko.util_rules.ko_build import BuiltKoImage, KoImageRequest
from pants_backend_ko.util_rules.layer_writer import WriteArchiveRequest, WrittenArchive
from pants_backend_ko.util_rules.manifests import (
    RenderedManifests,
    RenderManifestsRequest,
    image_reference,
)


@dataclass(frozen=True)
class KoImagePackageFieldSet(KoImageFieldSet, PackageFieldSet):
    pass


def image_metadata(image: BuiltKoImage) -> dict:
    """The `<name>.ko-image.json` document: what an image is and where it will live (for
    ko.local, `ko.local/<name>:<hex>` of the image the daemon gets, known without a daemon)."""
    name = image.name
    references = []
    # Every destination the image is published to, the one references point at first.
    for destination in sorted(name.destinations, key=lambda d: d != name.primary):
        try:
            references.append(destination_reference(image, destination))
        except KoError:  # ko.local and no GOOS/GOARCH image: publish says so; the package is fine
            pass
        references.extend(f"{destination.repository}:{tag}" for tag in destination.tags)
    return {
        "address": str(image.settings.address),
        "import_path": image.settings.import_path,
        "digest": image.digest,
        "media_type": image.media_type,
        "platforms": dict(image.platform_digests),
        "base_image": image.settings.base_image,
        "repository": name.repository,
        "tags": list(name.tags),
        "references": references,
    }


def docker_archive_wanted(goals: CommandLineGoals) -> bool:
    """Whether `package` was asked for on the command line. Pants 2.17 runs the package rule
    inside `publish` (and `experimental-deploy`) too, where nobody reads the docker archive:
    writing it there would copy every image's bytes once more for nothing. When the goals are
    unknown (a Pants that moved them), the archive is written, as before."""
    return goals.goals is None or "package" in goals.goals


_LAYOUT_IN_SANDBOX = "__ko_layout"
_ARCHIVE_FILES_IN_SANDBOX = "__ko_archive"


async def docker_archive(image: BuiltKoImage, out: str) -> Digest:
    """`<out>` (a `docker load`able tarball of every platform, ko issue 1708), written by the Go
    layer writer from the layout's files: its bytes never enter Pants' Python."""
    repo_tags = [f"{image.name.repository_or_local}:{tag}" for tag in image.name.tags]
    top = image.top_descriptor
    assert top is not None
    if top.media_type in INDEX_TYPES:
        metadata = docker_archive_index_metadata(top, image.archived_images, repo_tags)
        blobs = {blob_path(top.digest)}
    else:
        (archived,) = image.archived_images
        metadata = docker_archive_metadata(archived, repo_tags)
        blobs = set()
    for archived in image.archived_images:
        blobs.update(blob_path(d) for d in (archived.manifest.digest, archived.config_digest, *archived.layer_digests))
    entries = tuple(
        ArchiveEntry(path, True)
        if is_dir
        else ArchiveEntry(path, False, f"{_LAYOUT_IN_SANDBOX if path in blobs else _ARCHIVE_FILES_IN_SANDBOX}/{path}")
        for path, is_dir in tar_order(blobs | set(metadata))
    )
    inputs = await MultiGet(
        Get(Digest, AddPrefix(image.layout, _LAYOUT_IN_SANDBOX)),
        Get(
            Digest,
            CreateDigest(FileContent(f"{_ARCHIVE_FILES_IN_SANDBOX}/{p}", data) for p, data in metadata.items()),
        ),
    )
    archive = await Get(
        WrittenArchive,
        WriteArchiveRequest(
            ArchiveRequest(out, entries),
            await Get(Digest, MergeDigests(inputs)),
            f"Write the docker archive of {image.settings.address}",
            str(image.settings.address),
        ),
    )
    return archive.digest


@rule(desc="Package a ko_image", level=LogLevel.DEBUG)
async def package_ko_image(field_set: KoImagePackageFieldSet, goals: CommandLineGoals) -> BuiltPackage:
    image = await Get(BuiltKoImage, KoImageRequest(field_set))
    output_path = field_set.output_path.value_or_default(file_ending=None)
    metadata = json.dumps(image_metadata(image), indent=2, sort_keys=True) + "\n"
    digests = list(
        await MultiGet(
            Get(Digest, AddPrefix(image.layout, output_path)),
            Get(Digest, CreateDigest([FileContent(f"{output_path}.ko-image.json", metadata.encode())])),
        )
    )
    archive = image.loadable and docker_archive_wanted(goals)
    if archive:
        digests.append(await docker_archive(image, f"{output_path}.tar"))
    artifacts = [
        BuiltPackageArtifact(
            output_path,
            extra_log_lines=(
                f"    image: {image.digest} ({image.settings.import_path})",
                *(f"    {ref}" for ref in image_metadata(image)["references"][:1]),
            ),
        ),
        BuiltPackageArtifact(f"{output_path}.ko-image.json"),
    ]
    if archive:
        artifacts.append(BuiltPackageArtifact(f"{output_path}.tar"))
    artifacts.extend(BuiltPackageArtifact(path) for _, path in image.sbom_files)
    merged = await Get(Digest, MergeDigests([*digests, image.sboms]))
    return BuiltPackage(merged, tuple(artifacts))


@dataclass(frozen=True)
class KoManifestsPackageFieldSet(KoManifestsFieldSet, PackageFieldSet):
    pass


@rule(desc="Package ko_manifests", level=LogLevel.DEBUG)
async def package_ko_manifests(field_set: KoManifestsPackageFieldSet) -> BuiltPackage:
    rendered = await Get(RenderedManifests, RenderManifestsRequest(field_set))
    output_path = field_set.output_path.value_or_default(file_ending=None)
    spec_path = field_set.address.spec_path
    # Files by digest only: the engine holds ~10 bytes of memory per byte handed to it as
    # content, which counts for large manifests. A target's files lie under its folder.
    files = await Get(Digest, RemovePrefix(rendered.files, spec_path)) if spec_path else rendered.files
    (combined,) = await Get(DigestEntries, Digest, rendered.combined)
    assert isinstance(combined, FileEntry), combined
    parts = await MultiGet(
        Get(Digest, CreateDigest([FileEntry(f"{output_path}.yaml", combined.file_digest)])),
        Get(Digest, AddPrefix(files, output_path)),
    )
    digest = await Get(Digest, MergeDigests(parts))
    return BuiltPackage(
        digest,
        (
            BuiltPackageArtifact(
                f"{output_path}.yaml",
                extra_log_lines=tuple(f"    {image_reference(i)}" for i in rendered.images),
            ),
            BuiltPackageArtifact(f"{output_path}/"),
        ),
    )


def rules():
    return [
        *collect_rules(),
        UnionRule(PackageFieldSet, KoImagePackageFieldSet),
        UnionRule(PackageFieldSet, KoManifestsPackageFieldSet),
    ]
