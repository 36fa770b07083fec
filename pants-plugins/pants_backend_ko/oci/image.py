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
    "app_filename",
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

    `blobs` holds only what this build created (the two new layers and the config); base
    layers are referenced by `layers` and must be fetched or mounted from the base.
    `layers_diff_ids` is the config's `rootfs.diff_ids`, base layers first.
    """

    manifest: bytes
    manifest_descriptor: Descriptor
    config: bytes
    config_descriptor: Descriptor
    layers: tuple[Descriptor, ...]
    layers_diff_ids: tuple[str, ...]
    blobs: FrozenDict
    platform: Platform

    @property
    def digest(self) -> str:
        return self.manifest_descriptor.digest

    @property
    def media_type(self) -> str:
        return self.manifest_descriptor.media_type

    @property
    def base_layers(self) -> tuple[Descriptor, ...]:
        """Layers whose bytes are not in `blobs` (they come from the base image)."""
        return tuple(layer for layer in self.layers if layer.digest not in self.blobs)


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
    user: str | None = None,
    env: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    entrypoint: Sequence[str] | None = None,
    args: Sequence[str] | None = None,
    workdir: str | None = None,
    ports: Sequence[str] | None = None,
    volumes: Sequence[str] | None = None,
) -> BuiltImage:
    """ko's `buildOne` on `base` for `platform` (see the module docstring for the exact edits).

    `binaries` are (name, bytes) pairs placed at `/ko-app/<name>`; the first one is the
    entrypoint unless `entrypoint` is given. `import_path` appears in the history entries as
    `ko build ko://<import_path>`.
    """
    if platform.os == "windows":
        raise ValueError(f"platform {platform}: Windows images (Hives/Files layout) are not supported")
    binaries = [(name, bytes(data)) for name, data in binaries]
    if not binaries:
        raise ValueError(f"{import_path}: build_image needs at least one binary")
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

    # 1. Layers: kodata, then the app binaries (ko's order).
    kodata_tar = kodata_layer_tar(kodata_files or {}, kodata_dirs, epoch=kodata_date_epoch or 0)
    app_tar = app_layer_tar_multi(binaries)
    layer_media_type = base.layer_media_type
    new_layers = []
    blobs: dict[str, bytes] = {}
    diff_ids = []
    for tar in (kodata_tar, app_tar):
        compressed = gzip_layer(tar)
        digest = digest_of(compressed)
        blobs[digest] = compressed
        new_layers.append(Descriptor(media_type=layer_media_type, size=len(compressed), digest=digest))
        diff_ids.append(digest_of(tar))

    # 2. Config edits (buildOne).
    ref = ko_reference(import_path)
    app_paths = [f"{APP_DIR}/{name}" for name, _ in binaries]
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
    container = config_file.config
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
        entrypoint=entrypoint_override if entrypoint_override is not None else (app_paths[0],),
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
    layers = tuple(base.layers) + tuple(new_layers)
    manifest = ImageManifest(
        schema_version=2,
        media_type="" if base.omit_media_type_field else base.media_type,
        config=config_descriptor,
        layers=layers,
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
        layers=layers,
        layers_diff_ids=tuple(config_file.rootfs.diff_ids or ()),
        blobs=FrozenDict(blobs),
        platform=platform,
    )


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
