"""`pants publish` for `ko_image`: push the packaged layout's exact bytes, then the tags (to every
registry the image goes to, `util_rules/destinations.py`), the SBOMs and, with `[ko].signing_key`, the
signatures and provenance.

Pants asks every publish rule for its processes at once, then runs the processes one after
another. So before any push, one read-only check asks the registry, for every `ko_image` the
command line publishes, which images it already has with all their tags and SBOMs (and, when
signing, signatures by our key; it needs only names and tags, so it runs while the binaries
build); those images are skipped. Before that, the names of all of them are checked for two
targets claiming one `repository:tag`: an error naming both, and nothing is pushed. The first
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

from collections.abc import Iterable
from dataclasses import dataclass

from pants.core.goals.publish import (
    PublishFieldSet,
    PublishOutputData,
    PublishPackages,
    PublishProcesses,
    PublishRequest,
)
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import Digest
from pants.engine.process import InteractiveProcess
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from pants_backend_ko.codec import encode
from pants_backend_ko.errors import KoError
from pants_backend_ko.oci.remote.state import RegistryState, RepositoryQuery
from pants_backend_ko.target_types import KoImageFieldSet
from pants_backend_ko.util_rules.command_line import CommandLineTargets
from pants_backend_ko.util_rules.destinations import (
    Destination,
    ImageName,
    ImageNameRequest,
    claims_of,
    destination_reference,
    refuse_shared_tags,
)
from pants_backend_ko.util_rules.ko_build import (
    BuiltKoImage,
    KoImageRequest,
    KoImageSettings,
    KoImageSettingsRequest,
)
from pants_backend_ko.util_rules.registry import (
    PlanFolderRequest,
    PreparedPush,
    PushPlanRequest,
    RegistryStatusRequest,
)
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
    # Before anything is pushed: no two targets may claim one repository:tag (issue 17).
    refuse_shared_tags(claim for r, n in zip(requests, names) for claim in claims_of(str(r.field_set.address), n))
    checks = tuple(sorted({RepositoryQuery(d.repository, d.tags) for n in names for d in n.pushed if d.tags}, key=str))
    return PublishBatch(checks, f"{len(requests)} ko_image{'s' if len(requests) != 1 else ''}", tuple(requests))


def image_output(image: BuiltKoImage, destination: Destination) -> FrozenDict:
    """One image in one destination, in `--publish-output` (`destination`: `registry`, or
    `daemon` for ko.local)."""
    return FrozenDict(
        {
            "target": image.settings.address,
            "import_path": image.settings.import_path,
            "repository": destination.repository,
            "digest": image.digest,
            "reference": destination_reference(image, destination),
            "tags": destination.tags,
            "destination": "daemon" if image.name.is_local else "registry",
        }
    )


def is_in_place(status: RegistryState, image: BuiltKoImage, destination: Destination) -> bool:
    """Whether the registry (or, for ko.local, the Docker daemon) already has `image` with the
    destination's tags."""
    if image.name.is_local:
        return status.is_loaded(destination.repository, destination_reference(image, destination), destination.tags)
    return status.is_published(destination.repository, image.digest, destination.tags)


def _output(image: BuiltKoImage, destinations: Iterable[Destination]) -> PublishOutputData:
    return _outputs([(image, tuple(destinations))])


def _outputs(pairs: Iterable[tuple[BuiltKoImage, tuple[Destination, ...]]]) -> PublishOutputData:
    images = tuple(image_output(i, d) for i, dests in pairs for d in dests)
    return PublishOutputData({"publisher": "ko", "images": images})


def _shared_tags(destinations: Iterable[Destination]) -> tuple[str, ...]:
    """The tags every destination gets, when they all get the same ones (what Pants prints)."""
    tag_sets = {d.tags for d in destinations}
    return next(iter(tag_sets)) if len(tag_sets) == 1 else ()


def _skipped(image: BuiltKoImage) -> list[PublishPackages]:
    """What `skip_push` leaves out, said as Pants' docker backend says it."""
    name = image.name
    if name.skip_push:
        refs = tuple(destination_reference(image, d) for d in name.destinations) or (name.local_name,)
        return [
            PublishPackages(
                names=refs,
                description=f"(by `skip_push` on {image.settings.address})",
                data=_output(image, name.destinations),
            )
        ]
    return [
        PublishPackages(
            names=(destination_reference(image, d),),
            description=f"(by `skip_push` on registry {d.source})",
            data=_output(image, (d,)),
        )
        for d in name.destinations
        if d.skip_push
    ]


PLAN_DIR = "ko-publish"


@rule(desc="Publish a ko_image", level=LogLevel.DEBUG)
async def publish_ko_image(request: PublishKoImageRequest, tool: KoTool) -> PublishProcesses:
    field_set = request.field_set
    image = await Get(BuiltKoImage, KoImageRequest(field_set))
    batch = await Get(PublishBatch, PublishBatchRequest())
    name = image.name
    skipped = _skipped(image)
    if name.skip_push:
        return PublishProcesses(skipped)
    if not name.destinations:
        raise nowhere_to_publish(field_set.address)
    pushed = name.pushed
    checks = [RepositoryQuery(d.repository, d.tags) for d in pushed]
    in_batch = all(check in batch.checks for check in checks)
    if in_batch:
        status = await Get(RegistryState, RegistryStatusRequest(batch.checks, batch.description))
    else:
        # Not among the command line's targets (a deploy publishes it), or no tags: on its own.
        singles = tuple(RepositoryQuery(d.repository, d.tags, (image.digest,)) for d in pushed)
        status = await Get(RegistryState, RegistryStatusRequest(singles, str(field_set.address)))

    def missing(i: BuiltKoImage) -> tuple[Destination, ...]:
        return tuple(d for d in i.name.pushed if not is_in_place(status, i, d))

    if pushed and not missing(image):
        tags = _shared_tags(pushed)
        where = "the Docker daemon" if name.is_local else "the registry"
        return PublishProcesses(
            [
                PublishPackages(
                    names=tuple(destination_reference(image, d) for d in pushed),
                    process=None,
                    description=f"(already in {where}{' with tags: ' + ', '.join(tags) if tags else ''})",
                    data=_output(image, pushed),
                ),
                *skipped,
            ]
        )
    pending: list[tuple[BuiltKoImage, tuple[Destination, ...]]] = [(image, missing(image))]
    if in_batch:
        # Pants runs publish processes one after another: the first image that needs a push
        # pushes every such image of the batch, in parallel, as `ko build` does; the others
        # add nothing (their names are listed under that one process).
        images = await MultiGet(Get(BuiltKoImage, KoImageRequest, r) for r in batch.requests)
        checked = (
            i for i in images if all(RepositoryQuery(d.repository, d.tags) in batch.checks for d in i.name.pushed)
        )
        pending = sorted(
            ((i, dests) for i, dests in ((i, missing(i)) for i in checked) if dests),
            key=lambda pair: str(pair[0].settings.address),
        )
        if not pending or pending[0][0].settings.address != image.settings.address:
            return PublishProcesses(skipped)
    prepared = await Get(PreparedPush, PushPlanRequest(tuple(i for i, _ in pending), tuple(d for _, d in pending)))
    digest = await Get(
        Digest, PlanFolderRequest(PLAN_DIR, FrozenDict({"plan.json": encode(prepared.plan)}), prepared.placements)
    )
    # The key's password (and an env:// key) reach the process through its environment only.
    secrets = await Get(EnvironmentVars, EnvironmentVarsRequest(prepared.env_names))
    process = InteractiveProcess(
        argv=tool.local_argv("push-plan", "--plan", f"{PLAN_DIR}/plan.json"),
        env={**tool.local_env, **secrets},
        input_digest=digest,
    )
    tags = _shared_tags(d for _, dests in pending for d in dests)
    description = f"tags: {', '.join(tags)}" if tags else None
    if all(i.name.is_local for i, _ in pending):  # Pants says "published to <description>"
        description = "the Docker daemon" + (f" with {description}" if description else "")
    return PublishProcesses(
        [
            PublishPackages(
                names=tuple(destination_reference(i, d) for i, dests in pending for d in dests),
                process=process,
                description=description,
                data=_outputs(pending),
            ),
            *skipped,
        ]
    )


def rules():
    return [*collect_rules(), *KoImagePublishFieldSet.rules()]
