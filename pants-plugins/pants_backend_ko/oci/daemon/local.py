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
  variant is not compared), and fails when there is none (`platform_image`).
- The image is written as `<repository>:<hex of that image's manifest digest>`
  (go-containerregistry `daemon.Write`, see `write.py`), then tagged with each of the target's
  tags (`daemon.Tag`). ko's result, and what rendered YAML names, is that first name:
  `ko.local/<name>:<hex>` (`local_reference`), known from the built image alone, so
  `package` computes it without a daemon.

No Pants imports here.
"""

from __future__ import annotations

from collections.abc import Mapping

from pants_backend_ko.oci.configfile import ConfigFile
from pants_backend_ko.oci.daemon.client import DaemonClient
from pants_backend_ko.oci.daemon.plan import LocalImage, LocalResult
from pants_backend_ko.oci.daemon.write import write_image
from pants_backend_ko.oci.digest import digest_hex
from pants_backend_ko.oci.layout import OciLayout, read_layout
from pants_backend_ko.oci.manifest import Descriptor, ImageIndex
from pants_backend_ko.oci.mediatypes import IMAGE_MANIFEST_TYPES, INDEX_TYPES
from pants_backend_ko.oci.naming import is_valid_tag

__all__ = [
    "LOCAL_DOMAIN",
    "daemon_platform",
    "is_local_docker_repo",
    "local_reference",
    "platform_image",
    "publish_local",
]

LOCAL_DOMAIN = "ko.local"


def is_local_docker_repo(docker_repo: str) -> bool:
    """Whether images for `docker_repo` (`KO_DOCKER_REPO`, a repository) go to the daemon."""
    return docker_repo.strip().split("/", 1)[0] == LOCAL_DOMAIN


def daemon_platform(environ: Mapping[str, str]) -> tuple[str, str]:
    """The (GOOS, GOARCH) whose image ko loads from an index: the user's, default linux/amd64."""
    return environ.get("GOOS") or "linux", environ.get("GOARCH") or "amd64"


def local_reference(repository: str, image_digest: str) -> str:
    """What ko returns for an image loaded into the daemon: `<repository>:<manifest digest hex>`."""
    return f"{repository}:{digest_hex(image_digest)}"


def choose_from_index(index: ImageIndex, goos: str, goarch: str, what: str) -> Descriptor:
    """ko's pick: the first entry with `os == goos` and `architecture == goarch`."""
    for entry in index.manifests or ():
        if entry.platform is not None and entry.platform.os == goos and entry.platform.architecture == goarch:
            return entry
    available = ", ".join(str(e.platform) for e in index.manifests or () if e.platform is not None) or "none"
    raise ValueError(
        f"{what}: the image has no {goos}/{goarch} platform to load into the Docker daemon (it has {available}); "
        "ko.local loads the platform of GOOS/GOARCH (default linux/amd64): set them to one it has, or add "
        f"{goos}/{goarch} to the target's platforms"
    )


def platform_image(layout: OciLayout, goos: str, goarch: str, what: str) -> Descriptor:
    """The image manifest ko would load from the image or index at the top of `layout`."""
    top = layout.top()
    media_type = layout.media_type_of(top)
    if media_type in IMAGE_MANIFEST_TYPES:
        return top
    if media_type in INDEX_TYPES:
        chosen = choose_from_index(layout.image_index(top.digest), goos, goarch, what)
        if layout.media_type_of(chosen) not in IMAGE_MANIFEST_TYPES:
            raise ValueError(f"{what}: the {goos}/{goarch} entry of the index is not an image manifest")
        return chosen
    raise ValueError(f"{what}: {layout.where} holds {media_type!r}, not an image or an index")


def publish_local(client: DaemonClient, image: LocalImage, goos: str = "linux", goarch: str = "amd64") -> LocalResult:
    """ko's `demon.Publish`: load the GOOS/GOARCH image of `image.layout`, then add its tags."""
    what = image.what or str(image.layout)
    bad = [tag for tag in image.tags if not is_valid_tag(tag)]
    if bad:
        raise ValueError(
            f"{what}: tag {bad[0]!r} is not a valid tag (1-128 of A-Z a-z 0-9 _ . -, not starting with . or -)"
        )
    layout = read_layout(image.layout)
    chosen = platform_image(layout, goos, goarch, what)
    platform = (
        chosen.platform
        or ConfigFile.parse(
            layout.read_blob(layout.image_manifest(chosen.digest).config.digest), f"{layout.where}: config"
        ).platform
    )
    reference = local_reference(image.repository, chosen.digest)
    written = write_image(client, layout, chosen, reference)
    current = client.inspect_image(reference)
    have = set(current.repo_tags) if current is not None else set()
    added = [reference] if written.loaded else list(written.tagged)
    for tag in dict.fromkeys(image.tags):
        name = f"{image.repository}:{tag}"
        if name not in have:
            client.tag_image(written.image_id, image.repository, tag)
            added.append(name)
    return LocalResult(
        reference=reference,
        image_id=written.image_id,
        platform=str(platform),
        loaded=written.loaded,
        tags_added=tuple(added),
        what=what,
    )
