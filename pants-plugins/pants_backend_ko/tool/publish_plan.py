"""Carrying out a `PushPlan`: every image pushed (or loaded) in parallel, then its attachments,
then signed.

Each entry goes to its destination (`ImagePush.kind`): a registry, through `oci/remote/push.py`,
which skips whatever the registry has, then its attachments are added (`Attachment.kind`; SBOMs
today, through `oci/remote/attach.py`), then, when the plan signs, the image, its platform images
and SBOMs are signed and its provenance attested (`sign/publish.py`, through the `Signer` the
caller made from the plan's `SigningOptions`). Attaching and signing of one entry run one after
the other: both update the same referrers fallback index. Or, for ko.local, the Docker daemon at
`DOCKER_HOST`, through `oci/daemon/local.py`, which loads the image unless the daemon has it and
adds its tags; a daemon load is never signed (ko signs nothing there).

Entries of the same image (one per registry or repository it is published to) run one after
the other too, in plan order: a later entry on the same registry as an earlier one mounts every
blob from it instead of uploading it again, so each blob crosses the network once per registry.
Different images run in parallel. Every image is attempted even when another fails, as `ko
build` does, and each outcome says what happened in one line.

With `PushPlan.tag_only` (ko's `--tag-only`: references name the tag alone) nothing is pushed
when any tag of the plan already names another digest in a registry: the reference would
silently change meaning. Every entry's layout must hold the digest the plan names (`ImagePush.digest`).
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
from pants_backend_ko.oci.digest import is_digest
from pants_backend_ko.oci.layout import read_layout
from pants_backend_ko.oci.reference import parse_repository
from pants_backend_ko.oci.remote.attach import attach_sbom
from pants_backend_ko.oci.remote.descriptors import manifest_media_type
from pants_backend_ko.oci.remote.pull import manifest_digest_at
from pants_backend_ko.oci.remote.push import push_layout
from pants_backend_ko.oci.remote.transport import ClientPool, RegistryClient
from pants_backend_ko.sign.provenance import ProvenanceInputs
from pants_backend_ko.tool.messages import DAEMON, REGISTRY, SBOM, Attachment, ImagePush, PushPlan, blob_path

logger = logging.getLogger(__name__)

# Images pushed at the same time; each pushes `PushPlan.jobs` blobs at a time.
MAX_PARALLEL_IMAGES = 4

# Signs one pushed image (client, registry/path, digest, provenance) and says what it did, in a
# few words. Made by tool/main.py from the plan's SigningOptions, with the key already loaded.
Signer = Callable[[RegistryClient, str, str, "ProvenanceInputs | None"], str]


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
    signed: str = ""  # what signing did, when the plan signs


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


def _layout_blobs(layout: Path) -> list[str]:
    return [f"sha256:{p.name}" for p in sorted((layout / "blobs/sha256").glob("*")) if is_digest(f"sha256:{p.name}")]


def _push_to_registry(
    image: ImagePush, plan: PushPlan, base: Path, to: Destinations, mount_from: str | None, signer: Signer | None
) -> PushOutcome:
    layout = base / image.layout
    if image.digest and read_layout(layout).top().digest != image.digest:
        raise KoError(f"the layout {image.layout} does not hold {image.digest}; the plan folder is damaged")
    client = to.registries.get(parse_repository(image.repository).registry)
    result = push_layout(
        layout,
        image.repository,
        image.tags,
        client=client,
        mount_sources={digest: mount_from for digest in _layout_blobs(layout)} if mount_from else None,
        blob_sources={digest: _registry_and_repository(source) for digest, source in image.blob_sources},
        jobs=plan.jobs,
    )
    attach(client, image.repository, layout, image.attachments, base)
    signed = signer(client, image.repository, result.digest, image.provenance) if signer else ""
    summary = f"({result.blobs_uploaded} uploaded, {result.blobs_mounted} mounted, {result.blobs_skipped} present)"
    logger.info("pushed %s %s", result.reference, summary)
    return PushOutcome(image.repository, reference=result.reference, summary=summary, signed=signed)


def _load_into_daemon(
    image: ImagePush, plan: PushPlan, base: Path, to: Destinations, mount_from: str | None, signer: Signer | None
) -> PushOutcome:
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
_PUBLISHERS: dict[str, Callable[[ImagePush, PushPlan, Path, Destinations, str | None, Signer | None], PushOutcome]] = {
    REGISTRY: _push_to_registry,
    DAEMON: _load_into_daemon,
}


def _failure(image: ImagePush, error: BaseException | str) -> PushOutcome:
    what = error if isinstance(error, str) else (one_line(error) or type(error).__name__)
    return PushOutcome(image.repository, error=format_error(what, where=image.repository), kind=image.kind)


def moved_tags(plan: PushPlan, pool: ClientPool) -> list[PushOutcome]:
    """With `tag_only`: every tag of the plan that already names a digest other than its entry's
    (read-only), as failures; empty when none does."""
    failures = []
    for image in plan.images:
        if image.kind != REGISTRY:
            continue
        parsed = parse_repository(image.repository)
        try:
            client = pool.get(parsed.registry)
            for tag in image.tags:
                found = manifest_digest_at(client, parsed.repository, tag)
                if found and found != image.digest:
                    failures.append(
                        _failure(
                            image,
                            f"--tag-only: the tag {tag} already names {found}, not {image.digest} "
                            f"({image.target or 'this image'} changed); a tag-only reference would silently "
                            "change meaning: publish the change under a new tag",
                        )
                    )
        except (KoError, ValueError, OSError) as e:
            failures.append(_failure(image, e))
    return failures


def push_images(plan: PushPlan, base: Path, to: Destinations, signer: Signer | None = None) -> list[PushOutcome]:
    """Push the images of `plan` (paths relative to `base`) as the module docstring says; the
    outcomes come back in plan order, a failure as one line naming the repository."""
    if plan.tag_only:
        refused = moved_tags(plan, to.registries)
        if refused:
            return refused

    def push_group(entries: list[ImagePush]) -> list[PushOutcome]:
        outcomes = []
        pushed_to: dict[str, str] = {}  # registry -> a repository of it that now holds the image
        for image in entries:
            registry = parse_repository(image.repository).registry if image.kind == REGISTRY else ""
            try:
                outcome = _PUBLISHERS[image.kind](image, plan, base, to, pushed_to.get(registry), signer)
            except (KoError, ValueError, OSError) as e:
                outcome = _failure(image, e)
            if outcome.reference and registry:
                pushed_to.setdefault(registry, image.repository)
            outcomes.append(outcome)
        return outcomes

    groups: dict[str, list[int]] = {}  # one image (its digest) -> its entries, in plan order
    for i, image in enumerate(plan.images):
        groups.setdefault(image.digest or image.layout, []).append(i)
    work = [[plan.images[i] for i in indexes] for indexes in groups.values()]
    if len(work) <= 1:
        done = [push_group(entries) for entries in work]
    else:
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_IMAGES, len(work)), thread_name_prefix="oci-image") as ex:
            done = list(ex.map(push_group, work))
    by_index = {i: outcome for indexes, outcomes in zip(groups.values(), done) for i, outcome in zip(indexes, outcomes)}
    return [by_index[i] for i in range(len(plan.images))]
