"""Is an image already published? The read-only check `pants publish` runs before pushing.

An image counts as published when its root manifest/index is in the repository, every tag
answers that digest and every SBOM attachment :func:`attach_sbom` would write is in place:
exactly the state a successful ``push`` + ``attach`` leaves, so skipping the push changes
nothing. Only ``HEAD``/``GET`` requests; all images of one call share one client per registry
and a bounded thread pool, so checking nine images costs about one round trip. No Pants imports.
"""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from pants_backend_ko.oci.reference import parse_repository
from pants_backend_ko.oci.remote.attach import sbom_missing
from pants_backend_ko.oci.remote.credentials import CredentialError, Keychain
from pants_backend_ko.oci.remote.errors import RegistryError
from pants_backend_ko.oci.remote.push import _Pusher
from pants_backend_ko.oci.remote.transport import RegistryClient


@dataclass(frozen=True)
class ImageToCheck:
    repository: str  # registry/path
    digest: str  # the root manifest or index
    tags: Tuple[str, ...] = ()
    sboms: Tuple[Tuple[str, bytes], ...] = ()  # (subject manifest digest, SPDX bytes)


@dataclass(frozen=True)
class ImageStatus:
    published: bool
    missing: str = ""  # what is not there yet, or why the registry could not tell

    def to_json(self) -> Dict[str, object]:
        return {"published": self.published, "missing": self.missing}


def image_status(client: RegistryClient, image: ImageToCheck) -> ImageStatus:
    repo = parse_repository(image.repository).repository
    pusher = _Pusher(client, repo, [f"repository:{repo}:pull,push"])
    if pusher.manifest_digest_at(image.digest) != image.digest:
        return ImageStatus(False, f"manifest {image.digest}")
    for tag in image.tags:
        if pusher.manifest_digest_at(tag) != image.digest:
            return ImageStatus(False, f"tag {tag}")
    for subject, sbom in image.sboms:
        missing = sbom_missing(client, image.repository, subject, sbom)
        if missing:
            return ImageStatus(False, missing)
    return ImageStatus(True)


def check_images(
    images: Sequence[ImageToCheck],
    *,
    keychain: Keychain,
    insecure_registries: Iterable[str] = (),
    ca_bundle: Optional[str] = None,
    jobs: int = 8,
) -> List[ImageStatus]:
    """The status of every image, in order. A registry that cannot answer (down, refusing the
    credentials) gives ``published=False`` with the reason: the push that follows reports it."""
    clients: Dict[str, RegistryClient] = {}
    for image in images:
        registry = parse_repository(image.repository).registry
        if registry not in clients:
            clients[registry] = RegistryClient(
                registry, keychain=keychain, insecure_registries=insecure_registries, ca_bundle=ca_bundle,
                retries=1, retry_budget=10.0,
            )

    def one(image: ImageToCheck) -> ImageStatus:
        try:
            return image_status(clients[parse_repository(image.repository).registry], image)
        except (RegistryError, CredentialError, OSError, ValueError) as e:
            return ImageStatus(False, f"unknown: {' '.join(str(e).split())[:200]}")

    try:
        if len(images) <= 1:
            return [one(image) for image in images]
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(jobs, len(images)))) as pool:
            return list(pool.map(one, images))
    finally:
        for client in clients.values():
            client.close()
