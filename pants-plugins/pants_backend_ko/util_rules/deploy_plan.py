"""The plan that `k8s.apply_tool` executes: rendered YAML, kubectl verb, and images to push."""

from __future__ import annotations

import json
from dataclasses import dataclass

from pants.engine.fs import AddPrefix, CreateDigest, Digest, FileContent, MergeDigests
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.logging import LogLevel

from pants_backend_ko.subsystems import KoSubsystem
from pants_backend_ko.target_types import KoManifestsFieldSet
from pants_backend_ko.util_rules.manifests import RenderedManifests, RenderManifestsRequest
from pants_backend_ko.util_rules.registry import RegistryToolEnv, push_plan

PLAN_FILE = "ko-deploy/plan.json"


@dataclass(frozen=True)
class DeployPlanRequest:
    field_set: KoManifestsFieldSet
    push_images: bool  # False when Pants publishes them first (experimental-deploy)


@dataclass(frozen=True)
class DeployPlan:
    digest: Digest  # PLAN_FILE, the rendered YAML and the layouts to push
    argv: tuple[str, ...]  # ends with "--": extra kubectl arguments go after it
    env: dict  # PYTHONPATH etc. for the tool (credentials come from the user's environment)
    rendered: RenderedManifests


@rule(desc="Plan a ko_manifests deploy", level=LogLevel.DEBUG)
async def deploy_plan(request: DeployPlanRequest, ko: KoSubsystem, tool: RegistryToolEnv) -> DeployPlan:
    field_set = request.field_set
    verb = field_set.verb.value or "apply"
    # ko delete builds nothing: kubectl deletes by kind and name, `ko://` strings and all.
    rendered = await Get(RenderedManifests, RenderManifestsRequest(field_set, resolve_images=verb != "delete"))
    push = request.push_images and verb != "delete"
    images = rendered.images if push else ()
    pushes, placements = push_plan(images, ko)
    plan = {
        "target": str(field_set.address),
        "verb": verb,
        "manifest": "rendered.yaml",
        "kubectl_args": list(field_set.kubectl_args.value or ()),
        **pushes,
    }
    files = await Get(
        Digest,
        CreateDigest(
            [
                FileContent(PLAN_FILE, json.dumps(plan, indent=2).encode()),
                FileContent("ko-deploy/rendered.yaml", rendered.combined.encode("utf-8")),
            ]
        ),
    )
    placed = await MultiGet(Get(Digest, AddPrefix(digest, f"ko-deploy/{path}")) for digest, path in placements)
    digest = await Get(Digest, MergeDigests([files, *placed]))
    argv = (tool.python, "-m", "pants_backend_ko.k8s.apply_tool", "--plan")
    return DeployPlan(digest, argv, {"PYTHONPATH": tool.env["PYTHONPATH"]}, rendered)


def rules():
    return collect_rules()
