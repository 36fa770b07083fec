"""Image assembly: a built Go binary, kodata and a base become an OCI image or index.

The bytes come from the pure core (`pants_backend_ko.oci`); this module only gathers inputs
(binaries, kodata files, base image, settings) through the engine and turns the results into
digests. Every digest is known here, without any network: `ko://` resolution renders from it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass

from pants.engine.addresses import Address
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import (
    EMPTY_DIGEST,
    AddPrefix,
    CreateDigest,
    Digest,
    FileContent,
    MergeDigests,
)
from pants.engine.platform import Platform as PantsPlatform
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from pants_backend_ko import VERSION
from pants_backend_ko.errors import KoError, located
from pants_backend_ko.golang.gobuildinfo import GoBuildInfoError, parse_go_version_m
from pants_backend_ko.koconfig.config import (
    DEFAULT_BASE_IMAGE,
    BuildSettings,
    build_settings_for,
    effective_value,
    epoch_from_env,
)
from pants_backend_ko.oci import image as oci_image
from pants_backend_ko.oci import layout as oci_layout
from pants_backend_ko.oci import spdx
from pants_backend_ko.oci.capabilities import CapabilityError, FileCapabilities, file_capabilities
from pants_backend_ko.oci.configfile import exposed_ports, volume_paths
from pants_backend_ko.oci.layers import APP_DIR
from pants_backend_ko.oci.layerwriter import BuildInfoRequest, LayersRequest, app_layer, kodata_layer
from pants_backend_ko.oci.layout import ArchivedImage
from pants_backend_ko.oci.manifest import Descriptor
from pants_backend_ko.oci.platform import InvalidPlatformError, Platform
from pants_backend_ko.subsystems import DEFAULT_PLATFORM, KoSubsystem
from pants_backend_ko.target_types import KoImageFieldSet, kodata_folder
from pants_backend_ko.util_rules.base_image import BaseImageRequest, ResolvedBaseImage
from pants_backend_ko.util_rules.delve import DELVE_NAME, DelveRequest
from pants_backend_ko.util_rules.destinations import ImageName, ImageNameRequest, is_debug_image
from pants_backend_ko.util_rules.go_build import (
    BuiltGoBinary,
    GoBuildRequest,
)
from pants_backend_ko.util_rules.go_module import GoModule, GoModuleRequest
from pants_backend_ko.util_rules.ko_yaml import LoadedKoConfig, RenderBuildFlagsRequest, RenderedBuildFlags
from pants_backend_ko.util_rules.kodata import KodataContents, KodataRequest
from pants_backend_ko.util_rules.layer_writer import (
    BLOBS_DIR,
    HOST_PLATFORMS,
    WriteLayersRequest,
    WrittenLayers,
)

logger = logging.getLogger(__name__)

DEFAULT_PLATFORMS = (DEFAULT_PLATFORM,)  # ko's default, whatever the host


def image_sboms(
    output_path: str, top, images, build_infos: list[str], binary_name: str, owner: str
) -> dict[str, tuple[str, bytes]]:
    """SPDX 2.3 SBOMs from the main binary's embedded module information (`go version -m`
    text, one per image), as ko makes them: one per image and, for an index, one for the index
    too. Path -> (subject digest, bytes)."""
    binary_path = f"{APP_DIR}/{binary_name}"
    out: dict[str, tuple[str, bytes]] = {}
    for image, text in zip(images, build_infos):
        try:
            info = parse_go_version_m(text)
        except GoBuildInfoError as e:
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
    # The main binary's Linux file capabilities (ko's linux_capabilities), parsed; None: none.
    capabilities: FileCapabilities | None = None
    debug: bool = False  # ko's --debug: -gcflags=all=-N -l, and Delve where it runs (debugs_on)


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
    kodata_dir = kodata_folder(address.spec_path, package_dir, field_set.kodata.value)
    if kodata_dir is None:
        kodata = field_set.kodata.value
        resolved = os.path.normpath(os.path.join(package_dir, kodata or "kodata"))
        where = (
            "the repository root"
            if resolved == "."
            else "outside the repository"
            if resolved.startswith("..")
            else resolved
        )
        raise KoError(
            f"`kodata={kodata!r}` is {where}, not inside the main package's folder "
            f"({package_dir or 'the repository root'}) or the BUILD file's folder "
            f"({address.spec_path or 'the repository root'})",
            where=str(address),
            fix="set `kodata` to a folder inside one of them (ko always uses `kodata` beside the main package).",
        )
    return KoImageSettings(
        capabilities=image_capabilities(field_set.linux_capabilities.value, from_ko_yaml, ko_yaml.config.path, address),
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
        kodata_dir=kodata_dir,
        all_platforms=all_platforms,
        extra_binaries=tuple(extra_binaries),
        cgo=bool(field_set.cgo.value),
        debug=is_debug_image(field_set, ko),
    )


def image_capabilities(
    field_value: tuple[str, ...] | None, from_ko_yaml: BuildSettings, ko_yaml_path: str, address: Address
) -> FileCapabilities | None:
    """The `linux_capabilities` field, else the matching `.ko.yaml` entry's, parsed as ko parses
    them; a term ko would refuse is one line naming where it is written."""
    terms = effective_value(field_value, from_ko_yaml.linux_capabilities or None, None, ())
    try:
        return file_capabilities(terms)
    except CapabilityError as e:
        source = (
            "the `linux_capabilities` field"
            if field_value is not None
            else f"{ko_yaml_path} builds[] entry {from_ko_yaml.build_id!r} linux_capabilities"
            if from_ko_yaml.build_id
            else f"{ko_yaml_path} builds[] linux_capabilities"
        )
        raise KoError(
            f"{e} in {source}",
            where=str(address),
            fix="use a capability as Docker's --cap-add names it (net_bind_service, CAP_NET_BIND_SERVICE, all), "
            "its number (0-63), or a cap_from_text clause such as cap_net_bind_service+ep.",
        ) from None


# ko's disabled optimizations for debug images (`-N`: no optimizations, `-l`: no inlining).
DEBUG_GCFLAGS = ("-gcflags", "all=-N -l")


def debugs_on(platform: Platform) -> bool:
    """ko's `doesPlatformSupportDebugging`: Delve is added for linux/amd64 and linux/arm64 only."""
    return platform.os == "linux" and platform.architecture in ("amd64", "arm64")


def go_build_request(
    settings: KoImageSettings, import_path: str, binary_name: str, platform: Platform, rendered: RenderedBuildFlags
) -> GoBuildRequest:
    """The build of one binary of a `ko_image` for one platform (package, publish and run)."""
    return GoBuildRequest(
        module=settings.module,
        import_path=import_path,
        binary_name=binary_name,
        platform=platform,
        # ko adds them after the configured flags (and -trimpath), on every platform.
        flags=rendered.flags + DEBUG_GCFLAGS * settings.debug,
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
    # What a docker archive of the layout records (package writes one): the top descriptor
    # (an index's, or the image's) and each image, in index order.
    top_descriptor: Descriptor | None = None
    archived_images: tuple[ArchivedImage, ...] = ()


# Where a layer Process finds its inputs.
_KODATA_IN_SANDBOX = "__ko_kodata"


def layers_request(
    kodata: KodataContents,
    binaries: list[tuple[str, BuiltGoBinary]],
    kodata_date_epoch: int | None,
    sbom: bool,
    capabilities: FileCapabilities | None = None,
    delve: BuiltGoBinary | None = None,
) -> LayersRequest:
    """ko's two layers of one platform's image (kodata, then the binaries, the main one with
    its Linux `capabilities`), Delve's for a debug image (ko's `buildLayer` of it: a `ko-app`
    directory and `/ko-app/dlv`, with the same capabilities), and the main binary's build
    information when SBOMs are made."""
    kodata_sources = {path: f"{_KODATA_IN_SANDBOX}/{path}" for path in kodata.files}
    main_name, main_binary = binaries[0]
    delve_layer = () if delve is None else (app_layer([(DELVE_NAME, delve.binary_path)], capabilities),)
    return LayersRequest(
        out=BLOBS_DIR,
        layers=(
            kodata_layer(kodata_sources, kodata.dirs, kodata_date_epoch),
            app_layer([(name, binary.binary_path) for name, binary in binaries], capabilities),
            *delve_layer,
        ),
        buildinfo=(BuildInfoRequest(f"{APP_DIR}/{main_name}", main_binary.binary_path),) if sbom else (),
    )


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
        Get(KodataContents, KodataRequest(settings.address, settings.kodata_dir)),
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
    # A debug image's Delve, per platform where ko adds it (None elsewhere: built as usual).
    debugged = [settings.debug and debugs_on(platform) for platform in base.platforms]
    if settings.debug and not all(debugged):
        logger.warning(
            f"{owner}: debug image without Delve for "
            f"{', '.join(str(p) for p, d in zip(base.platforms, debugged) if not d)} "
            "(Delve runs on linux/amd64 and linux/arm64 only, as in ko)"
        )
    delves = await MultiGet(
        Get(BuiltGoBinary, DelveRequest(platform)) for platform, d in zip(base.platforms, debugged) if d
    )
    delve_per_platform = [delves[sum(debugged[:i])] if d else None for i, d in enumerate(debugged)]
    per_platform = [
        [(name, binary) for (_, name), binary in zip(programs, binaries[i : i + len(programs)])]
        for i in range(0, len(binaries), len(programs))
    ]
    # The layers are written by the Go layer writer, one Process per platform: the binaries and
    # kodata files go in by digest, the blobs come out as files, only descriptors come back.
    kodata_inputs = await Get(Digest, AddPrefix(kodata.digest, _KODATA_IN_SANDBOX))
    layer_inputs = await MultiGet(
        Get(
            Digest,
            MergeDigests(
                [
                    kodata_inputs,
                    *(binary.digest for _, binary in platform_binaries),
                    *((delve.digest,) if delve else ()),
                ]
            ),
        )
        for platform_binaries, delve in zip(per_platform, delve_per_platform)
    )
    try:  # a kodata name the layer cannot hold (see below)
        requests = [
            # ko writes the xattr for Linux images only (tarBinary).
            layers_request(
                kodata,
                b,
                kodata_date_epoch,
                ko.sbom,
                settings.capabilities if platform.os == "linux" else None,
                delve,
            )
            for platform, b, delve in zip(base.platforms, per_platform, delve_per_platform)
        ]
    except ValueError as e:
        raise located(e, owner) from None
    written = await MultiGet(
        Get(
            WrittenLayers,
            WriteLayersRequest(layers, inputs, f"Write the layers of {owner} ({platform})", owner),
        )
        for platform, layers, inputs in zip(base.platforms, requests, layer_inputs)
    )

    # The image core refuses what cannot go into an image (an empty env name, a kodata file name
    # it cannot write) with a ValueError naming the field: say which target, in one line.
    try:
        images = []
        for platform, base_for_platform, platform_binaries, layers, delve in zip(
            base.platforms, base.images, per_platform, written, delve_per_platform
        ):
            images.append(
                oci_image.assemble_image(
                    base_for_platform,
                    platform=platform,
                    import_path=settings.import_path,
                    binary_names=[name for name, _ in platform_binaries],
                    layers=[
                        oci_image.NewLayer(layer.digest, layer.diff_id, layer.size) for layer in layers.written.layers
                    ],
                    source_date_epoch=source_date_epoch,
                    kodata_date_epoch=kodata_date_epoch,
                    user=field_set.user.value,
                    env=dict(field_set.env.value or {}),
                    labels=dict(field_set.labels.value or {}),
                    annotations=dict(field_set.annotations.value or {}),
                    entrypoint=field_set.entrypoint.value,
                    args=field_set.args.value,
                    workdir=field_set.workdir.value,
                    debug=delve is not None,
                    ports=field_set.ports.value,
                    volumes=field_set.volumes.value,
                )
            )
        ref_name = name.tags[0] if name.tags else None
        top: oci_image.BuiltImage | oci_image.BuiltIndex
        if base.is_index:
            top = oci_image.build_index(
                [(img, platform) for img, platform in zip(images, base.platforms)],
                media_type=base.index_media_type,
                annotations=base.index_annotations(dict(field_set.annotations.value or {})),
            )
            top_descriptor = top.descriptor
        else:
            top = images[0]
            top_descriptor = top.manifest_descriptor
        # The layout: small JSON files made here, the layer blobs as the layer writer wrote them,
        # base layers as the base fetch stored them. No blob is read into memory.
        metadata = oci_layout.layout_metadata(top, images, ref_name)
    except ValueError as e:
        raise located(e, owner) from None
    small_files = await Get(Digest, CreateDigest(FileContent(p, c) for p, c in sorted(metadata.items())))
    layout_digest = await Get(Digest, MergeDigests([small_files, base.layers, *(layers.blobs for layers in written)]))
    # Beside the layout folder, as package writes it: an explicit `output_path` is returned as
    # given by value_or_default (no ending added), which would put the SBOMs on the folder.
    output_path = field_set.output_path.value_or_default(file_ending=None)
    sbom_digest = EMPTY_DIGEST
    sbom_files: tuple[tuple[str, str], ...] = ()
    if ko.sbom:
        files_by_path = image_sboms(
            output_path,
            top,
            images,
            [layers.written.buildinfo[0] for layers in written],
            settings.binary_name,
            str(settings.address),
        )
        sbom_files = tuple((digest, path) for path, (digest, _) in files_by_path.items())
        sbom_digest = await Get(
            Digest, CreateDigest(FileContent(path, data) for path, (_, data) in files_by_path.items())
        )
    missing_base_layers = any(layer.digest not in base.layer_digests for image in images for layer in image.base_layers)
    return BuiltKoImage(
        settings=settings,
        sboms=sbom_digest,
        sbom_files=sbom_files,
        layout=layout_digest,
        digest=top.digest,
        media_type=top.media_type,
        platform_digests=FrozenDict({str(p): img.manifest_descriptor.digest for p, img in zip(base.platforms, images)}),
        loadable=not missing_base_layers,
        name=name,
        base_blob_sources=base.blob_sources,
        top_descriptor=top_descriptor,
        archived_images=tuple(oci_layout.ArchivedImage.of(image) for image in images),
    )


def rules():
    return collect_rules()
