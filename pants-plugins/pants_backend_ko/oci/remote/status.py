"""What a registry has, for `pants publish` to skip what is already there. Read-only.

For each repository: the digest every tag points at, and for each of those digests (plus any
digest asked about directly) whether it is complete: the manifest is there and, when SBOMs are
published, ko's ``sha256-<hex>.sbom`` tag and an SPDX referrer are attached to it and to every
platform manifest of an index — the state a successful ``push`` + SBOM attach leaves — and
whatever the caller's ``extra_check`` asks (the tool's ``status`` verb: signed by our key).

It needs only names and tags, not the images being built, so `pants publish` runs it while the
edited binaries compile; the publish rule then compares the tags' digests with its own. All
requests go through one client per registry on a bounded thread pool. No Pants imports.
"""

from __future__ import annotations

import concurrent.futures
import functools
from collections.abc import Sequence
from typing import Callable, TypeVar

from pants_backend_ko.oci.reference import digest_reference, parse_repository
from pants_backend_ko.oci.remote.attach import sbom_missing
from pants_backend_ko.oci.remote.credentials import CredentialError
from pants_backend_ko.oci.remote.descriptors import INDEX_TYPES
from pants_backend_ko.oci.remote.errors import RegistryError
from pants_backend_ko.oci.remote.pull import get_manifest, manifest_digest_at
from pants_backend_ko.oci.remote.state import RegistryState, RepositoryQuery
from pants_backend_ko.oci.remote.transport import ClientPool, RegistryClient

T = TypeVar("T")
_ERRORS = (RegistryError, CredentialError, OSError, ValueError)


# What else an image needs to count as complete (signatures): (client, registry/path, digest) ->
# what is missing in a few words, or None.
ExtraCheck = Callable[[RegistryClient, str, str], "str | None"]


def _completeness(client: RegistryClient, repository: str, digest: str, sbom: bool, extra: ExtraCheck | None) -> str:
    missing = _pushed_completeness(client, repository, digest, sbom)
    return missing or (extra(client, repository, digest) if extra else None) or ""


def _pushed_completeness(client: RegistryClient, repository: str, digest: str, sbom: bool) -> str:
    repo = parse_repository(repository).repository
    if not sbom:
        present = manifest_digest_at(client, repo, digest) == digest
        return "" if present else f"manifest {digest}"
    # With SBOMs the manifest itself is needed (an index lists the platforms): one GET, no HEAD first.
    try:
        fetched = get_manifest(client, repo, digest)
    except RegistryError as e:
        if e.is_not_found:
            return f"manifest {digest}"
        raise
    subjects = [digest]
    if fetched.media_type in INDEX_TYPES:
        subjects += [
            m["digest"] for m in fetched.json().get("manifests") or () if isinstance(m, dict) and "digest" in m
        ]
    for subject in subjects:
        missing = sbom_missing(client, repository, subject)
        if missing:
            return missing
    return ""


def _in_parallel(calls: Sequence[Callable[[], T]], jobs: int) -> list[T]:
    if len(calls) <= 1:
        return [call() for call in calls]
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(jobs, len(calls)))) as pool:
        return list(pool.map(lambda call: call(), calls))


def registry_state(
    queries: Sequence[RepositoryQuery],
    *,
    sbom: bool,
    pool: ClientPool,
    jobs: int = 8,
    extra_check: ExtraCheck | None = None,
) -> RegistryState:
    """Ask every registry about ``queries`` through ``pool`` (the caller's, with its credentials,
    trust and retry settings); ``extra_check`` adds to what "complete" means. A question the
    registry cannot answer (down, refusing the credentials) leaves that tag absent or that digest
    incomplete with the reason: the push that follows then reports the problem itself."""

    def client_of(repository: str) -> RegistryClient:
        return pool.get(parse_repository(repository).registry)

    def tag_digest(repository: str, tag: str) -> str | None:
        try:
            repo = parse_repository(repository).repository
            return manifest_digest_at(client_of(repository), repo, tag) or None
        except _ERRORS:
            return None

    def complete(repository: str, digest: str) -> str:
        try:
            return _completeness(client_of(repository), repository, digest, sbom, extra_check)
        except _ERRORS as e:
            return f"unknown: {' '.join(str(e).split())[:200]}"

    tag_keys = [(q.repository, tag) for q in queries for tag in q.tags]
    found = _in_parallel([functools.partial(tag_digest, r, t) for r, t in tag_keys], jobs)
    tags = {f"{r}:{t}": d for (r, t), d in zip(tag_keys, found)}
    digest_keys = sorted(
        {(q.repository, d) for q in queries for d in q.digests} | {(r, d) for (r, _), d in zip(tag_keys, found) if d}
    )
    answers = _in_parallel([functools.partial(complete, r, d) for r, d in digest_keys], jobs)
    return RegistryState(tags, {digest_reference(r, d): a for (r, d), a in zip(digest_keys, answers)})
