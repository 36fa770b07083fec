"""Where an image will live: its repository (ko's `KO_DOCKER_REPO` + namer) and tags."""

from __future__ import annotations

from dataclasses import dataclass

from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.rules import Get, collect_rules, rule
from pants.util.logging import LogLevel

from pants_backend_ko.errors import KoError
from pants_backend_ko.oci import naming
from pants_backend_ko.oci.reference import digest_reference
from pants_backend_ko.subsystems import KoSubsystem
from pants_backend_ko.target_types import KoImageFieldSet


@dataclass(frozen=True)
class ImageNameRequest:
    field_set: KoImageFieldSet
    import_path: str


@dataclass(frozen=True)
class ImageName:
    repository: str | None  # None when neither KO_DOCKER_REPO, [ko].docker_repo nor `repository` is set
    tags: tuple[str, ...]
    local_name: str  # a name for local outputs (docker archive) when no repository is known

    @property
    def repository_or_local(self) -> str:
        return self.repository or self.local_name

    def reference(self, digest: str) -> str | None:
        return digest_reference(self.repository, digest) if self.repository else None


DEBUG_TAG_SUFFIX = "-debug"


def is_debug_image(field_set: KoImageFieldSet, ko: KoSubsystem) -> bool:
    """The `debug` field, else `[ko].debug` (ko's `--debug`)."""
    return field_set.debug.value if field_set.debug.value is not None else ko.debug


@rule(desc="Name a ko image", level=LogLevel.DEBUG)
async def name_ko_image(request: ImageNameRequest, ko: KoSubsystem) -> ImageName:
    env = await Get(EnvironmentVars, EnvironmentVarsRequest(["KO_DOCKER_REPO"]))
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
    if explicit:
        try:
            repository = naming.validate_repository(explicit)
        except ValueError as e:
            raise KoError(f"invalid `repository` {explicit!r}: {e}", where=str(owner)) from None
    else:
        docker_repo = env.get("KO_DOCKER_REPO") or ko.docker_repo
        source = "KO_DOCKER_REPO" if env.get("KO_DOCKER_REPO") else "[ko].docker_repo"
        repository = None
        if docker_repo:
            try:
                repository = naming.repository_for(docker_repo, request.import_path, ko.naming.value)
            except ValueError as e:
                raise KoError(f"invalid {source} {docker_repo!r}: {e}") from None
    # `bare` would name every image plain "ko.local", which is no repository: name local
    # outputs (docker archive tags) by the import path's last element instead.
    local_mode = "base-import-paths" if ko.naming.value == "bare" else ko.naming.value
    local_name = naming.repository_for("ko.local", request.import_path, local_mode)
    return ImageName(repository=repository, tags=tags, local_name=local_name)


def rules():
    return collect_rules()
