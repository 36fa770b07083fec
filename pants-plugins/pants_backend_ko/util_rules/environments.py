"""Where the backend's Processes run: `go` in `[ko].build_environment`, the registry tool here.

Pants 2.17 runs a Process in the environment of the rule that requests it; a rule can name
another one with `Get(FallibleProcessResult, {process: Process, name: EnvironmentName})`
(`pants/core/util_rules/environments.py`; the publish goal runs its InteractiveProcesses in
`ChosenLocalEnvironmentName` that way). The backend's rules run in the local environment, so
that your environment variables (`KO_DOCKER_REPO`, `SOURCE_DATE_EPOCH`, `.ko.yaml` templates)
are read from this machine: in a remote environment Pants reads them with `env -0` on a worker.
Only the `go` Processes, hermetic and needing nothing from this machine, run elsewhere.

`--remote-execution` without `[environments-preview].names` makes *every* Process remote and
every environment variable the worker's (`remote_execution_used_globally`, and `current_platform`
in `pants/engine/internals/platform_rules.py`): the registry tool would then read credentials on
a worker. That set-up is refused with one line saying what to write instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from pants.core.util_rules.environments import (
    ChosenLocalEnvironmentName,
    EnvironmentName,
    EnvironmentNameRequest,
    EnvironmentsSubsystem,
)
from pants.engine.platform import Platform
from pants.engine.rules import Get, collect_rules, rule
from pants.option.global_options import GlobalOptions
from pants.util.logging import LogLevel

from pants_backend_ko.errors import KoError
from pants_backend_ko.subsystems import KoSubsystem

# With a remote cache, Pants races the cache lookup against local execution after this delay
# (0 by default: a Process is spawned even on a remote hit, then killed, and a local run that
# finishes first wins the race and is what a fresh clone runs). A lookup answers in milliseconds
# and a miss starts local execution at once, so waiting costs nothing, and a fresh clone served
# by the remote cache spawns no `go build`, layer write or base read at all.
REMOTE_CACHE_SPECULATION_DELAY_MS = 2000

GLOBAL_REMOTE_EXECUTION_ERROR = (
    "`--remote-execution` is on and `[environments-preview].names` is empty, so Pants would run every "
    "Process remotely, the registry tool (your registry credentials) included; define a "
    "`local_environment` and a `remote_environment` in [environments-preview].names and set "
    "[ko].build_environment to the remote one (README: Remote execution)."
)


@dataclass(frozen=True)
class KoEnvironments:
    go: EnvironmentName  # where `go` runs: [ko].build_environment (its fallback applied)
    go_platform: Platform  # the platform of that environment: the toolchain's platform
    local: EnvironmentName  # this machine: the registry tool (credentials never leave it)


@rule(desc="Choose where the go and registry processes run", level=LogLevel.DEBUG)
async def ko_environments(
    ko: KoSubsystem,
    environments: EnvironmentsSubsystem,
    global_options: GlobalOptions,
    local: ChosenLocalEnvironmentName,
) -> KoEnvironments:
    if environments.remote_execution_used_globally(global_options):
        raise KoError(GLOBAL_REMOTE_EXECUTION_ERROR)
    go = await Get(
        EnvironmentName,
        EnvironmentNameRequest(ko.build_environment, description_of_origin="the option `[ko].build_environment`"),
    )
    platform = await Get(Platform, EnvironmentName, go)
    return KoEnvironments(go=go, go_platform=platform, local=local.val)


def rules():
    return collect_rules()
