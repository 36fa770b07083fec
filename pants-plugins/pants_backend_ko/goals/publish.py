"""`pants publish` for `ko_image`: push the packaged layout's exact bytes, then the tags.

Pants asks every publish rule for its processes at once, then runs the processes one after
another. So before any push, one read-only check asks the registry, for every `ko_image` the
command line publishes, which images it already has with all their tags and SBOMs (it needs
only names and tags, so it runs while the binaries build); those images are skipped. The first
image that needs a push gets one process that pushes every such image in parallel, as `ko build`
does; the others have nothing left to run (their names are listed under that process).

With `KO_DOCKER_REPO=ko.local` (ko's local publisher) the same happens with the Docker daemon at
`DOCKER_HOST` instead of a registry: the check asks the daemon which tags it holds, an image it
has under `ko.local/<name>:<hex>` and every tag is `skipped (already in the Docker daemon …)`,
and the others are loaded by the same process (entries of kind `daemon` in the push plan).

A rule sees only its own target, so the batch is the command line's targets
(`util_rules/command_line.py`, the one place that reads Pants' private options). An image
outside the batch (published by `experimental-deploy`, or when the command line cannot be
read) is checked and pushed on its own: slower, same result.
"""

from __future__ import annotations

from dataclasses import dataclass

from pants.core.goals.publish import (
    PublishFieldSet,
    PublishOutputData,
    PublishPackages,
    PublishProcesses,
    PublishRequest,
)
from pants.engine.fs import Digest
from pants.engine.process import InteractiveProcess
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from pants_backend_ko.codec import encode
from pants_backend_ko.errors import KoError
from pants_backend_ko.oci.remote.state import RegistryState, RepositoryQuery
from pants_backend_ko.subsystems import KoSubsystem
from pants_backend_ko.target_types import KoImageFieldSet
from pants_backend_ko.util_rules.command_line import CommandLineTargets
from pants_backend_ko.util_rules.image import (
    BuiltKoImage,
    KoImageRequest,
    KoImageSettings,
    KoImageSettingsRequest,
)
from pants_backend_ko.util_rules.naming import ImageName, ImageNameRequest, published_reference
from pants_backend_ko.util_rules.registry import PlanFolderRequest, RegistryStatusRequest, push_plan
from pants_backend_ko.util_rules.tool import KoTool


class PublishKoImageRequest(PublishRequest):
    pass


@dataclass(frozen=True)
class KoImagePublishFieldSet(KoImageFieldSet, PublishFieldSet):
    publish_request_type = PublishKoImageRequest

    def get_output_data(self) -> PublishOutputData:
        return PublishOutputData({"publisher": "ko", "target": self.address})


def nowhere_to_publish(address) -> KoError:
    return KoError(
        "nowhere to publish: set KO_DOCKER_REPO (e.g. `KO_DOCKER_REPO=ghcr.io/acme`), "
        "[ko].docker_repo, or the target's `repository` field.",
        where=str(address),
    )


@dataclass(frozen=True)
class PublishBatchRequest:
    pass


@dataclass(frozen=True)
class PublishBatch:
    """Every `ko_image` among the command line's targets, as one registry question: where each
    will be pushed and under which tags. Names only, so the check runs while binaries build."""

    checks: tuple[RepositoryQuery, ...]
    description: str
    requests: tuple[KoImageRequest, ...] = ()  # to build them all (the goal builds them anyway)


@rule(desc="Collect the ko_images to publish", level=LogLevel.DEBUG)
async def publish_batch(_: PublishBatchRequest, command_line: CommandLineTargets) -> PublishBatch:
    # The same (narrowed) requests build_ko_image makes, so these are computed once.
    requests = [
        KoImageRequest(KoImagePublishFieldSet.create(t))
        for t in command_line.targets
        if KoImagePublishFieldSet.is_applicable(t)
    ]
    settings = await MultiGet(Get(KoImageSettings, KoImageSettingsRequest(r.field_set)) for r in requests)
    names = await MultiGet(
        Get(ImageName, ImageNameRequest(r.field_set, s.import_path)) for r, s in zip(requests, settings)
    )
    checks = tuple(sorted({RepositoryQuery(n.repository, n.tags) for n in names if n.repository and n.tags}, key=str))
    return PublishBatch(checks, f"{len(requests)} ko_image{'s' if len(requests) != 1 else ''}", tuple(requests))


def image_output(image: BuiltKoImage) -> FrozenDict:
    """One image in `--publish-output` (`destination`: `registry`, or `daemon` for ko.local)."""
    return FrozenDict(
        {
            "target": image.settings.address,
            "import_path": image.settings.import_path,
            "repository": image.name.repository,
            "digest": image.digest,
            "reference": published_reference(image),
            "tags": image.name.tags,
            "destination": "daemon" if image.name.is_local else "registry",
        }
    )


def is_published(status: RegistryState, image: BuiltKoImage) -> bool:
    """Whether the registry (or, for ko.local, the Docker daemon) already has `image` with its tags."""
    repository = image.name.repository
    assert repository is not None
    if image.name.is_local:
        reference = published_reference(image)
        assert reference is not None
        return status.is_loaded(repository, reference, image.name.tags)
    return status.is_published(repository, image.digest, image.name.tags)


PLAN_DIR = "ko-publish"


@rule(desc="Publish a ko_image", level=LogLevel.DEBUG)
async def publish_ko_image(request: PublishKoImageRequest, ko: KoSubsystem, tool: KoTool) -> PublishProcesses:
    field_set = request.field_set
    image = await Get(BuiltKoImage, KoImageRequest(field_set))
    repository = image.name.repository
    if repository is None:
        raise nowhere_to_publish(field_set.address)
    batch = await Get(PublishBatch, PublishBatchRequest())
    check = RepositoryQuery(repository, image.name.tags)
    in_batch = check in batch.checks
    if in_batch:
        status = await Get(RegistryState, RegistryStatusRequest(batch.checks, batch.description))
    else:
        # Not among the command line's targets (a deploy publishes it), or no tags: on its own.
        single = RepositoryQuery(repository, image.name.tags, (image.digest,))
        status = await Get(RegistryState, RegistryStatusRequest((single,), str(field_set.address)))
    if is_published(status, image):
        tags = f" with tags: {', '.join(image.name.tags)}" if image.name.tags else ""
        where = "the Docker daemon" if image.name.is_local else "the registry"
        return PublishProcesses(
            [
                PublishPackages(
                    names=tuple(filter(None, (published_reference(image),))),
                    process=None,
                    description=f"(already in {where}{tags})",
                    data=PublishOutputData({"publisher": "ko", "images": (image_output(image),)}),
                )
            ]
        )
    pending: tuple[BuiltKoImage, ...] = (image,)
    if in_batch:
        # Pants runs publish processes one after another: the first image that needs a push
        # pushes every such image of the batch, in parallel, as `ko build` does; the others
        # add nothing (their names are listed under that one process).
        images = await MultiGet(Get(BuiltKoImage, KoImageRequest, r) for r in batch.requests)
        pending = tuple(
            sorted(
                (
                    i
                    for i in images
                    if i.name.repository
                    and RepositoryQuery(i.name.repository, i.name.tags) in batch.checks
                    and not is_published(status, i)
                ),
                key=lambda i: str(i.settings.address),
            )
        )
        if not pending or pending[0].settings.address != image.settings.address:
            return PublishProcesses([])
    plan, placements = push_plan(pending, ko)
    digest = await Get(Digest, PlanFolderRequest(PLAN_DIR, FrozenDict({"plan.json": encode(plan)}), placements))
    process = InteractiveProcess(
        argv=tool.local_argv("push-plan", "--plan", f"{PLAN_DIR}/plan.json"),
        env=tool.local_env,
        input_digest=digest,
    )
    tag_sets = {i.name.tags for i in pending}
    shared_tags = next(iter(tag_sets)) if len(tag_sets) == 1 else ()
    description = f"tags: {', '.join(shared_tags)}" if shared_tags else None
    if all(i.name.is_local for i in pending):  # Pants says "published to <description>"
        description = "the Docker daemon" + (f" with {description}" if description else "")
    return PublishProcesses(
        [
            PublishPackages(
                # Every pending image has a repository (the batch's checks are by repository).
                names=tuple(filter(None, (published_reference(i) for i in pending))),
                process=process,
                description=description,
                data=PublishOutputData({"publisher": "ko", "images": tuple(image_output(i) for i in pending)}),
            )
        ]
    )


def rules():
    return [*collect_rules(), *KoImagePublishFieldSet.rules()]
