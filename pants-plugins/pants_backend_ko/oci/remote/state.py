"""What a registry (or, for ko.local, the Docker daemon) holds for `pants publish`, as the
read-only check (`status.py`) reports it.

Plain data, no network: the Pants rules decide from it whether an image needs a push without
importing the registry client. `RegistryState` is the answer of the tool's `status` verb: its
JSON codec (`codec.py`) is used on both sides of that process boundary.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pants_backend_ko.codec import Message
from pants_backend_ko.golang.frozendict import FrozenDict
from pants_backend_ko.oci.reference import digest_reference


@dataclass(frozen=True)
class RepositoryQuery(Message):
    repository: str  # registry/path
    tags: tuple[str, ...] = ()
    digests: tuple[str, ...] = ()  # asked about directly (images without tags)


@dataclass(frozen=True)
class RegistryState(Message):
    tags: Mapping[str, str | None]  # "registry/path:tag" -> digest, None when the tag is absent
    complete: Mapping[str, str]  # "registry/path@digest" -> "" when complete, else what is missing
    # ko.local: "ko.local/<name>:<tag>" -> image ID, every tag the Docker daemon holds in the
    # repositories asked about (`StatusQuery.daemon_repositories`); empty when it cannot answer.
    daemon: Mapping[str, str] = FrozenDict()

    def __post_init__(self) -> None:
        # Hashable, so that a Pants rule can return it as it is.
        object.__setattr__(self, "tags", FrozenDict(self.tags))
        object.__setattr__(self, "complete", FrozenDict(self.complete))
        object.__setattr__(self, "daemon", FrozenDict(self.daemon))

    def is_published(self, repository: str, digest: str, tags: Iterable[str]) -> bool:
        return all(self.tags.get(f"{repository}:{tag}") == digest for tag in tags) and (
            self.complete.get(digest_reference(repository, digest)) == ""
        )

    def is_loaded(self, repository: str, reference: str, tags: Iterable[str]) -> bool:
        """Whether the daemon holds `reference` (`ko.local/<name>:<hex>`, a name that only ever
        means one image) and every tag names that same image: ko would load nothing."""
        image_id = self.daemon.get(reference)
        return image_id is not None and all(self.daemon.get(f"{repository}:{tag}") == image_id for tag in tags)
