"""Build ko's image (and index) from a base, Go binaries and kodata — pure, in memory.

`build_image` follows ko's `Build` and `buildOne` (ko's `pkg/build/gobuild.go`) step by step:

1. two new layers, kodata then app, typed after the base manifest's family (OCI or Docker);
2. the base config decoded into ggcr's struct model (`configfile.py`) and edited: Entrypoint
   `/ko-app/<name>`, Cmd cleared, PATH gets `:/ko-app` (or `PATH=/ko-app`),
   `KO_DATA_PATH=/var/run/ko` appended, author `github.com/ko-build/ko`, labels merged,
   `created` set only when SOURCE_DATE_EPOCH is given, one history entry per new layer;
3. the manifest: base layers then the new ones, base manifest annotations merged with the
   user's and `org.opencontainers.image.base.{name,digest}`.

Extensions beyond ko (all optional): `args` become Cmd, `entrypoint` replaces ko's, `workdir`
sets WorkingDir, `env` is appended after KO_DATA_PATH (an entry for the same variable is
removed first, so the user's value is the only one), several binaries may share `/ko-app`,
`ports` and `volumes` are added to the base's `ExposedPorts` and `Volumes` (ko issue 472; keys
as `configfile.exposed_ports`/`volume_paths` check them, written as ggcr's `v1.Config` does).

Deliberate difference: times from SOURCE_DATE_EPOCH/KO_DATA_DATE_EPOCH are written in UTC
(`1970-01-01T00:00:00Z`); ko writes them in the build machine's local time zone (`time.Unix`), which
makes its config bytes depend on TZ.

`build_index` makes the index of several built images, like ko's `buildAll`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pants_backend_ko.golang import gopath
from pants_backend_ko.golang.frozendict import FrozenDict
from pants_backend_ko.golang.gotime import ZERO_TIME, unix_utc_json
from pants_backend_ko.oci.base import BaseImage
from pants_backend_ko.oci.configfile import History, exposed_ports, volume_paths
from pants_backend_ko.oci.digest import digest_of
from pants_backend_ko.oci.layers import (
    APP_DIR,
    KODATA_ROOT,
    app_layer_tar_multi,
    gzip_layer,
    kodata_layer_tar,
)
from pants_backend_ko.oci.manifest import Descriptor, ImageIndex, ImageManifest
from pants_backend_ko.oci.mediatypes import INDEX_TYPES, OCI_INDEX
from pants_backend_ko.oci.naming import ko_reference, strip_ko_scheme
from pants_backend_ko.oci.platform import Platform

__all__ = [
    "AUTHOR",
    "ANNOTATION_BASE_NAME",
    "ANNOTATION_BASE_DIGEST",
    "BuiltImage",
    "BuiltIndex",
    "NewLayer",
    "app_filename",
    "assemble_image",
    "base_index_digest",
    "build_image",
    "build_index",
    "digest_of",
]

AUTHOR = "github.com/ko-build/ko"
ANNOTATION_BASE_NAME = "org.opencontainers.image.base.name"
ANNOTATION_BASE_DIGEST = "org.opencontainers.image.base.digest"


@dataclass(frozen=True)
class BuiltImage:
    """One built single-platform image.

    `blobs` holds the bytes this build created and keeps in memory: the config, and the new
    layers when they were made in memory (`build_image`); layers written by the Go layer
    writer (`assemble_image`) are files elsewhere. The first `base_layer_count` of `layers` are
    the base's, fetched or mounted from it. `layers_diff_ids` is the config's
    `rootfs.diff_ids`, base layers first.
    """

    manifest: bytes
    manifest_descriptor: Descriptor
    config: bytes
    config_descriptor: Descriptor
    layers: tuple[Descriptor, ...]
    layers_diff_ids: tuple[str, ...]
    blobs: FrozenDict
    platform: Platform
    base_layer_count: int = 0

    @property
    def digest(self) -> str:
        return self.manifest_descriptor.digest

    @property
    def media_type(self) -> str:
        return self.manifest_descriptor.media_type

    @property
    def base_layers(self) -> tuple[Descriptor, ...]:
        """The base image's layers (their bytes come from the base)."""
        return self.layers[: self.base_layer_count]


@dataclass(frozen=True)
class BuiltIndex:
    """An image index over built images; `children` are in index order."""

    manifest: bytes
    descriptor: Descriptor
    children: tuple[BuiltImage, ...] = field(default=())

    @property
    def digest(self) -> str:
        return self.descriptor.digest

    @property
    def media_type(self) -> str:
        return self.descriptor.media_type


def app_filename(import_path: str) -> str:
    """ko's binary name (`appFilename`): the last element of the import path, `ko-app` when there is none."""
    base = gopath.base(strip_ko_scheme(import_path))  # ko's appFilename: filepath.Base, ko-app when it gives nothing
    return base if base not in (".", "/") else "ko-app"


def _strings(values: Sequence[str] | None, what: str) -> tuple[str, ...] | None:
    if values is None:
        return None
    if isinstance(values, (str, bytes)):
        raise ValueError(f"{what}: expected a list of strings, got the single value {values!r}")
    out = tuple(values)
    for value in out:
        if not isinstance(value, str):
            raise ValueError(f"{what}: expected strings, got {value!r}")
    return out


def _string_map(mapping: Mapping[str, str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (mapping or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ValueError(f"{what}: keys and values must be strings, got {key!r}: {value!r}")
        out[key] = value
    return out


def _env_key(entry: str) -> str | None:
    key, sep, _ = entry.partition("=")
    return key if sep else None


def _update_path(env: list[str], app_dir: str) -> None:
    """ko's updatePath: append `:<app_dir>` to the first PATH entry, else add `PATH=<app_dir>`."""
    for i, entry in enumerate(env):
        if _env_key(entry) == "PATH":
            env[i] = f"{entry}:{app_dir}"
            return
    env.append(f"PATH={app_dir}")


def _check_epoch(value: int | None, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative number of seconds since 1970, got {value!r}")
    return value


@dataclass(frozen=True)
class NewLayer:
    """A layer this build made: its blob's digest and size, and its diffID (sha256 of the tar)."""

    digest: str
    diff_id: str
    size: int


def build_image(
    base: BaseImage,
    *,
    platform: Platform,
    import_path: str,
    binaries: Sequence[tuple[str, bytes]],
    kodata_files: Mapping[str, bytes] | None = None,
    kodata_dirs: Iterable[str] = (),
    source_date_epoch: int | None = None,
    kodata_date_epoch: int | None = None,
    **config: Any,
) -> BuiltImage:
    """ko's `buildOne` on `base` for `platform`, with the two layers made in memory.

    `binaries` are (name, bytes) pairs placed at `/ko-app/<name>`; the layers are made by
    `layers.py` (whose gzip is zlib's, not Go's: the diffIDs are ko's, the blob digests not).
    Builds from Pants write the layers with the Go layer writer instead (`assemble_image`);
    this serves images made in memory (test fixtures, the pure core on its own). `config` takes
    `assemble_image`'s keyword arguments.
    """
    binaries = [(name, bytes(data)) for name, data in binaries]
    if not binaries:
        raise ValueError(f"{import_path}: build_image needs at least one binary")
    _check_epoch(source_date_epoch, "SOURCE_DATE_EPOCH")
    kodata_date_epoch = _check_epoch(kodata_date_epoch, "KO_DATA_DATE_EPOCH")
    blobs: dict[str, bytes] = {}
    layers = []
    for tar in (
        kodata_layer_tar(kodata_files or {}, kodata_dirs, epoch=kodata_date_epoch or 0),
        app_layer_tar_multi(binaries),
    ):
        compressed = gzip_layer(tar)
        blobs[digest_of(compressed)] = compressed
        layers.append(NewLayer(digest_of(compressed), digest_of(tar), len(compressed)))
    return assemble_image(
        base,
        platform=platform,
        import_path=import_path,
        binary_names=[name for name, _ in binaries],
        layers=layers,
        layer_blobs=blobs,
        source_date_epoch=source_date_epoch,
        kodata_date_epoch=kodata_date_epoch,
        **config,
    )


DELVE_PATH = f"{APP_DIR}/dlv"
# ko's `delveArgs` (pkg/build/gobuild.go); the program's path follows.
DELVE_ARGS = ("exec", "--listen=:40000", "--headless", "--log", "--accept-multiclient", "--api-version=2", "--")


def assemble_image(
    base: BaseImage,
    *,
    platform: Platform,
    import_path: str,
    binary_names: Sequence[str],
    layers: Sequence[NewLayer],
    layer_blobs: Mapping[str, bytes] | None = None,
    source_date_epoch: int | None = None,
    kodata_date_epoch: int | None = None,
    user: str | None = None,
    env: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    entrypoint: Sequence[str] | None = None,
    args: Sequence[str] | None = None,
    workdir: str | None = None,
    debug: bool = False,
    ports: Sequence[str] | None = None,
    volumes: Sequence[str] | None = None,
) -> BuiltImage:
    """ko's `buildOne` on `base` for `platform` (see the module docstring for the exact edits),
    given its two new layers, already written: the kodata layer, then the app layer.

    `debug` (ko's `--debug`): a third layer holds Delve at `/ko-app/dlv`, and the entrypoint
    runs the program under it (`DELVE_ARGS`, as ko writes them).

    `binary_names` are the files of the app layer, at `/ko-app/<name>`; the first one is the
    entrypoint unless `entrypoint` is given. `import_path` appears in the history entries as
    `ko build ko://<import_path>`. `layer_blobs` are the layers' bytes when they are in memory.
    """
    if platform.os == "windows":
        raise ValueError(f"platform {platform}: Windows images (Hives/Files layout) are not supported")
    if not binary_names:
        raise ValueError(f"{import_path}: an image needs at least one binary")
    if len(layers) != (3 if debug else 2):
        raise ValueError(
            f"{import_path}: ko's images add two layers (kodata, app) and a debug image Delve's, got {len(layers)}"
        )
    source_date_epoch = _check_epoch(source_date_epoch, "SOURCE_DATE_EPOCH")
    kodata_date_epoch = _check_epoch(kodata_date_epoch, "KO_DATA_DATE_EPOCH")
    user_env = _string_map(env, "env")
    for key in user_env:
        if not key or "=" in key:
            raise ValueError(f"env: variable name {key!r} must be non-empty and contain no '='")
    user_labels = _string_map(labels, "labels")
    user_annotations = _string_map(annotations, "annotations")
    entrypoint_override = _strings(entrypoint, "entrypoint")
    cmd = _strings(args, "args")
    if user is not None and not isinstance(user, str):
        raise ValueError(f"user must be a string like '65532' or 'nonroot:nonroot', got {user!r}")
    if workdir is not None and (not isinstance(workdir, str) or not workdir.startswith("/")):
        raise ValueError(f"workdir must be an absolute path like '/data', got {workdir!r}")
    port_keys = exposed_ports(ports or ())
    volume_keys = volume_paths(volumes or ())

    config_file = base.config_file()
    # ko refuses a single-image base whose platform differs from the one asked for (buildAll).
    base_platform = config_file.platform
    if (base_platform.os and base_platform.os != platform.os) or (
        base_platform.architecture and base_platform.architecture != platform.architecture
    ):
        raise ValueError(
            f"base image {base.name or '(scratch)'} is {base_platform.os or '?'}/{base_platform.architecture or '?'}, "
            f"not {platform.os}/{platform.architecture}; pick a base for that platform"
        )
    base_diff_ids = config_file.rootfs.diff_ids or ()
    if len(base_diff_ids) != len(base.layers):
        raise ValueError(
            f"base image {base.name or '(scratch)'} is inconsistent: its config lists {len(base_diff_ids)} "
            f"diff_ids but its manifest {len(base.layers)} layers"
        )

    # 1. Layers: kodata, then the app binaries (ko's order), typed after the base.
    new_layers = [
        Descriptor(media_type=base.layer_media_type, size=layer.size, digest=layer.digest) for layer in layers
    ]
    diff_ids = [layer.diff_id for layer in layers]
    blobs: dict[str, bytes] = {}
    for layer in layers:
        if layer_blobs and layer.digest in layer_blobs:
            blobs[layer.digest] = layer_blobs[layer.digest]

    # 2. Config edits (buildOne).
    ref = ko_reference(import_path)
    app_paths = [f"{APP_DIR}/{name}" for name in binary_names]
    history = list(config_file.history or ())
    history.append(
        History(
            author="ko",
            created=unix_utc_json(kodata_date_epoch, "KO_DATA_DATE_EPOCH")
            if kodata_date_epoch is not None
            else ZERO_TIME,
            created_by=f"ko build {ref}",
            comment="kodata contents, at $KO_DATA_PATH",
        )
    )
    history.append(
        History(
            author="ko",
            created=unix_utc_json(source_date_epoch, "SOURCE_DATE_EPOCH")
            if source_date_epoch is not None
            else ZERO_TIME,
            created_by=f"ko build {ref}",
            comment="go build output, at " + ", ".join(app_paths),
        )
    )
    if debug:
        history.append(dataclasses.replace(history[-1], comment="Delve debugger, at " + DELVE_PATH))
    container = config_file.config
    program = entrypoint_override if entrypoint_override is not None else (app_paths[0],)
    env_list = list(container.env or ())
    _update_path(env_list, APP_DIR)
    env_list.append(f"KO_DATA_PATH={KODATA_ROOT}")
    for key, value in user_env.items():
        env_list = [entry for entry in env_list if _env_key(entry) != key]
        env_list.append(f"{key}={value}")
    merged_labels = dict(container.labels or {})
    merged_labels.update(user_labels)
    container = dataclasses.replace(
        container,
        entrypoint=(DELVE_PATH, *DELVE_ARGS, *program) if debug else program,
        cmd=cmd if cmd else None,  # ko always clears Cmd; `args` is our extension
        env=tuple(env_list),
        labels=FrozenDict(merged_labels),
        user=user if user else container.user,
        working_dir=workdir if workdir else container.working_dir,
        exposed_ports=tuple(sorted({*(container.exposed_ports or ()), *port_keys})) or container.exposed_ports,
        volumes=tuple(sorted({*(container.volumes or ()), *volume_keys})) or container.volumes,
    )
    config_file = dataclasses.replace(
        config_file,
        author=AUTHOR,
        created=unix_utc_json(source_date_epoch, "SOURCE_DATE_EPOCH")
        if source_date_epoch is not None
        else config_file.created,
        history=tuple(history),
        rootfs=dataclasses.replace(
            config_file.rootfs, diff_ids=tuple(config_file.rootfs.diff_ids or ()) + tuple(diff_ids)
        ),
        config=container,
    )
    config_bytes = config_file.to_bytes()
    config_digest = digest_of(config_bytes)
    blobs[config_digest] = config_bytes
    config_descriptor = Descriptor(
        media_type=base.effective_config_media_type,
        size=len(config_bytes),
        digest=config_digest,
        # ggcr refreshes inline config data only when the base manifest carried it.
        data=config_bytes if base.config_data_inline else None,
    )

    # 3. Manifest: base annotations first, then the user's, then base name/digest.
    manifest_annotations = dict(base.manifest_annotations)
    manifest_annotations.update(user_annotations)
    if base.name:
        if base.digest:
            manifest_annotations[ANNOTATION_BASE_DIGEST] = base.digest
        manifest_annotations[ANNOTATION_BASE_NAME] = base.name
    manifest_layers = tuple(base.layers) + tuple(new_layers)
    manifest = ImageManifest(
        schema_version=2,
        media_type="" if base.omit_media_type_field else base.media_type,
        config=config_descriptor,
        layers=manifest_layers,
        annotations=FrozenDict(manifest_annotations) if manifest_annotations else None,
        artifact_type=base.manifest_artifact_type or "",
    )
    manifest_bytes = manifest.to_bytes()
    manifest_descriptor = Descriptor(
        media_type=base.media_type, size=len(manifest_bytes), digest=digest_of(manifest_bytes)
    )
    return BuiltImage(
        manifest=manifest_bytes,
        manifest_descriptor=manifest_descriptor,
        config=config_bytes,
        config_descriptor=config_descriptor,
        layers=manifest_layers,
        layers_diff_ids=tuple(config_file.rootfs.diff_ids or ()),
        blobs=FrozenDict(blobs),
        platform=platform,
        base_layer_count=len(base.layers),
    )


def base_index_digest(index_manifest: bytes, media_type: str, annotations: Mapping[str, str]) -> str:
    """The `org.opencontainers.image.base.digest` ko writes on an index built on a base index.

    ko's `Build` (`pkg/build/gobuild.go`) first annotates an OCI base index with the user's
    annotations and the base's own name and digest (`mutate.Annotations`), and `buildAll` then
    takes the digest of that annotated index: a digest of ggcr's re-encoding of the base index
    with those annotations merged in (and no subject), which no registry holds. A Docker
    manifest list is not annotated first, so its own digest is written. `annotations` are the
    ones ko merges in (the user's, base name and base digest).
    """
    digest = digest_of(index_manifest)
    if media_type != OCI_INDEX:
        return digest
    index = ImageIndex.parse(index_manifest, "base index")
    merged = dict(index.annotations or {})
    merged.update(_string_map(annotations, "base index annotations"))
    annotated = dataclasses.replace(index, annotations=FrozenDict(merged), subject=None)
    return digest_of(annotated.to_bytes())


def build_index(
    children: Sequence[tuple[BuiltImage, Platform]],
    *,
    media_type: str = OCI_INDEX,
    annotations: Mapping[str, str] | None = None,
    base_descriptors: Sequence[Descriptor | None] | None = None,
    child_artifact_type: bool = True,
) -> BuiltIndex:
    """An index over `children`, in the given order, each descriptor carrying its platform.

    Like ko (an empty index plus ggcr's `mutate.AppendManifests`): each entry is the child's
    mediaType, size and digest, the platform, and `artifactType` = the child's config media type
    (ggcr >= v0.21.6 adds it, and ko's HEAD pins v0.21.9). `base_descriptors`, aligned with
    `children`, are the matching base index entries whose `urls`/`annotations` ko copies.
    Index-level `annotations` are written as given (ko: user annotations plus base name/digest).

    `child_artifact_type=False` leaves `artifactType` out, as ggcr before v0.21.6 (ko v0.19.0 and
    older) did. Tools built on containers/image 5.23 (skopeo 1.9, Debian bookworm) drop the
    field when they re-serialize an index, so they cannot copy a ko-style index with
    `--preserve-digests`; without that flag they copy it but rewrite the index digest.
    """
    if media_type not in INDEX_TYPES:
        raise ValueError(f"index media type {media_type!r} must be one of {', '.join(INDEX_TYPES)}")
    if not children:
        raise ValueError("an index needs at least one image")
    if base_descriptors is not None and len(base_descriptors) != len(children):
        raise ValueError("base_descriptors must have one entry (or None) per child image")
    entries = []
    seen: set[tuple[str, str]] = set()
    for i, (image, platform) in enumerate(children):
        key = (image.digest, str(platform))
        if key in seen:
            raise ValueError(f"index: image {image.digest} for {platform} is listed twice")
        seen.add(key)
        base_desc = base_descriptors[i] if base_descriptors is not None else None
        entries.append(
            Descriptor(
                media_type=(base_desc.media_type if base_desc and base_desc.media_type else image.media_type),
                size=image.manifest_descriptor.size,
                digest=image.digest,
                urls=base_desc.urls if base_desc else (),
                annotations=base_desc.annotations if base_desc else FrozenDict(),
                platform=platform,
                artifact_type=image.config_descriptor.media_type if child_artifact_type else None,
            )
        )
    index_annotations = _string_map(annotations, "index annotations")
    index = ImageIndex(
        schema_version=2,
        media_type=media_type,
        manifests=tuple(entries),
        annotations=FrozenDict(index_annotations) if index_annotations else None,
    )
    manifest = index.to_bytes()
    return BuiltIndex(
        manifest=manifest,
        descriptor=Descriptor(media_type=media_type, size=len(manifest), digest=digest_of(manifest)),
        children=tuple(image for image, _ in children),
    )
