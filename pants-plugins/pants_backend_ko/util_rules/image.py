"""Image assembly: a built Go binary, kodata and a base become an OCI image or index.

The bytes come from the pure core (`pants_backend_ko.oci`); this module only gathers inputs
(binaries, kodata files, base image, settings) through the engine and turns the results into
digests. Every digest is known here, without any network: `ko://` resolution renders from it.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from pants.engine.addresses import Address
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import (
    EMPTY_DIGEST,
    CreateDigest,
    Digest,
    DigestContents,
    DigestSubset,
    FileContent,
    PathGlobs,
    RemovePrefix,
)
from pants.engine.platform import Platform as PantsPlatform
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from pants_backend_ko import VERSION
from pants_backend_ko.errors import KoError, located
from pants_backend_ko.golang.elfbuildinfo import build_info_from_binary
from pants_backend_ko.koconfig.config import DEFAULT_BASE_IMAGE, build_settings_for, effective_value, epoch_from_env
from pants_backend_ko.oci import image as oci_image
from pants_backend_ko.oci import layout as oci_layout
from pants_backend_ko.oci import spdx
from pants_backend_ko.oci.configfile import exposed_ports, volume_paths
from pants_backend_ko.oci.platform import InvalidPlatformError, Platform
from pants_backend_ko.subsystems import DEFAULT_PLATFORM, KoSubsystem
from pants_backend_ko.target_types import KoImageFieldSet
from pants_backend_ko.util_rules.base_image import BaseImageRequest, ResolvedBaseImage
from pants_backend_ko.util_rules.go_build import (
    BuiltGoBinary,
    DependencySources,
    DependencySourcesRequest,
    GoBuildRequest,
)
from pants_backend_ko.util_rules.go_module import GoModule, GoModuleRequest
from pants_backend_ko.util_rules.koconfig import LoadedKoConfig, RenderBuildFlagsRequest, RenderedBuildFlags
from pants_backend_ko.util_rules.naming import ImageName, ImageNameRequest

DEFAULT_PLATFORMS = (DEFAULT_PLATFORM,)  # ko's default, whatever the host

# Pants' name for the machine it runs on -> the platform `host` means (ko issue 946).
HOST_PLATFORMS = {
    PantsPlatform.linux_x86_64: "linux/amd64",
    PantsPlatform.linux_arm64: "linux/arm64",
    PantsPlatform.macos_x86_64: "darwin/amd64",
    PantsPlatform.macos_arm64: "darwin/arm64",
}


def image_sboms(
    output_path: str, top, images, main_binaries: list, binary_name: str, owner: str
) -> dict[str, tuple[str, bytes]]:
    """SPDX 2.3 SBOMs from the main binary's embedded module information, as ko makes them:
    one per image and, for an index, one for the index too. Path -> (subject digest, bytes)."""
    binary_path = f"/ko-app/{binary_name}"
    out: dict[str, tuple[str, bytes]] = {}
    for image, binary in zip(images, main_binaries):
        try:
            info = build_info_from_binary(binary, binary_path)
        except ValueError as e:
            raise KoError(
                f"cannot read Go module information for the SBOM: {e}",
                where=owner,
                fix="set `[ko].sbom = false` to skip SBOMs.",
            ) from None
        data = spdx.spdx_for_image(
            info,
            image_digest=image.digest,
            image_media_type=image.media_type,
            binary_path_in_image=binary_path,
            base=spdx.base_from_manifest(image.manifest),
            created=spdx.created_from_config(image.config),
            tool_version=VERSION,
        )
        platform = image.platform
        suffix = (
            ""
            if top is image
            else "." + "-".join(p for p in (platform.os, platform.architecture, platform.variant) if p)
        )
        out[f"{output_path}{suffix}.spdx.json"] = (image.digest, data)
    if top not in images:
        out[f"{output_path}.spdx.json"] = (
            top.digest,
            spdx.spdx_for_index(
                top.digest,
                [(c.digest, c.platform) for c in images],
                spdx.created_from_config(images[0].config),
                tool_version=VERSION,
                index_media_type=top.media_type,
                base=spdx.base_from_manifest(top.manifest),
            ),
        )
    return out


@dataclass(frozen=True)
class KoImageSettings:
    """What a `ko_image` target means once fields, `[ko]` options and go.mod are combined."""

    address: Address
    package_dir: str
    module: GoModule
    import_path: str
    binary_name: str
    platforms: tuple[Platform, ...]  # empty when all_platforms
    base_image: str
    kodata_dir: str
    all_platforms: bool = False  # `all`: every platform of the base index, as ko
    extra_binaries: tuple[tuple[str, str], ...] = ()  # (import path, name) from `binaries`
    cgo: bool = False
    # From the precedence BUILD field > .ko.yaml (with KO_*) > [ko] option > default:
    flags: tuple[str, ...] = ()  # templates, rendered per platform
    ldflags: tuple[str, ...] = ()
    build_env: tuple[str, ...] = ()  # `NAME=VALUE` for `go`, from .ko.yaml


@dataclass(frozen=True)
class KoImageRequest:
    """Build the image of a `ko_image` (any field set that carries its fields).

    The field set is narrowed to a plain `KoImageFieldSet`: package, publish, run and manifests
    then make equal requests, so the engine builds each image once per run, not once per goal
    rule (publish used to assemble every image a second time after package had).
    """

    field_set: KoImageFieldSet

    def __post_init__(self) -> None:
        if type(self.field_set) is not KoImageFieldSet:
            fs = self.field_set
            plain = KoImageFieldSet(**{f.name: getattr(fs, f.name) for f in dataclasses.fields(KoImageFieldSet)})
            object.__setattr__(self, "field_set", plain)


@dataclass(frozen=True)
class KoImageSettingsRequest:
    field_set: KoImageFieldSet


@rule(desc="Read ko_image settings", level=LogLevel.DEBUG)
async def ko_image_settings(
    request: KoImageSettingsRequest, ko: KoSubsystem, host: PantsPlatform, ko_yaml: LoadedKoConfig
) -> KoImageSettings:
    field_set = request.field_set
    address = field_set.address
    main = field_set.main.value or "."
    package_dir = os.path.normpath(os.path.join(address.spec_path, main))
    if package_dir == ".":
        package_dir = ""
    if package_dir.startswith(".."):
        raise KoError(
            f"`main={main!r}` points outside the repository",
            where=str(address),
            fix="set it to a folder inside the repository, relative to the BUILD file's folder.",
        )
    module = await Get(GoModule, GoModuleRequest(package_dir))
    import_path = module.import_path_of(package_dir or ".")
    from_ko_yaml = build_settings_for(ko_yaml.config, import_path, package_dir or ".")
    platform_strings = effective_value(
        field_set.platforms.value, from_ko_yaml.platforms, ko.platforms_option(), DEFAULT_PLATFORMS
    )
    # Point at what the user must edit: the field, or the option it falls back to.
    source = (
        "`platforms`"
        if field_set.platforms.value
        else f"{ko_yaml.config.path} defaultPlatforms"
        if from_ko_yaml.platforms
        else "[ko].default_platforms"
    )
    platforms = []
    all_platforms = "all" in platform_strings
    if all_platforms and len(platform_strings) > 1:
        raise KoError(
            f"{source} combines `all` with other platforms ({list(platform_strings)})",
            where=str(address),
            fix="use `all` alone.",
        )
    for value in platform_strings:
        if value == "all":
            continue
        if value == "host":
            value = HOST_PLATFORMS[host]
        try:
            platforms.append(Platform.parse(value))
        except InvalidPlatformError as e:
            raise KoError(f"invalid platform {value!r} in {source}: {e.problem}", where=str(address)) from None
    if len(set(platforms)) != len(platforms):
        raise KoError(
            f"{source} lists a platform twice: {list(platform_strings)}", where=str(address), fix="list each once."
        )
    extra_binaries = []
    names = {oci_image.app_filename(import_path)}
    for rel in field_set.binaries.value or ():
        extra_dir = os.path.normpath(os.path.join(address.spec_path, rel))
        extra_dir = "" if extra_dir == "." else extra_dir
        extra_module = await Get(GoModule, GoModuleRequest(extra_dir))
        if extra_module.root != module.root:
            raise KoError(
                f"`binaries` entry {rel!r} is in module {extra_module.module_path}, not {module.module_path}",
                where=str(address),
                fix="all binaries of one image must come from the main package's module.",
            )
        extra_import_path = module.import_path_of(extra_dir or ".")
        name = oci_image.app_filename(extra_import_path)
        if name in names:
            raise KoError(
                f"two binaries would both be /ko-app/{name} ({rel!r} in `binaries`)",
                where=str(address),
                fix="binaries are named after the last element of their import path: rename a folder.",
            )
        names.add(name)
        extra_binaries.append((extra_import_path, name))
    return KoImageSettings(
        address=address,
        package_dir=package_dir,
        module=module,
        import_path=import_path,
        binary_name=oci_image.app_filename(import_path),
        platforms=tuple(platforms),
        base_image=effective_value(
            field_set.base_image.value,
            from_ko_yaml.base_image,
            ko.default_base_image if ko.default_base_image != DEFAULT_BASE_IMAGE else None,
            DEFAULT_BASE_IMAGE,
        ),
        flags=tuple(effective_value(field_set.flags.value, from_ko_yaml.flags, tuple(ko.go_build_flags) or None, ())),
        ldflags=tuple(effective_value(field_set.ldflags.value, from_ko_yaml.ldflags, None, ())),
        build_env=tuple(from_ko_yaml.env or ()),
        kodata_dir=os.path.normpath(os.path.join(package_dir, field_set.kodata.value or "kodata")),
        all_platforms=all_platforms,
        extra_binaries=tuple(extra_binaries),
        cgo=bool(field_set.cgo.value),
    )


@dataclass(frozen=True)
class KodataContents:
    files: FrozenDict[str, bytes]  # relative to the kodata folder
    dirs: tuple[str, ...]
    digest: Digest  # the same files (modes kept), relative to the kodata folder


@rule(desc="Read kodata", level=LogLevel.DEBUG)
async def read_kodata(settings: KoImageSettings) -> KodataContents:
    """The files under the kodata folder among the image's dependencies' files (its
    `ko_kodata` target, or whichever targets own them: inference makes them dependencies)."""
    sources = await Get(DependencySources, DependencySourcesRequest((settings.address,)))
    snapshot = sources.snapshot
    prefix = settings.kodata_dir + "/"
    subset = await Get(Digest, DigestSubset(snapshot.digest, PathGlobs([f"{prefix}**"])))
    digest = await Get(Digest, RemovePrefix(subset, settings.kodata_dir))
    contents = await Get(DigestContents, Digest, digest)
    files = {fc.path: fc.content for fc in contents}
    dirs = tuple(d[len(prefix) :] for d in snapshot.dirs if d.startswith(prefix))
    return KodataContents(FrozenDict(files), dirs, digest)


def go_build_request(
    settings: KoImageSettings, import_path: str, binary_name: str, platform: Platform, rendered: RenderedBuildFlags
) -> GoBuildRequest:
    """The build of one binary of a `ko_image` for one platform (package, publish and run)."""
    return GoBuildRequest(
        module=settings.module,
        import_path=import_path,
        binary_name=binary_name,
        platform=platform,
        flags=rendered.flags,
        ldflags=rendered.ldflags,
        owner=str(settings.address),
        roots=(settings.address,),
        cgo=settings.cgo,
        build_env=settings.build_env,
    )


@dataclass(frozen=True)
class BuiltKoImage:
    """A built image or index: its OCI layout files and what other rules need to know."""

    settings: KoImageSettings
    layout: Digest  # an OCI image layout at the digest's root
    digest: str  # sha256:<hex> of the top manifest or index
    media_type: str
    platform_digests: FrozenDict[str, str]  # "linux/arm64" -> digest of that platform's manifest
    # The layout holds every layer (not a shallow base's): package can write a docker archive.
    loadable: bool
    name: ImageName
    # SPDX SBOMs (package writes them beside the image; publish attaches them): the files, and
    # (manifest digest, file path) pairs. Empty with `[ko].sbom = false`.
    sboms: Digest = EMPTY_DIGEST
    sbom_files: tuple[tuple[str, str], ...] = ()
    # Base layers the layout does not carry: (digest, "registry/repository") to mount or stream from.
    base_blob_sources: tuple[tuple[str, str], ...] = ()


@rule(desc="Build a ko image", level=LogLevel.DEBUG)
async def build_ko_image(request: KoImageRequest, ko: KoSubsystem) -> BuiltKoImage:
    field_set = request.field_set
    settings = await Get(KoImageSettings, KoImageSettingsRequest(field_set))
    owner = str(settings.address)
    try:  # before any binary is built
        exposed_ports(field_set.ports.value or ())
        volume_paths(field_set.volumes.value or ())
    except ValueError as e:
        raise located(e, owner) from None
    epochs = await Get(EnvironmentVars, EnvironmentVarsRequest(["SOURCE_DATE_EPOCH", "KO_DATA_DATE_EPOCH"]))
    source_date_epoch = epoch_from_env(epochs, "SOURCE_DATE_EPOCH")
    kodata_date_epoch = epoch_from_env(epochs, "KO_DATA_DATE_EPOCH")
    base, kodata, name = await MultiGet(
        Get(
            ResolvedBaseImage,
            BaseImageRequest(
                settings.base_image,
                settings.platforms,
                owner,
                settings.address.spec_path,
                all_platforms=settings.all_platforms,
            ),
        ),
        Get(KodataContents, KoImageSettings, settings),
        Get(ImageName, ImageNameRequest(field_set, settings.import_path)),
    )
    # The main binary first (the entrypoint), then `binaries`, for every platform.
    programs = ((settings.import_path, settings.binary_name), *settings.extra_binaries)
    # ko's flags/ldflags templates, rendered per platform (.GoEnv.GOARCH differs).
    flags_per_platform = await MultiGet(
        Get(
            RenderedBuildFlags,
            RenderBuildFlagsRequest(settings.flags, settings.ldflags, settings.build_env, platform, owner),
        )
        for platform in base.platforms
    )
    binaries = await MultiGet(
        Get(BuiltGoBinary, GoBuildRequest, go_build_request(settings, import_path, binary_name, platform, flags))
        for platform, flags in zip(base.platforms, flags_per_platform)
        for import_path, binary_name in programs
    )
    binary_contents = await MultiGet(Get(DigestContents, Digest, b.digest) for b in binaries)
    per_platform = [
        [(name, contents[0].content) for (_, name), contents in zip(programs, binary_contents[i : i + len(programs)])]
        for i in range(0, len(binary_contents), len(programs))
    ]

    # The image core refuses what cannot go into an image (an empty env name, a kodata file name
    # it cannot write) with a ValueError naming the field: say which target, in one line.
    try:
        images = []
        for platform, base_for_platform, platform_binaries in zip(base.platforms, base.images, per_platform):
            images.append(
                oci_image.build_image(
                    base_for_platform,
                    platform=platform,
                    import_path=settings.import_path,
                    binaries=platform_binaries,
                    kodata_files=dict(kodata.files),
                    kodata_dirs=kodata.dirs,
                    source_date_epoch=source_date_epoch,
                    kodata_date_epoch=kodata_date_epoch,
                    user=field_set.user.value,
                    env=dict(field_set.env.value or {}),
                    labels=dict(field_set.labels.value or {}),
                    annotations=dict(field_set.annotations.value or {}),
                    entrypoint=field_set.entrypoint.value,
                    args=field_set.args.value,
                    workdir=field_set.workdir.value,
                    ports=field_set.ports.value,
                    volumes=field_set.volumes.value,
                )
            )
        ref_name = name.tags[0] if name.tags else None
        if base.is_index:
            top = oci_image.build_index(
                [(img, platform) for img, platform in zip(images, base.platforms)],
                media_type=base.index_media_type,
                annotations=base.index_annotations(dict(field_set.annotations.value or {})),
            )
        else:
            top = images[0]
        files = oci_layout.layout_files(top, images, dict(base.blobs), ref_name, allow_missing_base_blobs=base.shallow)
    except ValueError as e:
        raise located(e, owner) from None
    layout_digest = await Get(Digest, CreateDigest(FileContent(p, c) for p, c in sorted(files.items())))
    # Beside the layout folder, as package writes it: an explicit `output_path` is returned as
    # given by value_or_default (no ending added), which would put the SBOMs on the folder.
    output_path = field_set.output_path.value_or_default(file_ending=None)
    sbom_digest, sbom_files = EMPTY_DIGEST, ()
    if ko.sbom:
        files_by_path = image_sboms(
            output_path,
            top,
            images,
            [b[0][1] for b in per_platform],
            settings.binary_name,
            str(settings.address),
        )
        sbom_files = tuple((digest, path) for path, (digest, _) in files_by_path.items())
        sbom_digest = await Get(
            Digest, CreateDigest(FileContent(path, data) for path, (_, data) in files_by_path.items())
        )
    return BuiltKoImage(
        settings=settings,
        sboms=sbom_digest,
        sbom_files=sbom_files,
        layout=layout_digest,
        digest=top.digest,
        media_type=top.media_type,
        platform_digests=FrozenDict({str(p): img.manifest_descriptor.digest for p, img in zip(base.platforms, images)}),
        loadable=not (base.shallow and any(img.base_layers for img in images)),
        name=name,
        base_blob_sources=base.blob_sources,
    )


def rules():
    return collect_rules()
