"""ko's `ko.local`: publishing into the local Docker daemon instead of a registry.

ko v0.19.1 `pkg/publish/daemon.go` (`demon.Publish`) and `pkg/commands/resolver.go`
(`makePublisher`), step by step:

- `KO_DOCKER_REPO=ko.local` (or `ko build --local`) selects the daemon publisher; a value under
  the local domain such as `ko.local/other` becomes the base of every name
  (`WithLocalDomain`). ko tests `strings.HasPrefix(repo, "ko.local")`; we take the registry
  part equal to `ko.local`, so that a real registry named e.g. `ko.localhost:5000` is not
  mistaken for the daemon (`is_local_docker_repo`).
- The repository is ko's name for the import path under that base, by the naming mode
  (`pants_backend_ko.oci.naming`): `ko.local/<last element>-<md5>` by default.
- A daemon holds one platform per name: from an index ko takes the first manifest whose
  platform has `os == $GOOS` and `architecture == $GOARCH` (defaults `linux`, `amd64`; the
  variant is not compared), and fails when there is none (`choose_platform`). A single image
  is loaded whatever its platform.
- The image is written as `<repository>:<hex of that image's manifest digest>`
  (go-containerregistry `daemon.Write`, see `write.py`), then tagged with each of the target's
  tags (`daemon.Tag`). ko's result, and what rendered YAML names, is that first name:
  `ko.local/<name>:<hex>` (`local_reference`), known from the built image alone, so
  `package` computes it without a daemon.

The Pants rules make the choice (they render the reference); the tool loads the image they
chose (`publish_local`), and answers the read-only publish check with the tags the daemon
holds (`loaded_tags`). No Pants imports here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from pants_backend_ko.errors import KoError
from pants_backend_ko.oci.configfile import ConfigFile
from pants_backend_ko.oci.daemon.client import DaemonClient
from pants_backend_ko.oci.daemon.write import write_image
from pants_backend_ko.oci.digest import digest_hex
from pants_backend_ko.oci.layout import OciLayout
from pants_backend_ko.oci.manifest import Descriptor
from pants_backend_ko.oci.mediatypes import IMAGE_MANIFEST_TYPES, INDEX_TYPES
from pants_backend_ko.oci.naming import is_valid_tag
from pants_backend_ko.oci.platform import Platform

__all__ = [
    "LOCAL_DOMAIN",
    "LocalResult",
    "choose_platform",
    "daemon_platform",
    "is_local_docker_repo",
    "loaded_tags",
    "local_reference",
    "manifest_in_layout",
    "publish_local",
]

LOCAL_DOMAIN = "ko.local"
T = TypeVar("T")


def is_local_docker_repo(docker_repo: str) -> bool:
    """Whether images for `docker_repo` (`KO_DOCKER_REPO`, a repository) go to the daemon."""
    return docker_repo.strip().split("/", 1)[0] == LOCAL_DOMAIN


def daemon_platform(environ: Mapping[str, str]) -> tuple[str, str]:
    """The (GOOS, GOARCH) whose image ko loads from an index: the user's, default linux/amd64."""
    return environ.get("GOOS") or "linux", environ.get("GOARCH") or "amd64"


def local_reference(repository: str, image_digest: str) -> str:
    """What ko returns for an image loaded into the daemon: `<repository>:<manifest digest hex>`."""
    return f"{repository}:{digest_hex(image_digest)}"


def choose_platform(entries: Sequence[tuple[Platform | None, T]], goos: str, goarch: str, what: str) -> T:
    """ko's pick from an index's (platform, entry) pairs: the first with `os == goos` and
    `architecture == goarch`."""
    for platform, entry in entries:
        if platform is not None and platform.os == goos and platform.architecture == goarch:
            return entry
    available = ", ".join(str(p) for p, _ in entries if p is not None) or "none"
    raise KoError(
        f"the image has no {goos}/{goarch} platform to load into the Docker daemon (it has {available})",
        where=what,
        fix="ko.local loads the platform of GOOS/GOARCH (default linux/amd64): set them to one it has, or add "
        f"{goos}/{goarch} to the target's platforms",
    )


def manifest_in_layout(layout: OciLayout, digest: str) -> Descriptor:
    """The descriptor of the image manifest `digest` in `layout`: its top, or an entry of its top index."""
    top = layout.top()
    candidates = [top]
    if layout.media_type_of(top) in INDEX_TYPES:
        candidates.extend(layout.image_index(top.digest).manifests or ())
    for descriptor in candidates:
        if descriptor.digest == digest:
            if layout.media_type_of(descriptor) not in IMAGE_MANIFEST_TYPES:
                raise KoError(f"{layout.where}: {digest} is not an image manifest; only an image can be loaded")
            return descriptor
    raise KoError(f"{layout.where} has no image manifest {digest}", fix="package the image again")


@dataclass(frozen=True)
class LocalResult:
    """What one load did."""

    reference: str  # ko.local/<name>:<hex>, what ko prints and rendered YAML names
    image_id: str
    platform: str
    loaded: bool  # False: the daemon had the image already
    tags_added: tuple[str, ...]  # repository:tag names this run added (the reference included)


def publish_local(
    client: DaemonClient, layout: OciLayout, image_digest: str, repository: str, tags: Iterable[str], what: str
) -> LocalResult:
    """ko's `demon.Publish`: load the image manifest `image_digest` of `layout` as
    `<repository>:<hex>` unless the daemon has it, then add `repository:<tag>` for each tag."""
    tags = tuple(dict.fromkeys(tags))
    bad = [tag for tag in tags if not is_valid_tag(tag)]
    if bad:
        raise KoError(
            f"tag {bad[0]!r} is not a valid tag (1-128 of A-Z a-z 0-9 _ . -, not starting with . or -)", where=what
        )
    chosen = manifest_in_layout(layout, image_digest)
    platform = (
        chosen.platform
        or ConfigFile.parse(
            layout.read_blob(layout.image_manifest(chosen.digest).config.digest), f"{layout.where}: config"
        ).platform
    )
    reference = local_reference(repository, chosen.digest)
    written = write_image(client, layout, chosen, reference)
    current = client.inspect_image(reference)
    have = set(current.repo_tags) if current is not None else set()
    added = [reference] if written.loaded else list(written.tagged)
    for tag in tags:
        name = f"{repository}:{tag}"
        if name not in have:
            client.tag_image(written.image_id, repository, tag)
            added.append(name)
    return LocalResult(
        reference=reference,
        image_id=written.image_id,
        platform=str(platform),
        loaded=written.loaded,
        tags_added=tuple(added),
    )


def loaded_tags(client: DaemonClient, repositories: Iterable[str]) -> dict[str, str]:
    """Every `repository:tag` name the daemon holds in `repositories`, with its image ID: what
    the read-only publish check needs to tell that a load would do nothing (one call each)."""
    found: dict[str, str] = {}
    for repository in dict.fromkeys(repositories):
        for image in client.list_images(repository):
            for name in image.repo_tags:
                if name.rpartition(":")[0] == repository:
                    found[name] = image.id
    return found
