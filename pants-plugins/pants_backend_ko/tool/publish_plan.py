"""Carrying out a `PushPlan`: every image pushed (or loaded) in parallel, then its attachments.

Each image goes to its destination (`ImagePush.kind`): a registry, through
`oci/remote/push.py`, which skips whatever the registry has, then its attachments are added
(`Attachment.kind`; SBOMs today, through `oci/remote/attach.py`); or, for ko.local, the Docker
daemon at `DOCKER_HOST`, through `oci/daemon/local.py`, which loads the image unless the daemon
has it and adds its tags. Every image is attempted even when another fails, as `ko build`
does, and each outcome says what happened in one line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pants_backend_ko.errors import KoError, format_error, one_line
from pants_backend_ko.oci.daemon.client import DaemonClient
from pants_backend_ko.oci.daemon.local import publish_local
from pants_backend_ko.oci.layout import read_layout
from pants_backend_ko.oci.reference import parse_repository
from pants_backend_ko.oci.remote.attach import attach_sbom
from pants_backend_ko.oci.remote.descriptors import manifest_media_type
from pants_backend_ko.oci.remote.push import push_layout
from pants_backend_ko.oci.remote.transport import ClientPool, RegistryClient
from pants_backend_ko.tool.messages import DAEMON, REGISTRY, SBOM, Attachment, ImagePush, PushPlan, blob_path

logger = logging.getLogger(__name__)

# Images pushed at the same time; each pushes `PushPlan.jobs` blobs at a time.
MAX_PARALLEL_IMAGES = 4


@dataclass(frozen=True)
class Destinations:
    """Where a plan's images go: registries, and the Docker daemon when the plan loads any."""

    registries: ClientPool
    daemon: DaemonClient | None = None  # reached before anything is pushed (`tool/main.py`)


@dataclass(frozen=True)
class PushOutcome:
    repository: str
    reference: str | None = None  # REPO@sha256:<hex> once pushed, ko.local/<name>:<hex> once loaded
    error: str | None = None  # one line, when it failed
    summary: str = ""  # "(N uploaded, N mounted, N present)", "(loaded into the Docker daemon, linux/amd64)"
    kind: str = REGISTRY


def attach(
    client: RegistryClient, repository: str, layout: Path, attachments: Sequence[Attachment], base: Path
) -> None:
    """Attach each file to its subject, a manifest of `layout` that was just pushed (so it
    exists in the registry); file paths are relative to `base`."""
    for attachment in attachments:
        if attachment.kind != SBOM:  # the plan's decoder accepts only kinds listed here
            raise KoError(f"cannot attach a {attachment.kind!r}")
        manifest = layout / blob_path(attachment.subject)
        media_type = manifest_media_type(manifest.read_bytes(), None, f"OCI layout {layout}: {attachment.subject}")
        attach_sbom(client, repository, attachment.subject, media_type, (base / attachment.path).read_bytes())


def _registry_and_repository(source: str) -> tuple[str, str]:
    """`registry/repository` (a blob source of the plan) as push_layout takes it."""
    registry, _, repository = source.partition("/")
    return registry, repository


def _push_to_registry(image: ImagePush, plan: PushPlan, base: Path, to: Destinations) -> PushOutcome:
    client = to.registries.get(parse_repository(image.repository).registry)
    result = push_layout(
        base / image.layout,
        image.repository,
        image.tags,
        client=client,
        blob_sources={digest: _registry_and_repository(source) for digest, source in image.blob_sources},
        jobs=plan.jobs,
    )
    attach(client, image.repository, base / image.layout, image.attachments, base)
    summary = f"({result.blobs_uploaded} uploaded, {result.blobs_mounted} mounted, {result.blobs_skipped} present)"
    logger.info("pushed %s %s", result.reference, summary)
    return PushOutcome(image.repository, reference=result.reference, summary=summary)


def _load_into_daemon(image: ImagePush, plan: PushPlan, base: Path, to: Destinations) -> PushOutcome:
    assert to.daemon is not None, "tool/main.py reaches the daemon before a plan that loads runs"
    result = publish_local(
        to.daemon, read_layout(base / image.layout), image.image, image.repository, image.tags, image.repository
    )
    where = to.daemon.address.shown
    if result.loaded:
        summary = f"(loaded into the Docker daemon at {where}, {result.platform})"
    else:
        summary = f"(already in the Docker daemon at {where}" + (
            f"; tagged {', '.join(result.tags_added)})" if result.tags_added else ")"
        )
    logger.info("%s %s", result.reference, summary)
    return PushOutcome(image.repository, reference=result.reference, summary=summary, kind=DAEMON)


# How each kind of destination is published to (`ImagePush.kind`).
_PUBLISHERS: dict[str, Callable[[ImagePush, PushPlan, Path, Destinations], PushOutcome]] = {
    REGISTRY: _push_to_registry,
    DAEMON: _load_into_daemon,
}


def push_images(plan: PushPlan, base: Path, to: Destinations) -> list[PushOutcome]:
    """Push the images of `plan` (paths relative to `base`) in parallel; the outcomes come back
    in plan order, a failure as one line naming the repository."""

    def push(image: ImagePush) -> PushOutcome:
        try:
            return _PUBLISHERS[image.kind](image, plan, base, to)
        except (KoError, ValueError, OSError) as e:
            return PushOutcome(
                image.repository, error=format_error(one_line(e) or type(e).__name__, where=image.repository)
            )

    if len(plan.images) <= 1:
        return [push(image) for image in plan.images]
    workers = min(MAX_PARALLEL_IMAGES, len(plan.images))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="oci-image") as executor:
        return list(executor.map(push, plan.images))
