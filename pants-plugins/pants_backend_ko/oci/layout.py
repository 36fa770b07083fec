"""OCI image layouts and `docker load` tarballs: writing them as files, reading them back.

- `layout_files` returns the files of an OCI image layout (opencontainers/image-spec
  `image-layout.md`) as a path -> bytes mapping: `oci-layout`, `index.json` and
  `blobs/sha256/<hex>`. An index uses the nested shape (top `index.json` -> one descriptor of
  the index blob -> the per-platform manifests), which skopeo and umoci read (as ggcr's
  `pkg/v1/layout` writes it). A tag is the `org.opencontainers.image.ref.name` annotation.
- `docker_archive` returns a tarball in the shape Docker 25+ `docker save` writes: the same OCI
  layout files plus `manifest.json` and `repositories`, so both `docker load` and
  `skopeo copy docker-archive:` accept it. Its bytes are deterministic (sorted entries,
  mtime 0, uid/gid 0).
- `read_layout` opens a layout on disk for the registry client: the top descriptor, manifests
  and indexes by digest, blob paths, and the push order of everything under a descriptor.
"""

from __future__ import annotations

import json
import os
import re
import tarfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pants_backend_ko.errors import KoError
from pants_backend_ko.golang import gojson
from pants_backend_ko.golang.frozendict import FrozenDict
from pants_backend_ko.oci.configfile import ConfigFile
from pants_backend_ko.oci.digest import check_digest, digest_hex, digest_of
from pants_backend_ko.oci.image import BuiltImage, BuiltIndex
from pants_backend_ko.oci.manifest import Descriptor, ImageIndex, ImageManifest
from pants_backend_ko.oci.mediatypes import IMAGE_MANIFEST_TYPES, INDEX_TYPES, OCI_INDEX
from pants_backend_ko.oci.platform import Platform

__all__ = [
    "OCI_LAYOUT_FILE",
    "ANNOTATION_REF_NAME",
    "ANNOTATION_CONTAINERD_IMAGE_NAME",
    "layout_files",
    "layout_metadata",
    "tar_order",
    "docker_archive_of_layout",
    "docker_archive",
    "docker_archive_metadata",
    "docker_archive_index_metadata",
    "ArchivedImage",
    "tar_stream",
    "read_layout",
    "OciLayout",
    "LayoutError",
    "PushOrder",
    "blob_path",
]

OCI_LAYOUT_FILE = b'{"imageLayoutVersion":"1.0.0"}'
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_CONTAINERD_IMAGE_NAME = "io.containerd.image.name"

# image-spec's grammar for org.opencontainers.image.ref.name.
_REF_NAME = re.compile(
    r"[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*"
)


# How a base image reference names an OCI layout folder instead of a registry image.
LAYOUT_PREFIX = "oci-layout:"

_CHUNK = 1 << 20  # bytes read at a time when streaming a blob from disk


def blob_path(digest: str) -> str:
    """`blobs/sha256/<hex>`, the layout path of a blob."""
    check_digest(digest, "blob digest")
    return "blobs/sha256/" + digest_hex(digest)


def _check_ref_name(ref_name: str) -> None:
    if not isinstance(ref_name, str) or not _REF_NAME.fullmatch(ref_name):
        raise ValueError(
            f"layout tag {ref_name!r} is not a valid org.opencontainers.image.ref.name "
            "(letters and digits separated by one of - . _ : @ + or /)"
        )


def _image_files(
    image: BuiltImage,
    base_blobs: Mapping[str, bytes],
    allow_missing_base_blobs: bool,
    layers: bool = True,
) -> dict[str, bytes]:
    files = {blob_path(image.digest): image.manifest}
    for digest, data in image.blobs.items():
        files[blob_path(digest)] = data
    if not layers:
        return {blob_path(image.digest): image.manifest, blob_path(image.config_descriptor.digest): image.config}
    for layer in image.layers[image.base_layer_count :]:
        if layer.digest not in image.blobs:
            raise ValueError(f"image {image.digest}: layer {layer.digest} was not made in memory; use layout_metadata")
    for layer in image.base_layers:
        data = base_blobs.get(layer.digest)
        if data is None:
            if allow_missing_base_blobs:
                continue
            raise ValueError(
                f"image {image.digest} needs base layer {layer.digest}, which is not among the base blobs given; "
                "pull the base image's layers first"
            )
        if digest_of(data) != layer.digest:
            raise ValueError(f"base blob given for {layer.digest} has digest {digest_of(data)}")
        files[blob_path(layer.digest)] = bytes(data)
    return files


def _top_descriptor(top: BuiltImage | BuiltIndex, annotations: Mapping[str, str]) -> Descriptor:
    if isinstance(top, BuiltImage):
        # ggcr's layout.AppendImage uses partial.Descriptor, which adds the config media type.
        return Descriptor(
            media_type=top.media_type,
            size=top.manifest_descriptor.size,
            digest=top.digest,
            annotations=FrozenDict(annotations),
            artifact_type=top.config_descriptor.media_type,
        )
    return Descriptor(
        media_type=top.media_type,
        size=top.descriptor.size,
        digest=top.digest,
        annotations=FrozenDict(annotations),
    )


def _index_json(descriptors: Sequence[Descriptor]) -> bytes:
    return gojson.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [d.to_json() for d in descriptors]})


def layout_files(
    top: BuiltImage | BuiltIndex,
    images: Sequence[BuiltImage],
    base_blobs: Mapping[str, bytes],
    ref_name: str | None,
    *,
    allow_missing_base_blobs: bool = False,
) -> dict[str, bytes]:
    """The files of an OCI image layout holding `top` (an image, or an index over `images`),
    every blob included (the images' layers must be in memory, as `build_image` makes them).

    `base_blobs` maps digests of base layers to their (compressed) bytes. A layout that skopeo
    or umoci can read needs them all; `allow_missing_base_blobs=True` leaves absent ones out
    (only for a pusher that mounts them from the base repository instead).
    """
    return _layout(top, images, base_blobs, ref_name, allow_missing_base_blobs, layers=True)


def layout_metadata(
    top: BuiltImage | BuiltIndex, images: Sequence[BuiltImage], ref_name: str | None
) -> dict[str, bytes]:
    """The files of the layout `layout_files` writes except the layers: `oci-layout`,
    `index.json`, manifests, configs and the index. The layer blobs (`blobs/sha256/<hex>` of
    each layer digest) are added as files made elsewhere (the Go layer writer, the base fetch)."""
    return _layout(top, images, {}, ref_name, True, layers=False)


def _layout(
    top: BuiltImage | BuiltIndex,
    images: Sequence[BuiltImage],
    base_blobs: Mapping[str, bytes],
    ref_name: str | None,
    allow_missing_base_blobs: bool,
    layers: bool,
) -> dict[str, bytes]:
    if ref_name is not None:
        _check_ref_name(ref_name)
    files: dict[str, bytes] = {"oci-layout": OCI_LAYOUT_FILE}
    if isinstance(top, BuiltIndex):
        by_digest = {image.digest: image for image in list(images) + list(top.children)}
        index = ImageIndex.parse(top.manifest, "built index")
        for entry in index.manifests or ():
            if entry.digest not in by_digest:
                raise ValueError(f"index {top.digest} lists {entry.digest}, which is not among the images given")
            files.update(_image_files(by_digest[entry.digest], base_blobs, allow_missing_base_blobs, layers))
        files[blob_path(top.digest)] = top.manifest
    elif isinstance(top, BuiltImage):
        files.update(_image_files(top, base_blobs, allow_missing_base_blobs, layers))
    else:
        raise TypeError(f"layout_files: top must be a BuiltImage or BuiltIndex, got {type(top).__name__}")
    annotations = {ANNOTATION_REF_NAME: ref_name} if ref_name else {}
    files["index.json"] = _index_json([_top_descriptor(top, annotations)])
    return files


def _split_repo_tag(repo_tag: str) -> tuple[str, str]:
    slash = repo_tag.rfind("/")
    colon = repo_tag.rfind(":")
    if colon <= slash or colon == len(repo_tag) - 1 or colon == 0 or "@" in repo_tag:
        raise ValueError(f"repo tag {repo_tag!r} must look like 'name:tag' (no digest), e.g. 'ko.local/app:latest'")
    return repo_tag[:colon], repo_tag[colon + 1 :]


def tar_order(paths: Iterable[str]) -> list[tuple[str, bool]]:
    """The entries of `tar_stream` for these file paths: every parent directory too, all sorted.
    (path, is a directory) pairs."""
    files = set(paths)
    dirs = set()
    for path in files:
        parts = path.split("/")
        for i in range(1, len(parts)):
            dirs.add("/".join(parts[:i]))
    return [(path, path in dirs) for path in sorted(files | dirs)]


def tar_stream(files: Mapping[str, bytes | Path]) -> Iterator[bytes]:
    """A deterministic tar, in pieces: parent directories first, entries sorted, mtime 0, root-owned.

    A `Path` value is streamed from that file (its size read when its header is written), so a
    large layer is never held in memory. The bytes equal `tarfile`'s USTAR output for the same
    entries, end-of-archive blocks and record padding included (the Go layer writer's `archive`
    writes the same bytes from files).
    """
    written = 0
    for path, is_dir in tar_order(files):
        info = tarfile.TarInfo(path)
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        if is_dir:
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            header = info.tobuf(tarfile.USTAR_FORMAT, tarfile.ENCODING, "surrogateescape")
            written += len(header)
            yield header
            continue
        data = files[path]
        info.mode = 0o644
        info.size = data.stat().st_size if isinstance(data, Path) else len(data)
        header = info.tobuf(tarfile.USTAR_FORMAT, tarfile.ENCODING, "surrogateescape")
        written += len(header)
        yield header
        if isinstance(data, Path):
            copied = 0
            with data.open("rb") as f:
                while chunk := f.read(_CHUNK):
                    copied += len(chunk)
                    yield chunk
            if copied != info.size:
                raise ValueError(f"{data} changed size while it was archived ({info.size} -> {copied} bytes)")
        else:
            yield bytes(data)
        padding = -info.size % tarfile.BLOCKSIZE
        written += info.size + padding
        yield b"\0" * padding
    # tarfile's close(): two zero blocks, then zeros up to a whole record.
    end = 2 * tarfile.BLOCKSIZE
    end += -(written + end) % tarfile.RECORDSIZE
    yield b"\0" * end


def _tar_bytes(files: Mapping[str, bytes]) -> bytes:
    return b"".join(tar_stream(files))


@dataclass(frozen=True)
class ArchivedImage:
    """What a docker archive records about one image besides its blobs."""

    manifest: Descriptor  # media type, size and digest of the image manifest, and its platform
    config_digest: str
    layer_digests: tuple[str, ...]
    top_diff_id: str  # the last layer's diffID, which `repositories` names

    @classmethod
    def of(cls, image: BuiltImage) -> ArchivedImage:
        return cls(
            manifest=Descriptor(
                media_type=image.media_type,
                size=image.manifest_descriptor.size,
                digest=image.digest,
                platform=image.platform,
            ),
            config_digest=image.config_descriptor.digest,
            layer_digests=tuple(layer.digest for layer in image.layers),
            top_diff_id=image.layers_diff_ids[-1],
        )


def docker_archive_metadata(image: ArchivedImage, repo_tags: Sequence[str]) -> dict[str, bytes]:
    """`oci-layout`, `index.json`, `manifest.json` and `repositories` of a one-image docker archive.

    With the image's blobs under `blobs/sha256/` they make the tarball `docker_archive` writes;
    a loader that streams blobs from disk adds them itself.
    """
    if isinstance(repo_tags, str):
        raise ValueError(f"repo_tags must be a list of 'name:tag' strings, got the string {repo_tags!r}")
    tags = [_split_repo_tag(t) for t in repo_tags]
    files = {"oci-layout": OCI_LAYOUT_FILE}
    # One index.json entry per tag (the name docker and containerd load it as), or one untagged.
    annotation_sets = [
        FrozenDict({ANNOTATION_CONTAINERD_IMAGE_NAME: full, ANNOTATION_REF_NAME: tag})
        for full, (_, tag) in zip(repo_tags, tags)
    ] or [FrozenDict()]
    descriptors = [
        Descriptor(
            media_type=image.manifest.media_type,
            size=image.manifest.size,
            digest=image.manifest.digest,
            platform=image.manifest.platform,
            annotations=annotations,
        )
        for annotations in annotation_sets
    ]
    files["index.json"] = _index_json(descriptors)
    # Docker writes these two with json.Encoder, which ends them with a newline.
    manifest_item = {
        "Config": blob_path(image.config_digest),
        "RepoTags": list(repo_tags) if repo_tags else None,
        "Layers": [blob_path(digest) for digest in image.layer_digests],
    }
    files["manifest.json"] = gojson.dumps([manifest_item]) + b"\n"
    if repo_tags:
        repositories: dict[str, dict[str, str]] = {}
        top_layer = digest_hex(image.top_diff_id)
        for name, tag in tags:
            repositories.setdefault(name, {})[tag] = top_layer
        files["repositories"] = (
            gojson.dumps({name: gojson.sorted_map(t) for name, t in sorted(repositories.items())}) + b"\n"
        )
    return files


def docker_archive(image: BuiltImage, base_blobs: Mapping[str, bytes], repo_tags: Sequence[str]) -> bytes:
    """A `docker save`-style tarball (Docker 25+ shape) of one image, for `docker load`.

    Layers are stored compressed, under their blob digests, and `manifest.json` points at
    them; `docker load` and skopeo decompress them and check the config's diffIDs.
    """
    metadata = docker_archive_metadata(ArchivedImage.of(image), repo_tags)
    files = _image_files(image, base_blobs, allow_missing_base_blobs=False)
    return _tar_bytes({**files, **metadata})


def _platform_tag(tag: str, platform: Platform) -> str:
    parts = [tag, platform.os, platform.architecture] + ([platform.variant] if platform.variant else [])
    return "-".join(parts)


def docker_archive_index_metadata(
    index: Descriptor, images: Sequence[ArchivedImage], repo_tags: Sequence[str]
) -> dict[str, bytes]:
    """`oci-layout`, `index.json`, `manifest.json` and `repositories` of the archive of an index
    (see `docker_archive_index`); `index` is the index's descriptor, `images` its children in order."""
    if isinstance(repo_tags, str):
        raise ValueError(f"repo_tags must be a list of 'name:tag' strings, got the string {repo_tags!r}")
    tags = [_split_repo_tag(t) for t in repo_tags]
    if not images:
        raise ValueError("the index has no children to archive")
    files: dict[str, bytes] = {"oci-layout": OCI_LAYOUT_FILE}
    descriptors = [
        Descriptor(
            media_type=index.media_type,
            size=index.size,
            digest=index.digest,
            annotations=FrozenDict({ANNOTATION_CONTAINERD_IMAGE_NAME: full, ANNOTATION_REF_NAME: tag}),
        )
        for full, (_, tag) in zip(repo_tags, tags)
    ] or [Descriptor(media_type=index.media_type, size=index.size, digest=index.digest)]
    files["index.json"] = _index_json(descriptors)
    items = []
    repositories: dict[str, dict[str, str]] = {}
    for position, image in enumerate(images):
        platform = image.manifest.platform
        if platform is None:
            raise ValueError(f"index child {image.manifest.digest} has no platform")
        image_tags = [f"{name}:{_platform_tag(tag, platform)}" for name, tag in tags]
        if position == 0:
            image_tags = list(repo_tags) + image_tags
        items.append(
            {
                "Config": blob_path(image.config_digest),
                "RepoTags": image_tags or None,
                "Layers": [blob_path(digest) for digest in image.layer_digests],
            }
        )
        top_layer = digest_hex(image.top_diff_id)
        for full in image_tags:
            name, tag = _split_repo_tag(full)
            repositories.setdefault(name, {})[tag] = top_layer
    files["manifest.json"] = gojson.dumps(items) + b"\n"
    if repositories:
        files["repositories"] = (
            gojson.dumps({name: gojson.sorted_map(t) for name, t in sorted(repositories.items())}) + b"\n"
        )
    return files


def docker_archive_index(index: BuiltIndex, base_blobs: Mapping[str, bytes], repo_tags: Sequence[str]) -> bytes:
    """A loadable tarball of a multi-platform image (ko cannot write one, ko issue 1708).

    It is an OCI image layout whose `index.json` names the whole index (what `docker load`
    with the containerd image store and `skopeo copy oci-archive:` read), plus a classic
    `manifest.json` with one entry per platform for older loaders: the first platform carries
    the plain tags, every platform also `<tag>-<os>-<arch>[-<variant>]`.
    """
    if not index.children:
        raise ValueError("the index has no children to archive")
    files: dict[str, bytes] = {blob_path(index.digest): index.manifest}
    for image in index.children:
        files.update(_image_files(image, base_blobs, allow_missing_base_blobs=False))
    files.update(
        docker_archive_index_metadata(index.descriptor, [ArchivedImage.of(i) for i in index.children], repo_tags)
    )
    return _tar_bytes(files)


def docker_archive_of_layout(files: Mapping[str, bytes], repo_tags: Sequence[str]) -> bytes:
    """The docker archive (`docker_archive` / `docker_archive_index`) of the image or index an
    OCI layout's `index.json` names, from the layout's files alone: package writes it beside the
    layout without keeping the in-memory image around. Every blob must be in `files`."""
    (top,) = ImageIndex.parse(files["index.json"], "layout index.json").manifests or ()

    def image(descriptor: Descriptor) -> BuiltImage:
        manifest_bytes = files[blob_path(descriptor.digest)]
        manifest = ImageManifest.parse(manifest_bytes, f"layout manifest {descriptor.digest}")
        config = files[blob_path(manifest.config.digest)]
        config_file = ConfigFile.parse(config, f"layout config {manifest.config.digest}")
        layers = tuple(manifest.layers or ())
        # As built: the index entry's platform, or (single image) the config's.
        platform = descriptor.platform or Platform(
            os=config_file.os,
            architecture=config_file.architecture,
            variant=config_file.variant or None,
            os_version=config_file.os_version or None,
            os_features=tuple(config_file.os_features or ()),
        )
        return BuiltImage(
            manifest=manifest_bytes,
            manifest_descriptor=Descriptor(
                media_type=descriptor.media_type, size=len(manifest_bytes), digest=descriptor.digest
            ),
            config=config,
            config_descriptor=manifest.config,
            layers=layers,
            layers_diff_ids=tuple(config_file.rootfs.diff_ids or ()),
            blobs=FrozenDict(
                {manifest.config.digest: config, **{layer.digest: files[blob_path(layer.digest)] for layer in layers}}
            ),
            platform=platform,
        )

    if top.media_type in INDEX_TYPES:
        index_bytes = files[blob_path(top.digest)]
        children = ImageIndex.parse(index_bytes, f"layout index {top.digest}").manifests or ()
        built = BuiltIndex(
            manifest=index_bytes,
            descriptor=Descriptor(media_type=top.media_type, size=len(index_bytes), digest=top.digest),
            children=tuple(image(child) for child in children),
        )
        return docker_archive_index(built, {}, repo_tags)
    return docker_archive(image(top), {}, repo_tags)


# --------------------------------------------------------------------------- reading


class LayoutError(KoError, ValueError):
    """The layout directory is missing something or holds inconsistent content."""


def _json_object(data: bytes, where: str) -> dict:
    try:
        value = json.loads(data)
    except ValueError as e:
        raise ValueError(f"{where} is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected a JSON object")
    return value


@dataclass(frozen=True)
class PushOrder:
    """Everything under one descriptor, in the order a registry accepts it.

    `blobs` (configs and layers, each once) go first; `manifests` then follow children before
    parents, ending with the top descriptor. `missing` are blobs the layout does not hold
    (base layers left out on purpose), which a pusher must mount or copy from elsewhere.
    """

    blobs: tuple[Descriptor, ...]
    manifests: tuple[Descriptor, ...]
    missing: tuple[Descriptor, ...]


@dataclass(frozen=True)
class OciLayout:
    """An OCI image layout directory on disk (see `read_layout`)."""

    root: Path

    @property
    def where(self) -> str:
        """How errors name the layout."""
        return f"OCI layout {self.root}"

    def index(self) -> ImageIndex:
        path = self.root / "index.json"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise LayoutError(f"{self.where}: no index.json") from None
        except OSError as e:
            raise LayoutError(f"{self.where}: cannot read index.json: {e.strerror}") from None
        try:
            return ImageIndex.parse(data, f"{self.where}: index.json")
        except ValueError as e:
            raise LayoutError(str(e)) from None

    def descriptors(self) -> tuple[Descriptor, ...]:
        return tuple(self.index().manifests or ())

    def top(self, ref_name: str | None = None) -> Descriptor:
        """The image manifest or index tagged `ref_name`, or the only one when no name is given."""
        descriptors = self.descriptors()
        names = ", ".join(sorted({d.annotations.get(ANNOTATION_REF_NAME, "") for d in descriptors} - {""})) or "none"
        if ref_name is None:
            if len(descriptors) != 1:
                raise LayoutError(
                    f"{self.where}: index.json lists {len(descriptors)} manifests; say which one by its ref name "
                    f"({ANNOTATION_REF_NAME}; names: {names})"
                )
            chosen = descriptors[0]
        else:
            matches = [d for d in descriptors if d.annotations.get(ANNOTATION_REF_NAME) == ref_name]
            if len(matches) != 1:
                raise LayoutError(
                    f"{self.where}: {'no' if not matches else 'more than one'} image named {ref_name!r} in index.json "
                    f"(names: {names})"
                )
            chosen = matches[0]
        if chosen.media_type not in INDEX_TYPES + IMAGE_MANIFEST_TYPES:
            raise LayoutError(
                f"{self.where}: index.json entry {chosen.digest} has unsupported media type {chosen.media_type!r}"
            )
        return chosen

    def blob_path(self, digest: str) -> Path:
        return self.root / blob_path(digest)

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def read_blob(self, digest: str, *, max_size: int | None = None) -> bytes:
        """The blob's bytes, checked against its digest (a corrupt layout is an error).

        `max_size` refuses a blob larger than that before reading it (for manifests and configs
        from layouts we did not write, so a wrong digest cannot make us read a layer into memory).
        """
        path = self.blob_path(digest)
        try:
            if max_size is not None and path.stat().st_size > max_size:
                raise LayoutError(
                    f"{self.where}: blob {digest} is {path.stat().st_size} bytes, larger than the {max_size}-byte limit"
                )
            data = path.read_bytes()
        except FileNotFoundError:
            raise LayoutError(f"{self.where}: blob {digest} is missing (expected at {path})") from None
        except OSError as e:
            raise LayoutError(f"{self.where}: cannot read blob {digest}: {e.strerror}") from None
        actual = digest_of(data)
        if actual != digest:
            raise LayoutError(f"{self.where}: blob {path.name} hashes to {actual}, not {digest}; the layout is corrupt")
        return data

    def image_manifest(self, digest: str) -> ImageManifest:
        return ImageManifest.parse(self.read_blob(digest), f"{self.blob_path(digest)} (image manifest)")

    def image_index(self, digest: str) -> ImageIndex:
        return ImageIndex.parse(self.read_blob(digest), f"{self.blob_path(digest)} (image index)")

    def media_type_of(self, descriptor: Descriptor) -> str:
        """The descriptor's media type, or the blob's own `mediaType` when the descriptor has none."""
        if descriptor.media_type:
            return descriptor.media_type
        value = _json_object(self.read_blob(descriptor.digest), str(self.blob_path(descriptor.digest)))
        media_type = value.get("mediaType")
        if not isinstance(media_type, str) or not media_type:
            raise ValueError(f"{self.blob_path(descriptor.digest)}: cannot tell whether it is an image or an index")
        return media_type

    def push_order(self, descriptor: Descriptor, *, max_depth: int = 4) -> PushOrder:
        """Blobs, then manifests (children before parents), for everything under `descriptor`."""
        blobs: dict[str, Descriptor] = {}
        missing: dict[str, Descriptor] = {}
        manifests: dict[str, Descriptor] = {}

        def visit(desc: Descriptor, depth: int) -> None:
            if depth > max_depth:
                raise ValueError(
                    f"{self.root}: indexes nested deeper than {max_depth} levels under {descriptor.digest}"
                )
            if desc.digest in manifests:
                return
            media_type = self.media_type_of(desc)
            if media_type in INDEX_TYPES:
                for child in self.image_index(desc.digest).manifests or ():
                    visit(child, depth + 1)
            elif media_type in IMAGE_MANIFEST_TYPES:
                manifest = self.image_manifest(desc.digest)
                for blob in (manifest.config, *(manifest.layers or ())):
                    if blob.digest in blobs or blob.digest in missing:
                        continue
                    if self.has_blob(blob.digest):
                        blobs[blob.digest] = blob
                    else:
                        missing[blob.digest] = blob
            else:
                raise ValueError(f"{self.root}: {desc.digest} has media type {media_type!r}, not an image or index")
            manifests[desc.digest] = desc

        visit(descriptor, 0)
        return PushOrder(tuple(blobs.values()), tuple(manifests.values()), tuple(missing.values()))


def read_layout(root: str | os.PathLike[str]) -> OciLayout:
    """Open an OCI image layout directory, checking `oci-layout` and `index.json` now (LayoutError)."""
    layout = OciLayout(Path(root))
    where = layout.where
    if not layout.root.is_dir():
        raise LayoutError(f"{where}: not a directory; pass the directory that holds oci-layout and index.json")
    try:
        version = json.loads((layout.root / "oci-layout").read_bytes()).get("imageLayoutVersion")
    except FileNotFoundError:
        raise LayoutError(f"{where}: no oci-layout file; this is not an OCI image layout") from None
    except OSError as e:
        raise LayoutError(f"{where}: cannot read oci-layout: {e.strerror}") from None
    except (ValueError, AttributeError):
        raise LayoutError(f'{where}: oci-layout is not the JSON object {{"imageLayoutVersion": "1.0.0"}}') from None
    if version != "1.0.0":
        raise LayoutError(f"{where}: imageLayoutVersion is {version!r}, only '1.0.0' is supported")
    layout.index()  # a missing or broken index.json is reported here, not at first use
    return layout
