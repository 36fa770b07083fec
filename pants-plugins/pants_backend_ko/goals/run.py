"""`pants run` on `ko_manifests`: push the images the registry lacks, then `kubectl <verb>`.

With `pants --loop run`, every change to a Go source, kodata file or YAML file the target
depends on re-renders and re-applies; unchanged images are neither rebuilt nor pushed.
"""

from __future__ import annotations

from dataclasses import dataclass

from pants.core.goals.run import RunFieldSet, RunInSandboxBehavior, RunRequest
from pants.engine.rules import Get, collect_rules, rule
from pants.util.logging import LogLevel

from pants_backend_ko.target_types import KoManifestsFieldSet
from pants_backend_ko.util_rules.deploy_plan import PLAN_FILE, DeployPlan, DeployPlanRequest


@dataclass(frozen=True)
class KoManifestsRunFieldSet(KoManifestsFieldSet, RunFieldSet):
    # Applying to a cluster is a side effect: never run it in a cached sandbox.
    run_in_sandbox_behavior = RunInSandboxBehavior.NOT_SUPPORTED


@rule(desc="Prepare to deploy ko_manifests", level=LogLevel.DEBUG)
async def run_ko_manifests(field_set: KoManifestsRunFieldSet) -> RunRequest:
    plan = await Get(DeployPlan, DeployPlanRequest(field_set, push_images=True))
    return RunRequest(
        digest=plan.digest,
        args=(*plan.argv, f"{{chroot}}/{PLAN_FILE}", "--"),
        extra_env=plan.env,
    )


def rules():
    return [*collect_rules(), *KoManifestsRunFieldSet.rules()]
