"""Docker archives (`docker save` tarballs) to and from OCI image layouts, streamed.

- `layout_archive` streams the docker archive of one image of an OCI layout on disk, for
  `POST /images/load`: the layout's blobs (read from disk as the tar is written, never all in
  memory) plus `manifest.json`, `repositories` and an OCI `index.json`
  (`pants_backend_ko.oci.layout.docker_archive_metadata`, the shape `package`'s `.tar` has).
  go-containerregistry's `pkg/v1/tarball` `Write` is what ko streams; Docker, podman and skopeo
  read both shapes.
- `layout_from_archive` reads what `GET /images/{name}/get` answers, the shape of Docker
  before 25 (`<id>/layer.tar`, `<config hex>.json`), of podman (`<diffid hex>.tar`, with
  symlinks) or of Docker 25+ (`blobs/sha256/<hex>`), into an OCI layout that a base image can
  come from. Like go-containerregistry's `pkg/v1/tarball` `Image` (`image.go`), which ko uses
  for a `ko.local/...` base: the config's bytes are kept as they are (so the image ID is
  unchanged), uncompressed layers are gzip'd, and the manifest is Docker schema 2
  (`partial.UncompressedToImage`: Docker manifest, config and layer media types). Every
  layer's diffID is checked against the config; a layout is only written whole (built in a
  temporary folder beside it, then renamed).

No Pants imports here.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pants_backend_ko.errors import KoError
from pants_backend_ko.golang import gojson
from pants_backend_ko.golang.frozendict import FrozenDict
from pants_backend_ko.oci.configfile import ConfigFile
from pants_backend_ko.oci.digest import digest_of
from pants_backend_ko.oci.layers import gzip_layer_stream
from pants_backend_ko.oci.layout import (
    ANNOTATION_REF_NAME,
    OCI_LAYOUT_FILE,
    ArchivedImage,
    OciLayout,
    blob_path,
    docker_archive_metadata,
    tar_stream,
)
from pants_backend_ko.oci.manifest import Descriptor, ImageManifest
from pants_backend_ko.oci.mediatypes import DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, OCI_INDEX

__all__ = ["ArchiveError", "SavedImage", "layout_archive", "layout_from_archive"]

_MAX_JSON = 8 << 20  # manifest.json and the config; anything larger is not what docker save writes
_CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class ArchiveError(KoError, ValueError):
    """A docker archive cannot be read (or a layout cannot be archived); one line."""


# --------------------------------------------------------------------------- layout -> archive


def layout_archive(layout: OciLayout, image: Descriptor, repo_tags: Sequence[str]) -> Iterator[bytes]:
    """The docker archive of the image manifest `image` of `layout`, tagged `repo_tags`.

    Everything is checked before the first byte is produced (manifest and config against their
    digests, every layer present), so a load never starts on an archive that cannot finish.
    """
    manifest = layout.image_manifest(image.digest)
    config = ConfigFile.parse(
        layout.read_blob(manifest.config.digest, max_size=_MAX_JSON), f"{layout.where}: config {manifest.config.digest}"
    )
    layers = tuple(manifest.layers or ())
    diff_ids = tuple(config.rootfs.diff_ids or ())
    if not layers or len(diff_ids) != len(layers):
        raise ArchiveError(
            f"{layout.where}: image {image.digest} has {len(layers)} layers but its config lists {len(diff_ids)} "
            "diffIDs; a Docker daemon loads only images with layers that match their config"
        )
    for layer in layers:
        if not layout.has_blob(layer.digest):
            raise ArchiveError(
                f"{layout.where}: layer {layer.digest} of image {image.digest} is not in the layout (a base layer "
                "left out by [ko].shallow_base_images?); a Docker daemon needs every layer: package without "
                "shallow base images"
            )
    archived = ArchivedImage(
        manifest=Descriptor(
            media_type=image.media_type or manifest.media_type or DOCKER_MANIFEST,
            size=layout.blob_path(image.digest).stat().st_size,
            digest=image.digest,
            platform=image.platform or config.platform,
        ),
        config_digest=manifest.config.digest,
        layer_digests=tuple(layer.digest for layer in layers),
        top_diff_id=diff_ids[-1],
    )
    files: dict[str, bytes | Path] = {
        blob_path(digest): layout.blob_path(digest)
        for digest in (image.digest, manifest.config.digest, *archived.layer_digests)
    }
    files.update(docker_archive_metadata(archived, repo_tags))
    return tar_stream(files)


# --------------------------------------------------------------------------- archive -> layout


@dataclass(frozen=True)
class SavedImage:
    """The image `layout_from_archive` wrote: its manifest descriptor (as in `index.json`)."""

    descriptor: Descriptor
    config_digest: str
    diff_ids: tuple[str, ...]


@dataclass(frozen=True)
class _Member:
    path: Path  # where its bytes were written
    digest: str
    size: int
    head: bytes  # the first bytes, to tell gzip/zstd from a plain tar


def _receive(tar: tarfile.TarFile, incoming: Path, where: str) -> tuple[dict[str, _Member], dict[str, str]]:
    """Every regular file of the stream written to `incoming` (by position, never by its name)."""
    members: dict[str, _Member] = {}
    links: dict[str, str] = {}
    for position, info in enumerate(tar):
        name = posixpath.normpath(info.name.lstrip("/"))
        if info.issym():
            links[name] = posixpath.normpath(posixpath.join(posixpath.dirname(name), info.linkname))
        elif info.islnk():
            links[name] = posixpath.normpath(info.linkname.lstrip("/"))
        elif info.isfile():
            source = tar.extractfile(info)
            assert source is not None
            target = incoming / str(position)
            digest, size, head = hashlib.sha256(), 0, b""
            with target.open("wb") as out:
                while chunk := source.read(_CHUNK):
                    if len(head) < 8:
                        head += chunk[: 8 - len(head)]
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            if size != info.size:
                raise ArchiveError(f"{where}: {name} ends after {size} of its {info.size} bytes")
            members[name] = _Member(target, "sha256:" + digest.hexdigest(), size, head)
    return members, links


def _resolve(name: str, members: dict[str, _Member], links: dict[str, str], where: str) -> _Member:
    seen: list[str] = []
    current = posixpath.normpath(name.lstrip("/"))
    while current in links and len(seen) < 16:
        seen.append(current)
        current = links[current]
    member = members.get(current)
    if member is None:
        raise ArchiveError(f"{where}: the archive has no file {name!r} (which manifest.json names)")
    return member


def _small_json(member: _Member, name: str, where: str) -> tuple[bytes, object]:
    if member.size > _MAX_JSON:
        raise ArchiveError(f"{where}: {name} is {member.size} bytes, more than {_MAX_JSON} allowed")
    data = member.path.read_bytes()
    try:
        return data, json.loads(data)
    except ValueError:
        raise ArchiveError(f"{where}: {name} is not JSON") from None


def _manifest_entry(value: object, ref: str, where: str) -> dict:
    entries = [e for e in value if isinstance(e, dict)] if isinstance(value, list) else []
    if not entries:
        raise ArchiveError(f"{where}: manifest.json lists no image")
    if len(entries) > 1:
        entries = [e for e in entries if ref in (e.get("RepoTags") or ())]
        if len(entries) != 1:
            raise ArchiveError(f"{where}: manifest.json lists several images and not exactly one is tagged {ref}")
    entry = entries[0]
    if not isinstance(entry.get("Config"), str) or not isinstance(entry.get("Layers"), list):
        raise ArchiveError(f"{where}: manifest.json's entry has no Config file name or no Layers list")
    return entry


def _gunzip_digest(path: Path, where: str) -> str:
    """sha256 of the decompressed bytes of a gzip file (its diffID), every gzip member included."""
    digest = hashlib.sha256()
    decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
    try:
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                while chunk:
                    digest.update(decompressor.decompress(chunk))
                    chunk = decompressor.unused_data
                    if chunk:  # another gzip member follows (Go's gzip reader reads them all too)
                        decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
        digest.update(decompressor.flush())
    except zlib.error as e:
        raise ArchiveError(f"{where}: a gzip'd layer is corrupt: {e}") from None
    if not decompressor.eof:
        raise ArchiveError(f"{where}: a gzip'd layer ends before its gzip stream does")
    return "sha256:" + digest.hexdigest()


def _gzip_file(source: Path, target: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0

    def chunks() -> Iterator[bytes]:
        with source.open("rb") as f:
            while chunk := f.read(_CHUNK):
                yield chunk

    with target.open("wb") as out:
        for piece in gzip_layer_stream(chunks()):
            digest.update(piece)
            size += len(piece)
            out.write(piece)
    return "sha256:" + digest.hexdigest(), size


def _layer_blob(member: _Member, name: str, index: int, expected: str, work: Path, where: str) -> Descriptor:
    """The layer as a gzip'd blob in `work`, checked against the config's diffID."""
    if member.head.startswith(_ZSTD_MAGIC):
        raise ArchiveError(f"{where}: layer {name} is zstd-compressed, which ko's images cannot carry")
    if member.head.startswith(_GZIP_MAGIC):
        diff_id = _gunzip_digest(member.path, where)
        blob, digest, size = member.path, member.digest, member.size
    else:
        diff_id = member.digest
        blob = work / f"layer-{index}.gz"
        digest, size = _gzip_file(member.path, blob)
    if diff_id != expected:
        raise ArchiveError(
            f"{where}: layer {index} ({name}) has diffID {diff_id} but the image config says {expected}; "
            "the archive is corrupt"
        )
    os.replace(blob, work / "blobs" / "sha256" / digest.split(":", 1)[1])
    return Descriptor(media_type=DOCKER_LAYER_GZIP, size=size, digest=digest)


def layout_from_archive(
    stream: BinaryIO, out: Path, *, ref: str, where: str, replace_config: bytes | None = None
) -> SavedImage:
    """Read a `docker save` tarball from `stream` into a new OCI layout folder `out`.

    `ref` is the name the archive was saved as (it picks the image when the archive holds
    several); a tag in it becomes the layout's `org.opencontainers.image.ref.name`.
    `replace_config` replaces the archive's config in the layout (ko's view of a daemon image, `image.py`); its
    diffIDs must be the archive's.
    """
    out = Path(out)
    if out.exists():
        raise ArchiveError(f"{out} already exists; give a new folder for the image's layout")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        incoming = work / "incoming"
        incoming.mkdir()
        (work / "blobs" / "sha256").mkdir(parents=True)
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                members, links = _receive(tar, incoming, where)
        except tarfile.TarError as e:
            raise ArchiveError(f"{where}: not a readable tar: {e}") from None
        _, listing = _small_json(_resolve("manifest.json", members, links, where), "manifest.json", where)
        entry = _manifest_entry(listing, ref, where)
        config_member = _resolve(entry["Config"], members, links, where)
        config_bytes, _ = _small_json(config_member, entry["Config"], where)
        config = ConfigFile.parse(config_bytes, f"{where}: {entry['Config']}")
        diff_ids = tuple(config.rootfs.diff_ids or ())
        names = [str(name) for name in entry["Layers"]]
        if len(names) != len(diff_ids):
            raise ArchiveError(
                f"{where}: manifest.json lists {len(names)} layers but the config has {len(diff_ids)} diffIDs"
            )
        layers = tuple(
            _layer_blob(_resolve(name, members, links, where), name, i, diff_ids[i], work, where)
            for i, name in enumerate(names)
        )
        if replace_config is not None:
            config = ConfigFile.parse(replace_config, f"{where}: the config to write")
            if tuple(config.rootfs.diff_ids or ()) != diff_ids:
                raise ArchiveError(f"{where}: the image's diffIDs changed while it was read; run again")
            config_bytes = replace_config
        config_descriptor = Descriptor(media_type=DOCKER_CONFIG, size=len(config_bytes), digest=digest_of(config_bytes))
        manifest = ImageManifest(
            schema_version=2, media_type=DOCKER_MANIFEST, config=config_descriptor, layers=layers
        ).to_bytes()
        descriptor = Descriptor(
            media_type=DOCKER_MANIFEST,
            size=len(manifest),
            digest=digest_of(manifest),
            annotations=FrozenDict(_ref_name(ref)),
            platform=config.platform,
        )
        for digest, data in ((config_descriptor.digest, config_bytes), (descriptor.digest, manifest)):
            (work / blob_path(digest)).write_bytes(data)
        (work / "oci-layout").write_bytes(OCI_LAYOUT_FILE)
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor.to_json()]}
        (work / "index.json").write_bytes(gojson.dumps(index))
        shutil.rmtree(incoming)
        os.rename(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return SavedImage(descriptor=descriptor, config_digest=config_descriptor.digest, diff_ids=diff_ids)


def _ref_name(ref: str) -> dict[str, str]:
    """`{ref.name: tag}` for `name:tag` (the OCI convention), nothing for an ID or digest."""
    if "@" in ref:
        return {}
    name, colon, tag = ref.rpartition(":")
    if not colon or "/" in tag or ref.startswith("sha256:"):
        return {}
    return {ANNOTATION_REF_NAME: tag}
