"""The deploy of a `ko_manifests` target: a `DeployPlan` for the tool's `deploy` verb (the
rendered YAML, the kubectl verb and arguments, and the images to push first), in a folder with
the files it names."""

from __future__ import annotations

from dataclasses import dataclass

from pants.engine.fs import Digest
from pants.engine.rules import Get, collect_rules, rule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from pants_backend_ko.codec import encode
from pants_backend_ko.target_types import KoManifestsFieldSet
from pants_backend_ko.tool.messages import COMBINED_MANIFEST, DeployPlan
from pants_backend_ko.util_rules.destinations import claims_of, refuse_shared_tags
from pants_backend_ko.util_rules.manifests import RenderedManifests, RenderManifestsRequest
from pants_backend_ko.util_rules.registry import PlanFolderRequest, PreparedPush, PushPlanRequest
from pants_backend_ko.util_rules.tool import KoTool

PLAN_DIR = "ko-deploy"
PLAN_FILE = f"{PLAN_DIR}/plan.json"
RENDERED_DIR = "rendered"  # the rendered YAML, in the plan's folder


@dataclass(frozen=True)
class DeployPlanRequest:
    field_set: KoManifestsFieldSet
    push_images: bool  # False when Pants publishes them first (experimental-deploy)


@dataclass(frozen=True)
class PreparedDeploy:
    plan: DeployPlan
    digest: Digest  # PLAN_FILE, the rendered YAML and the layouts to push
    rendered: RenderedManifests

    @staticmethod
    def argv(tool: KoTool, plan_file: str) -> tuple[str, ...]:
        """The tool's command for the plan at `plan_file`; it ends with `--`: extra kubectl
        arguments go after it."""
        return tool.local_argv("deploy", "--plan", plan_file, "--")


@rule(desc="Plan a ko_manifests deploy", level=LogLevel.DEBUG)
async def deploy_plan(request: DeployPlanRequest) -> PreparedDeploy:
    field_set = request.field_set
    verb = field_set.verb.value or "apply"
    # ko delete builds nothing: kubectl deletes by kind and name, `ko://` strings and all.
    rendered = await Get(RenderedManifests, RenderManifestsRequest(field_set, resolve_images=verb != "delete"))
    push = request.push_images and verb != "delete"
    # The plan checks that no two of these images claim one repository:tag, pushed here or not.
    prepared = await Get(PreparedPush, PushPlanRequest(rendered.images if push else ()))
    if not push:
        refuse_shared_tags(
            claim for image in rendered.images for claim in claims_of(str(image.settings.address), image.name)
        )
    plan = DeployPlan(
        target=str(field_set.address),
        verb=verb,
        manifest=f"{RENDERED_DIR}/{COMBINED_MANIFEST}",
        kubectl_args=tuple(field_set.kubectl_args.value or ()),
        push=prepared.plan,
    )
    files = FrozenDict({"plan.json": encode(plan)})
    placements = (*prepared.placements, (rendered.combined, RENDERED_DIR))
    digest = await Get(Digest, PlanFolderRequest(PLAN_DIR, files, placements))
    return PreparedDeploy(plan, digest, rendered)


def rules():
    return collect_rules()
