"""`pants run`: on `ko_manifests`, push the images the registry lacks, then `kubectl <verb>`;
on `ko_image`, run the binary locally (built for this machine) with `$KO_DATA_PATH` at its kodata.

With `pants --loop run`, every change to a Go source, kodata file or YAML file the target
depends on re-renders and re-applies; unchanged images are neither rebuilt nor pushed.
"""

from __future__ import annotations

from dataclasses import dataclass

from pants.core.goals.run import RunFieldSet, RunInSandboxBehavior, RunRequest
from pants.engine.fs import AddPrefix, CreateDigest, Digest, Directory, MergeDigests
from pants.engine.platform import Platform as PantsPlatform
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.logging import LogLevel

from pants_backend_ko.oci.platform import Platform
from pants_backend_ko.target_types import KoImageFieldSet, KoManifestsFieldSet
from pants_backend_ko.util_rules.deploy_plan import PLAN_FILE, DeployPlanRequest, PreparedDeploy
from pants_backend_ko.util_rules.go_build import BuiltGoBinary, GoBuildRequest
from pants_backend_ko.util_rules.image import (
    HOST_PLATFORMS,
    KoImageSettings,
    KoImageSettingsRequest,
    go_build_request,
)
from pants_backend_ko.util_rules.koconfig import RenderBuildFlagsRequest, RenderedBuildFlags
from pants_backend_ko.util_rules.kodata import KodataContents, KodataRequest
from pants_backend_ko.util_rules.tool import KoTool


@dataclass(frozen=True)
class KoManifestsRunFieldSet(KoManifestsFieldSet, RunFieldSet):
    # Applying to a cluster is a side effect: never run it in a cached sandbox.
    run_in_sandbox_behavior = RunInSandboxBehavior.NOT_SUPPORTED


@rule(desc="Prepare to deploy ko_manifests", level=LogLevel.DEBUG)
async def run_ko_manifests(field_set: KoManifestsRunFieldSet, tool: KoTool) -> RunRequest:
    deploy = await Get(PreparedDeploy, DeployPlanRequest(field_set, push_images=True))
    return RunRequest(
        digest=deploy.digest,
        args=deploy.argv(tool, f"{{chroot}}/{PLAN_FILE}"),
        extra_env=tool.local_env,
    )


# ---------------------------------------------------------------------------------------------
# `pants run` on a ko_image: the binary, built for this machine, run locally with its kodata.


@dataclass(frozen=True)
class KoImageRunFieldSet(KoImageFieldSet, RunFieldSet):
    # The run needs nothing but the built binary and kodata: it may run in a sandbox.
    run_in_sandbox_behavior = RunInSandboxBehavior.RUN_REQUEST_HERMETIC


@rule(desc="Prepare to run a ko_image's binary locally", level=LogLevel.DEBUG)
async def run_ko_image(field_set: KoImageRunFieldSet, host: PantsPlatform) -> RunRequest:
    settings = await Get(KoImageSettings, KoImageSettingsRequest(field_set))
    host_platform = Platform.parse(HOST_PLATFORMS[host])
    rendered = await Get(
        RenderedBuildFlags,
        RenderBuildFlagsRequest(
            settings.flags, settings.ldflags, settings.build_env, host_platform, str(field_set.address)
        ),
    )
    binary = await Get(
        BuiltGoBinary,
        GoBuildRequest,
        go_build_request(settings, settings.import_path, settings.binary_name, host_platform, rendered),
    )
    # The image's kodata, as the image gets it (the files of its dependencies).
    kodata = await Get(KodataContents, KodataRequest(settings.address, settings.kodata_dir))
    kodata_digest, kodata_dir = await MultiGet(
        Get(Digest, AddPrefix(kodata.digest, "kodata")), Get(Digest, CreateDigest([Directory("kodata")]))
    )
    digest = await Get(Digest, MergeDigests([binary.digest, kodata_digest, kodata_dir]))
    entrypoint = field_set.entrypoint.value
    args = (f"{{chroot}}/{binary.binary_path}",) if not entrypoint else tuple(entrypoint)
    return RunRequest(
        digest=digest,
        args=(*args, *(field_set.args.value or ())),
        extra_env={**dict(field_set.env.value or {}), "KO_DATA_PATH": "{chroot}/kodata"},
    )


def rules():
    return [*collect_rules(), *KoManifestsRunFieldSet.rules(), *KoImageRunFieldSet.rules()]
