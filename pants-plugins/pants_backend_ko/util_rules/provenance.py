"""The SLSA provenance inputs of a `ko_image` (`sign/provenance.py`'s `ProvenanceInputs`), for
`publish` to attest when it signs.

They are read from what the build used, through the same requests the build makes (so nothing
is built twice): the settings, the resolved base image, the flags and ldflags as rendered per
platform, and each binary's embedded build information (`go version -m`: its environment and
modules, read from the binary as for the SBOM). Plus the checkout's commit and origin URL when
the repository is a git work tree (none otherwise), and the version of Pants.
"""

from __future__ import annotations

from dataclasses import dataclass

from pants.engine.fs import Digest, DigestContents
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.logging import LogLevel
from pants.version import VERSION as PANTS_VERSION

from pants_backend_ko.errors import KoError, located
from pants_backend_ko.golang.elfbuildinfo import build_info_from_binary
from pants_backend_ko.sign.provenance import BaseImageInput, BinaryInput, ProvenanceInputs, SourceInput
from pants_backend_ko.util_rules.base_image import BaseImageRequest, ResolvedBaseImage
from pants_backend_ko.util_rules.go_build import BuiltGoBinary, GoBuildRequest
from pants_backend_ko.util_rules.ko_build import KoImageSettings, go_build_request
from pants_backend_ko.util_rules.ko_yaml import GitRequest, GitResults, RenderBuildFlagsRequest, RenderedBuildFlags


@dataclass(frozen=True)
class ProvenanceRequest:
    settings: KoImageSettings  # of a built image (BuiltKoImage.settings)


@rule(desc="Gather a ko_image's provenance", level=LogLevel.DEBUG)
async def image_provenance(request: ProvenanceRequest) -> ProvenanceInputs:
    settings = request.settings
    owner = str(settings.address)
    base, git = await MultiGet(
        Get(ResolvedBaseImage, BaseImageRequest, BaseImageRequest.of(settings)),
        Get(GitResults, GitRequest()),
    )
    rendered = await MultiGet(
        Get(
            RenderedBuildFlags,
            RenderBuildFlagsRequest(settings.flags, settings.ldflags, settings.build_env, platform, owner),
        )
        for platform in base.platforms
    )
    programs = ((settings.import_path, settings.binary_name), *settings.extra_binaries)
    builds = [(platform, flags, name) for platform, flags in zip(base.platforms, rendered) for _, name in programs]
    binaries = await MultiGet(
        Get(BuiltGoBinary, GoBuildRequest, go_build_request(settings, import_path, name, platform, flags))
        for platform, flags in zip(base.platforms, rendered)
        for import_path, name in programs
    )
    contents = await MultiGet(Get(DigestContents, Digest, b.digest) for b in binaries)
    inputs, go_version = [], ""
    for (platform, flags, name), content in zip(builds, contents):
        try:
            info = build_info_from_binary(content[0].content, f"/ko-app/{name}")
        except ValueError as e:
            raise located(KoError(f"cannot read the Go build information for the provenance: {e}"), owner) from None
        go_version = go_version or info.go_version
        inputs.append(BinaryInput.from_build_info(info, str(platform), flags=flags.flags, ldflags=flags.ldflags))
    source = None
    if git.results:
        try:
            checkout = git.info(owner)
            source = SourceInput(git.remote, checkout.full_commit, checkout.dirty)
        except KoError:
            source = None  # not a git work tree, or no commit yet: the provenance names no source
    return ProvenanceInputs(
        target=owner,
        go_version=go_version,
        binaries=tuple(inputs),
        base_image=BaseImageInput(settings.base_image, base.digest) if base.digest else None,
        source=source,
        pants_version=PANTS_VERSION,
    )


def rules():
    return collect_rules()
