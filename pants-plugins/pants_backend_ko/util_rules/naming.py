"""Where an image will live: its repository (ko's `KO_DOCKER_REPO` + namer) and tags; for
ko.local, the Docker daemon (`pants_backend_ko.oci.daemon.local`) and the platform loaded there.

The references publish prints and rendered YAML names are made here (`published_reference`),
from the built image alone: `repo@sha256:<digest>` for a registry, `ko.local/<name>:<hex>` for
the daemon, as ko returns them. No daemon and no registry is asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.rules import Get, collect_rules, rule
from pants.util.logging import LogLevel

from pants_backend_ko.errors import KoError
from pants_backend_ko.oci import naming
from pants_backend_ko.oci.daemon.local import (
    LOCAL_DOMAIN,
    choose_platform,
    daemon_platform,
    is_local_docker_repo,
    local_reference,
)
from pants_backend_ko.oci.mediatypes import INDEX_TYPES
from pants_backend_ko.oci.platform import Platform
from pants_backend_ko.oci.reference import digest_reference
from pants_backend_ko.subsystems import KoSubsystem
from pants_backend_ko.target_types import KoImageFieldSet

if TYPE_CHECKING:
    from pants_backend_ko.util_rules.image import BuiltKoImage


@dataclass(frozen=True)
class ImageNameRequest:
    field_set: KoImageFieldSet
    import_path: str


@dataclass(frozen=True)
class ImageName:
    repository: str | None  # None when neither KO_DOCKER_REPO, [ko].docker_repo nor `repository` is set
    tags: tuple[str, ...]
    local_name: str  # a name for local outputs (docker archive) when no repository is known
    # ko.local: the image goes to the Docker daemon; from an index, the (GOOS, GOARCH) image.
    daemon_platform: tuple[str, str] | None = None

    @property
    def is_local(self) -> bool:
        """Whether publish loads the image into the Docker daemon (ko.local) instead of pushing."""
        return self.daemon_platform is not None

    @property
    def repository_or_local(self) -> str:
        return self.repository or self.local_name

    def reference(self, digest: str) -> str | None:
        """The registry reference of the image or index `digest` (see `published_reference`)."""
        return digest_reference(self.repository, digest) if self.repository else None


DEBUG_TAG_SUFFIX = "-debug"


def is_debug_image(field_set: KoImageFieldSet, ko: KoSubsystem) -> bool:
    """The `debug` field, else `[ko].debug` (ko's `--debug`)."""
    return field_set.debug.value if field_set.debug.value is not None else ko.debug


def loaded_image_digest(image: BuiltKoImage) -> str:
    """ko.local: the digest of the image the daemon gets: the image itself, or the GOOS/GOARCH
    image of an index (ko's choice, `choose_platform`; a missing platform is one line)."""
    assert image.name.daemon_platform is not None, "only for ko.local images"
    if image.media_type not in INDEX_TYPES:
        return image.digest
    goos, goarch = image.name.daemon_platform
    platforms = [(Platform.parse(text, pattern=True), digest) for text, digest in image.platform_digests.items()]
    return choose_platform(platforms, goos, goarch, str(image.settings.address))


def published_reference(image: BuiltKoImage) -> str | None:
    """What publish prints and rendered YAML names, as ko returns it: `repo@sha256:<hex>`, or for
    ko.local `ko.local/<name>:<hex of the loaded image>`; None without a repository."""
    name = image.name
    if name.repository is None:
        return None
    if name.is_local:
        return local_reference(name.repository, loaded_image_digest(image))
    return digest_reference(name.repository, image.digest)


@rule(desc="Name a ko image", level=LogLevel.DEBUG)
async def name_ko_image(request: ImageNameRequest, ko: KoSubsystem) -> ImageName:
    env = await Get(EnvironmentVars, EnvironmentVarsRequest(["KO_DOCKER_REPO", "GOOS", "GOARCH"]))
    owner = request.field_set.address
    tags = tuple(dict.fromkeys(request.field_set.tags.value or ko.tags_option()))
    if is_debug_image(request.field_set, ko):
        # ko pushes a debug image under the normal tags, replacing the normal image; here its
        # tags say what it is, and the normal image's tags stay. (Checked below: still a tag.)
        tags = tuple(tag + DEBUG_TAG_SUFFIX for tag in tags)
    for tag in tags:
        if not naming.is_valid_tag(tag):
            raise KoError(
                f"invalid tag {tag!r}: tags are up to 128 of [A-Za-z0-9_.-], not starting with . or -.",
                where=str(owner),
            )
    explicit = request.field_set.repository.value
    if explicit and explicit.strip().rstrip("/") != LOCAL_DOMAIN:
        try:
            repository = naming.validate_repository(explicit)
        except ValueError as e:
            raise KoError(f"invalid `repository` {explicit!r}: {e}", where=str(owner)) from None
    else:
        # `repository="ko.local"` is the daemon with ko's names, as KO_DOCKER_REPO=ko.local.
        docker_repo = explicit or env.get("KO_DOCKER_REPO") or ko.docker_repo
        source = "`repository`" if explicit else "KO_DOCKER_REPO" if env.get("KO_DOCKER_REPO") else "[ko].docker_repo"
        repository = None
        if docker_repo:
            try:
                repository = naming.repository_for(docker_repo, request.import_path, ko.naming.value)
            except ValueError as e:
                raise KoError(f"invalid {source} {docker_repo!r}: {e}", where=str(owner) if explicit else "") from None
    # `bare` would name every image plain "ko.local", which is no repository: name local
    # outputs (docker archive tags) by the import path's last element instead.
    local_mode = "base-import-paths" if ko.naming.value == "bare" else ko.naming.value
    local_name = naming.repository_for(LOCAL_DOMAIN, request.import_path, local_mode)
    local = repository is not None and is_local_docker_repo(repository)
    return ImageName(
        repository=repository,
        tags=tags,
        local_name=local_name,
        daemon_platform=daemon_platform(env) if local else None,
    )


def rules():
    return collect_rules()
