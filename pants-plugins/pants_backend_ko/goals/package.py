"""`pants package` for `ko_image`: an OCI layout, a docker archive and a JSON of references."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

from pants.core.goals.package import BuiltPackage, BuiltPackageArtifact, PackageFieldSet
from pants.engine.fs import (
    AddPrefix,
    CreateDigest,
    Digest,
    DigestContents,
    FileContent,
    FileDigest,
    FileEntry,
    MergeDigests,
)
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.unions import UnionRule
from pants.util.logging import LogLevel

from pants_backend_ko.oci.layout import docker_archive_of_layout
from pants_backend_ko.oci.reference import digest_reference
from pants_backend_ko.target_types import KoImageFieldSet, KoManifestsFieldSet
from pants_backend_ko.util_rules.image import BuiltKoImage, KoImageRequest
from pants_backend_ko.util_rules.manifests import (
    RenderedManifests,
    RenderManifestsRequest,
    image_reference,
)


@dataclass(frozen=True)
class KoImagePackageFieldSet(KoImageFieldSet, PackageFieldSet):
    pass


def image_metadata(image: BuiltKoImage) -> dict:
    """The `<name>.ko-image.json` document: what an image is and where it will live."""
    name = image.name
    references = []
    # Every registry the image is published to, the one references point at first.
    for destination in sorted(name.destinations, key=lambda d: d != name.primary):
        references.append(digest_reference(destination.repository, image.digest))
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


@rule(desc="Package a ko_image", level=LogLevel.DEBUG)
async def package_ko_image(field_set: KoImagePackageFieldSet) -> BuiltPackage:
    image = await Get(BuiltKoImage, KoImageRequest(field_set))
    output_path = field_set.output_path.value_or_default(file_ending=None)
    metadata = json.dumps(image_metadata(image), indent=2, sort_keys=True) + "\n"
    parts = [
        Get(Digest, AddPrefix(image.layout, output_path)),
        Get(Digest, CreateDigest([FileContent(f"{output_path}.ko-image.json", metadata.encode())])),
    ]
    if image.loadable:
        # The docker archive (every platform, ko issue 1708) is written from the layout's files
        # here, in package only: publish, run and the manifests never need it.
        contents = await Get(DigestContents, Digest, image.layout)
        repo_tags = [f"{image.name.repository_or_local}:{tag}" for tag in image.name.tags]
        archive = docker_archive_of_layout({fc.path: fc.content for fc in contents}, repo_tags)
        parts.append(Get(Digest, CreateDigest([FileContent(f"{output_path}.tar", archive)])))
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
    if image.loadable:
        artifacts.append(BuiltPackageArtifact(f"{output_path}.tar"))
    artifacts.extend(BuiltPackageArtifact(path) for _, path in image.sbom_files)
    digests = await MultiGet(parts)
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
    combined = rendered.combined.encode("utf-8")
    files: list[FileContent | FileEntry] = [FileContent(f"{output_path}.yaml", combined)]
    for path, text in rendered.files:
        relative = os.path.relpath(path, spec_path) if spec_path else path
        data = text.encode("utf-8")
        if data == combined:
            # One file: the same bytes under a second name, passed by digest. The engine holds
            # ~10 bytes of memory per byte it is handed, which counts for large manifests.
            file_digest = FileDigest(hashlib.sha256(data).hexdigest(), len(data))
            files.append(FileEntry(f"{output_path}/{relative}", file_digest))
        else:
            files.append(FileContent(f"{output_path}/{relative}", data))
    digest = await Get(Digest, CreateDigest(files))
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
