"""`pants run`: on `ko_manifests`, push the images the registry lacks, then `kubectl <verb>`;
on `ko_image`, run the binary locally (built for this machine) with `$KO_DATA_PATH` at its kodata.
A ko_image is also a runnable of `adhoc_tool`/`experimental_run_in_sandbox`, whose sandbox may be
on a remote worker (`run_ko_image_in_sandbox`).

With `pants --loop run`, every change to a Go source, kodata file or YAML file the target
depends on re-renders and re-applies; unchanged images are neither rebuilt nor pushed.
"""

from __future__ import annotations

from dataclasses import dataclass

from pants.core.goals.run import RunFieldSet, RunInSandboxBehavior, RunInSandboxRequest, RunRequest
from pants.engine.fs import AddPrefix, CreateDigest, Digest, Directory, MergeDigests
from pants.engine.platform import Platform as PantsPlatform
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from pants_backend_ko.oci.platform import Platform
from pants_backend_ko.target_types import KoImageFieldSet, KoManifestsFieldSet
from pants_backend_ko.util_rules.deploy_plan import PLAN_FILE, DeployPlanRequest, PreparedDeploy
from pants_backend_ko.util_rules.go_build import SHELL, BuiltGoBinary, GoBuildRequest
from pants_backend_ko.util_rules.ko_build import (
    HOST_PLATFORMS,
    KoImageSettings,
    KoImageSettingsRequest,
    go_build_request,
)
from pants_backend_ko.util_rules.ko_yaml import RenderBuildFlagsRequest, RenderedBuildFlags
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
# As a runnable of `experimental_run_in_sandbox`/`adhoc_tool`: the same in the tool's sandbox.

RUN_DIR = "__ko_run"  # the binary and kodata/ in the run's digest

# `sh -c RUN_WRAPPER ko-run <program> <args...>` in a sandbox: KO_DATA_PATH is the kodata of the
# sandbox the program runs in, wherever that is. The sandbox root is the nearest folder above
# the working directory (an `adhoc_tool`'s `workdir`) holding RUN_DIR; `{chroot}` would say it
# locally, but Pants 2.17 does not expand it in remote execution commands. Shell built-ins only.
RUN_WRAPPER = (
    "d=$(pwd); "
    f'while [ ! -d "$d/{RUN_DIR}" ]; do '
    f'[ -n "$d" ] || {{ echo "ko_image run: no {RUN_DIR} folder above $(pwd)" >&2; exit 127; }}; '
    "d=${d%/*}; done; "
    f'export KO_DATA_PATH="$d/{RUN_DIR}/kodata"; '
    'p=$1; shift; case $p in /*) ;; *) p=$d/$p ;; esac; exec "$p" "$@"'
)


@dataclass(frozen=True)
class KoImageRunFieldSet(KoImageFieldSet, RunFieldSet):
    # `pants run` runs on this machine (`{chroot}` in the request, which the run goal expands);
    # in a sandbox (maybe a remote one) `run_ko_image_in_sandbox` gives a request without it.
    run_in_sandbox_behavior = RunInSandboxBehavior.CUSTOM


@dataclass(frozen=True)
class KoImageRunnable:
    digest: Digest  # RUN_DIR/<binary>, RUN_DIR/kodata/
    program: str  # the binary, relative to the sandbox root; or the image's `entrypoint[0]`
    args: tuple[str, ...]  # the rest of the entrypoint, then the image's args
    env: FrozenDict[str, str]  # the image's env


@rule(desc="Prepare a ko_image's binary to run", level=LogLevel.DEBUG)
async def ko_image_runnable(field_set: KoImageRunFieldSet, host: PantsPlatform) -> KoImageRunnable:
    # `host`: the platform of the environment this is asked in, where the binary will run (this
    # machine for `pants run`; an adhoc_tool's environment in a sandbox).
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
    merged = await Get(Digest, MergeDigests([binary.digest, kodata_digest, kodata_dir]))
    digest = await Get(Digest, AddPrefix(merged, RUN_DIR))
    entrypoint = tuple(field_set.entrypoint.value or ())
    program, *rest = entrypoint or (f"{RUN_DIR}/{binary.binary_path}",)
    return KoImageRunnable(
        digest, program, (*rest, *(field_set.args.value or ())), FrozenDict(field_set.env.value or {})
    )


@rule(desc="Prepare to run a ko_image's binary locally", level=LogLevel.DEBUG)
async def run_ko_image(field_set: KoImageRunFieldSet) -> RunRequest:
    runnable = await Get(KoImageRunnable, KoImageRunFieldSet, field_set)
    program = runnable.program if runnable.program.startswith("/") else f"{{chroot}}/{runnable.program}"
    return RunRequest(
        digest=runnable.digest,
        args=(program, *runnable.args),
        extra_env={**runnable.env, "KO_DATA_PATH": f"{{chroot}}/{RUN_DIR}/kodata"},
    )


@rule(desc="Prepare to run a ko_image's binary in a sandbox", level=LogLevel.DEBUG)
async def run_ko_image_in_sandbox(field_set: KoImageRunFieldSet) -> RunInSandboxRequest:
    runnable = await Get(KoImageRunnable, KoImageRunFieldSet, field_set)
    return RunInSandboxRequest(
        digest=runnable.digest,
        args=(SHELL, "-c", RUN_WRAPPER, "ko-run", runnable.program, *runnable.args),
        extra_env=runnable.env,
    )


def rules():
    return [*collect_rules(), *KoManifestsRunFieldSet.rules(), *KoImageRunFieldSet.rules()]
