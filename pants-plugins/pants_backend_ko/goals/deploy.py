"""`pants experimental-deploy` on `ko_manifests`: Pants publishes the `ko_image` dependencies
first (through their publish field sets), then the rendered YAML goes to `kubectl <verb>`."""

from __future__ import annotations

from dataclasses import dataclass

from pants.core.goals.deploy import DeployFieldSet, DeployProcess
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.process import InteractiveProcess
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import WrappedTarget, WrappedTargetRequest
from pants.engine.unions import UnionRule
from pants.util.logging import LogLevel

from pants_backend_ko.target_types import KoManifestsFieldSet
from pants_backend_ko.util_rules.deploy_plan import PLAN_FILE, DeployPlanRequest, PreparedDeploy
from pants_backend_ko.util_rules.tool import KoTool

KUBECTL_ENV_VARS = ("KUBECONFIG", "KUBECTL", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")


@dataclass(frozen=True)
class KoManifestsDeployFieldSet(KoManifestsFieldSet, DeployFieldSet):
    pass


@rule(desc="Deploy ko_manifests", level=LogLevel.DEBUG)
async def deploy_ko_manifests(field_set: KoManifestsDeployFieldSet, tool: KoTool) -> DeployProcess:
    deploy = await Get(PreparedDeploy, DeployPlanRequest(field_set, push_images=False))
    verb = deploy.plan.verb
    images = deploy.rendered.images if verb != "delete" else ()
    wrapped = await MultiGet(
        Get(WrappedTarget, WrappedTargetRequest(image.settings.address, description_of_origin=str(field_set.address)))
        for image in images
    )
    # A deploy process gets only the environment passed to it: kubectl's configuration too.
    kube_env = await Get(EnvironmentVars, EnvironmentVarsRequest(KUBECTL_ENV_VARS))
    process = InteractiveProcess(
        argv=deploy.argv(tool, PLAN_FILE),
        env={**tool.local_env, **{k: v for k, v in kube_env.items() if v}},
        input_digest=deploy.digest,
    )
    return DeployProcess(
        name=str(field_set.address),
        process=process,
        publish_dependencies=tuple(w.target for w in wrapped),
        description=f"kubectl {verb}",
    )


def rules():
    return [*collect_rules(), UnionRule(DeployFieldSet, KoManifestsDeployFieldSet)]
