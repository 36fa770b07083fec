"""Pushing: the push plan for built images, and the read-only check of which images a registry
already has.

A plan has one entry per (image, destination): an image published to several registries shares
one layout folder. Every plan goes through `refuse_shared_tags` (two targets, one
`repository:tag` in a registry or in the daemon: an error before anything is pushed) and, with
`[ko].signing_key` and an image for a registry, carries the signing options and each registry
image's provenance inputs.

Pushes run only in publish, run and deploy (`InteractiveProcess`es, never cached): the tool's
`push-plan` or `deploy` verb (`tool/main.py`) with a `PushPlan`, with Pants' own interpreter,
so the exact bytes `pants package` computed are what is pushed. The check (the `status` verb,
a `StatusQuery` answered by a `RegistryState`) only reads, so it is a `Process`, cached for one
run only: a registry changes between runs.

ko.local images are entries of the same plan, of kind `daemon`: loaded into the Docker daemon
at `DOCKER_HOST` (the image ko loads: an index's GOOS/GOARCH image, named by the plan), and the
same check asks the daemon which tags it holds, so a publish that has nothing to load runs no
process at all. Nothing is signed or attested in the daemon (ko signs registry images only), so
a plan or check that only loads needs no signing key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pants.engine.fs import AddPrefix, CreateDigest, Digest, FileContent, MergeDigests
from pants.engine.process import FallibleProcessResult, ProcessCacheScope
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from pants_backend_ko.codec import MessageError, decode, encode
from pants_backend_ko.errors import KoError
from pants_backend_ko.oci.daemon.local import is_local_docker_repo
from pants_backend_ko.oci.remote.state import RegistryState, RepositoryQuery
from pants_backend_ko.sign.provenance import ProvenanceInputs
from pants_backend_ko.subsystems import KoSubsystem
from pants_backend_ko.tool.messages import DAEMON, SBOM, Attachment, ImagePush, PushPlan, StatusQuery
from pants_backend_ko.util_rules.destinations import Destination, TagClaim, loaded_image_digest, refuse_shared_tags
from pants_backend_ko.util_rules.ko_build import BuiltKoImage
from pants_backend_ko.util_rules.provenance import ProvenanceRequest
from pants_backend_ko.util_rules.signing import SigningSetup, SigningSetupRequest
from pants_backend_ko.util_rules.tool import KoToolRequest

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushPlanRequest:
    """Push `images`: each to the destinations `publish` pushes it to (`ImageName.pushed`), or to
    those of `destinations` (one tuple per image: what a registry check found missing)."""

    images: tuple[BuiltKoImage, ...]
    destinations: tuple[tuple[Destination, ...], ...] | None = None


@dataclass(frozen=True)
class PreparedPush:
    """A `PushPlan` and where its files go, relative to the plan's folder."""

    plan: PushPlan
    placements: tuple[tuple[Digest, str], ...]
    # Environment variables the pushing process needs (COSIGN_PASSWORD and an env:// key): the
    # caller passes them to the process, never into a file.
    env_names: tuple[str, ...] = ()


@rule(desc="Plan a push", level=LogLevel.DEBUG)
async def prepare_push(request: PushPlanRequest, ko: KoSubsystem) -> PreparedPush:
    images = request.images
    destinations = request.destinations or tuple(image.name.pushed for image in images)
    pushed = [image for image in images if not image.name.is_local]  # signed and attested; loads never
    signing = await Get(SigningSetup, SigningSetupRequest()) if pushed else SigningSetup(None)
    attest = signing.options is not None and signing.options.provenance
    inputs = await MultiGet(
        Get(ProvenanceInputs, ProvenanceRequest(image.settings)) for image in (pushed if attest else ())
    )
    provenance = {image.settings.address: found for image, found in zip(pushed, inputs)}
    entries: list[ImagePush] = []
    placements: list[tuple[Digest, str]] = []
    for i, (image, targets) in enumerate(zip(images, destinations)):
        if image.name.is_local:
            entries.extend(daemon_load(image, f"images/{i}", destination) for destination in targets)
            placements.append((image.layout, f"images/{i}"))
            continue
        attachments = tuple(Attachment(SBOM, digest, f"sboms/{i}/{path}") for digest, path in image.sbom_files)
        for destination in targets:
            entries.append(
                ImagePush(
                    layout=f"images/{i}",
                    repository=destination.repository,
                    tags=destination.tags,
                    blob_sources=image.base_blob_sources,
                    attachments=attachments,
                    target=str(image.settings.address),
                    digest=image.digest,
                    provenance=provenance[image.settings.address] if attest else None,
                )
            )
        placements.extend(((image.layout, f"images/{i}"), (image.sboms, f"sboms/{i}")))
    refuse_shared_tags(TagClaim(e.kind, e.repository, tag, e.target) for e in entries for tag in e.tags)
    plan = PushPlan(
        tuple(entries),
        jobs=ko.publish_jobs,
        insecure_registries=tuple(ko.insecure_registries),
        transport=ko.transport_limits,
        signing=signing.options,
        tag_only=ko.tag_only,
    )
    return PreparedPush(plan, tuple(placements), signing.env_names)


def daemon_load(image: BuiltKoImage, layout: str, destination: Destination) -> ImagePush:
    """ko.local: the plan entry that loads the image ko would load into the Docker daemon."""
    if not image.loadable:
        raise KoError(
            "ko.local loads whole images into the Docker daemon, but `[ko].shallow_base_images = true` leaves "
            "the base image's layers out of this one",
            where=str(image.settings.address),
            fix="publish to ko.local without `shallow_base_images` (e.g. `--no-ko-shallow-base-images`)",
        )
    return ImagePush(
        layout=layout,
        repository=destination.repository,
        tags=destination.tags,
        kind=DAEMON,
        image=loaded_image_digest(image),
        target=str(image.settings.address),
        digest=image.digest,
    )


@dataclass(frozen=True)
class PlanFolderRequest:
    """A folder for an interactive run of the tool: its message files and the digests they name."""

    folder: str
    files: FrozenDict[str, bytes]  # path in the folder -> content (the plan, the rendered YAML)
    placements: tuple[tuple[Digest, str], ...] = ()  # (digest, sub-folder), as `push_plan` gives them


@rule(desc="Lay out a ko plan folder", level=LogLevel.DEBUG)
async def plan_folder(request: PlanFolderRequest) -> Digest:
    parts = await MultiGet(
        Get(Digest, CreateDigest(FileContent(f"{request.folder}/{p}", c) for p, c in request.files.items())),
        *(Get(Digest, AddPrefix(digest, f"{request.folder}/{path}")) for digest, path in request.placements),
    )
    return await Get(Digest, MergeDigests(parts))


@dataclass(frozen=True)
class RegistryStatusRequest:
    """What the registries hold for these repositories and tags, asked in one process."""

    checks: tuple[RepositoryQuery, ...]
    description: str


STATUS_FILE = "ko-status.json"


def _destinations(query: StatusQuery) -> str:
    asked = (["the registry"] if query.repositories else []) + (
        ["the Docker daemon"] if query.daemon_repositories else []
    )
    return " and ".join(asked)


@rule(desc="Check what the registry has", level=LogLevel.DEBUG)
async def registry_status(request: RegistryStatusRequest, ko: KoSubsystem) -> RegistryState:
    if not request.checks:
        return RegistryState({}, {})
    local = [check for check in request.checks if is_local_docker_repo(check.repository)]
    signing = await Get(SigningSetup, SigningSetupRequest()) if len(local) < len(request.checks) else SigningSetup(None)
    query = StatusQuery(
        tuple(check for check in request.checks if check not in local),
        daemon_repositories=tuple(sorted({check.repository for check in local})),
        sbom=ko.sbom,
        signing=signing.options,
        insecure_registries=tuple(ko.insecure_registries),
        transport=ko.transport_limits,
    )
    result = await Get(
        FallibleProcessResult,
        KoToolRequest(
            "status",
            ("--query", STATUS_FILE),
            description=f"Check {_destinations(query)} for {request.description}",
            request_file=FileContent(STATUS_FILE, encode(query)),
            # Read-only, but the registry changes between runs: never trust an older answer.
            cache_scope=ProcessCacheScope.PER_SESSION,
            ship_sources=False,
        ),
    )
    if result.exit_code == 0:
        try:
            return decode(RegistryState, result.stdout, "the registry check's answer")
        except MessageError as e:
            logger.debug("%s", e)
    # The check only saves work: when it fails every image is pushed, and the push reports the
    # real problem in its own one line.
    logger.debug("registry check failed (exit %s): %s", result.exit_code, result.stderr.decode(errors="replace")[-500:])
    return RegistryState({}, {})


def rules():
    return collect_rules()
