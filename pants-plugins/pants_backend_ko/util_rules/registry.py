"""Pushing: the push plan for built images, and the read-only check of which images a registry
already has.

Pushes run only in publish, run and deploy (`InteractiveProcess`es, never cached): the tool's
`push-plan` or `deploy` verb (`tool/main.py`) with a `PushPlan`, with Pants' own interpreter,
so the exact bytes `pants package` computed are what is pushed. The check (the `status` verb,
a `StatusQuery` answered by a `RegistryState`) only reads, so it is a `Process`, cached for one
run only: a registry changes between runs.

ko.local images are entries of the same plan, of kind `daemon`: loaded into the Docker daemon
at `DOCKER_HOST` (the image ko loads: an index's GOOS/GOARCH image, named by the plan), and the
same check asks the daemon which tags it holds, so a publish that has nothing to load runs no
process at all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pants.engine.fs import AddPrefix, CreateDigest, Digest, FileContent, MergeDigests
from pants.engine.process import FallibleProcessResult, ProcessCacheScope
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from pants_backend_ko.codec import MessageError, decode, encode
from pants_backend_ko.errors import KoError
from pants_backend_ko.oci.daemon.local import is_local_docker_repo
from pants_backend_ko.oci.remote.state import RegistryState, RepositoryQuery
from pants_backend_ko.subsystems import KoSubsystem
from pants_backend_ko.tool.messages import DAEMON, SBOM, Attachment, ImagePush, PushPlan, StatusQuery
from pants_backend_ko.util_rules.naming import loaded_image_digest
from pants_backend_ko.util_rules.tool import KoToolRequest

if TYPE_CHECKING:
    from pants_backend_ko.util_rules.image import BuiltKoImage

logger = logging.getLogger(__name__)


def push_plan(images: Sequence[BuiltKoImage], ko: KoSubsystem) -> tuple[PushPlan, tuple[tuple[Digest, str], ...]]:
    """A plan that pushes `images` in parallel, and where each image's layout and SBOMs go,
    relative to the plan's folder."""
    entries = []
    placements: list[tuple[Digest, str]] = []
    for i, image in enumerate(images):
        assert image.name.repository is not None, "callers report an image without a repository"
        if image.name.is_local:
            entries.append(daemon_load(image, f"images/{i}"))
            placements.append((image.layout, f"images/{i}"))
            continue
        entries.append(
            ImagePush(
                layout=f"images/{i}",
                repository=image.name.repository,
                tags=image.name.tags,
                blob_sources=image.base_blob_sources,
                attachments=tuple(Attachment(SBOM, digest, f"sboms/{i}/{path}") for digest, path in image.sbom_files),
            )
        )
        placements.extend(((image.layout, f"images/{i}"), (image.sboms, f"sboms/{i}")))
    plan = PushPlan(
        tuple(entries),
        jobs=ko.publish_jobs,
        insecure_registries=tuple(ko.insecure_registries),
        transport=ko.transport_limits,
    )
    return plan, tuple(placements)


def daemon_load(image: BuiltKoImage, layout: str) -> ImagePush:
    """ko.local: the plan entry that loads the image ko would load into the Docker daemon."""
    if not image.loadable:
        raise KoError(
            "ko.local loads whole images into the Docker daemon, but `[ko].shallow_base_images = true` leaves "
            "the base image's layers out of this one",
            where=str(image.settings.address),
            fix="publish to ko.local without `shallow_base_images` (e.g. `--no-ko-shallow-base-images`)",
        )
    assert image.name.repository is not None
    return ImagePush(
        layout=layout,
        repository=image.name.repository,
        tags=image.name.tags,
        kind=DAEMON,
        image=loaded_image_digest(image),
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
    query = StatusQuery(
        tuple(check for check in request.checks if check not in local),
        daemon_repositories=tuple(sorted({check.repository for check in local})),
        sbom=ko.sbom,
        insecure_registries=tuple(ko.insecure_registries),
        transport=ko.transport_limits,
    )
    input_digest = await Get(Digest, CreateDigest([FileContent(STATUS_FILE, encode(query))]))
    result = await Get(
        FallibleProcessResult,
        KoToolRequest(
            "status",
            ("--query", STATUS_FILE),
            description=f"Check {_destinations(query)} for {request.description}",
            input_digest=input_digest,
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
