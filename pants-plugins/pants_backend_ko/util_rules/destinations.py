"""Where an image will live: the registries and repositories it is published to, and its tags;
for ko.local, the Docker daemon (`pants_backend_ko.oci.daemon.local`) and the platform loaded there.

Which registries (the first that applies wins):

1. the target's `registries` field (`@alias`es of `[ko].registries`, or addresses);
2. its `repository`, when that names a registry itself (`ghcr.io/acme/api`, `ko.local/api`):
   that one name; a bare `ko.local` is the daemon with ko's names, as `KO_DOCKER_REPO=ko.local`;
3. `KO_DOCKER_REPO` (ko's variable, per invocation);
4. every `[ko].registries` entry with `default = true`;
5. `[ko].docker_repo`.

In each registry the repository is the registry's own `repository` option, else the target's
`repository` (a path under the registry's address), else ko's name for the import path
(`[ko].naming`, `oci/naming.py`) under the address, exactly as `KO_DOCKER_REPO` names images.
With none of them, a `repository` without a registry is the whole name (Docker Hub), as
before and as Docker reads it.

A destination under `ko.local` (`is_local_docker_repo`) is the Docker daemon: the image is
loaded, not pushed. An image goes either to the daemon or to registries, never both in one run.

Tags are the target's `tags` (else `[ko].default_tags`, else `latest`) plus the registry's
`extra_image_tags`, each with `-debug` appended for a debug image. Tags and repositories are
templates (`koconfig/nametemplates.py`); the data they use (git, the environment,
`{pants.hash}`) is computed only when one asks for it.

The references publish prints and rendered YAML names are made here (`published_reference`),
from the built image alone: ko's resolved reference for a registry (`repo@sha256:<digest>`), and
`ko.local/<name>:<hex>` for the daemon, as ko returns them. No daemon and no registry is asked.

`refuse_shared_tags` is the one check that two targets do not claim the same `repository:tag`
(issue 17), in a registry or in the daemon: `publish` runs it over everything it publishes before
anything is pushed or loaded, and every push plan (`run`, `experimental-deploy`) over its entries.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.rules import Get, collect_rules, rule
from pants.util.logging import LogLevel

from pants_backend_ko.errors import KoError, located
from pants_backend_ko.golang import gopath
from pants_backend_ko.koconfig.config import epoch_from_env
from pants_backend_ko.koconfig.gitinfo import GitInfo
from pants_backend_ko.koconfig.nametemplates import NameData, Template, expand, needs
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
from pants_backend_ko.oci.reference import digest_reference, looks_like_registry
from pants_backend_ko.oci.registries import RegistryOptions
from pants_backend_ko.subsystems import DEFAULT_TAG, KoSubsystem
from pants_backend_ko.target_types import KoImageFieldSet
from pants_backend_ko.tool.messages import DAEMON, REGISTRY
from pants_backend_ko.util_rules.ko_yaml import GitRequest, GitResults

# Who needs git data when a tag or repository template uses it (in errors).
NAME_TEMPLATES = ("a tag or repository template", "git data")

if TYPE_CHECKING:
    from pants_backend_ko.util_rules.ko_build import BuiltKoImage


@dataclass(frozen=True)
class ImageNameRequest:
    field_set: KoImageFieldSet
    import_path: str


@dataclass(frozen=True)
class Destination:
    """One place the image is published to."""

    repository: str  # registry/path
    tags: tuple[str, ...]
    source: str = ""  # where it came from, for messages: "@prod", "KO_DOCKER_REPO", ...
    skip_push: bool = False  # the registry's `skip_push`


@dataclass(frozen=True)
class ImageName:
    destinations: tuple[Destination, ...]  # empty when nothing says where to publish
    tags: tuple[str, ...]  # the image's own tags, expanded (without registries' extra tags)
    local_name: str  # a name for local outputs (docker archive) when no repository is known
    tag_only: bool = False  # [ko].tag_only: references name the tag alone
    skip_push: bool = False  # the target's `skip_push`
    # ko.local: the image goes to the Docker daemon; from an index, the (GOOS, GOARCH) image.
    daemon_platform: tuple[str, str] | None = None

    @property
    def is_local(self) -> bool:
        """Whether publish loads the image into the Docker daemon (ko.local) instead of pushing."""
        return self.daemon_platform is not None

    @property
    def primary(self) -> Destination | None:
        """The destination references point at (`ko://` in YAML, `package`'s metadata): the first
        one that is pushed to."""
        candidates = [d for d in self.destinations if not d.skip_push] or list(self.destinations)
        return candidates[0] if candidates else None

    @property
    def repository(self) -> str | None:
        """The primary destination's repository; None when there is none."""
        return self.primary.repository if self.primary else None

    @property
    def repository_or_local(self) -> str:
        return self.repository or self.local_name

    @property
    def pushed(self) -> tuple[Destination, ...]:
        """The destinations `publish` pushes to (none with the target's `skip_push`)."""
        return () if self.skip_push else tuple(d for d in self.destinations if not d.skip_push)

    def reference(self, digest: str) -> str | None:
        """The registry reference of the image or index `digest` (see `published_reference`)."""
        return digest_reference(self.repository, digest) if self.repository else None

    def resolved_reference(self, digest: str) -> str | None:
        """ko's returned reference: `repo:tag` with `--tag-only`; `repo:tag@sha256:…` for one
        tag that is not `latest` (ko: "probably a release"); else `repo@sha256:…`."""
        if not self.repository:
            return None
        if self.tag_only:
            return f"{self.repository}:{self.tags[0]}"
        shown = self.tags[0] if len(self.tags) == 1 and self.tags[0] != DEFAULT_TAG else None
        return digest_reference(self.repository, digest, shown)


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
    """What publish prints and rendered YAML names, as ko returns it: for ko.local
    `ko.local/<name>:<hex of the loaded image>`, else `resolved_reference` (`repo@sha256:<hex>`,
    or the tag with `--ko-tag-only`); None without a repository."""
    name = image.name
    if name.primary is None:
        return None
    if name.is_local:
        return destination_reference(image, name.primary)
    return name.resolved_reference(image.digest)


def destination_reference(image: BuiltKoImage, destination: Destination) -> str:
    """The reference of `image` in one of its destinations, as the push prints it:
    `repo@sha256:<hex>`, or for ko.local `<repository>:<hex of the loaded image>`."""
    if image.name.is_local:
        return local_reference(destination.repository, loaded_image_digest(image))
    return digest_reference(destination.repository, image.digest)


# --------------------------------------------------------------------------- {pants.hash}


@dataclass(frozen=True)
class ImageInputHashRequest:
    field_set: KoImageFieldSet


@dataclass(frozen=True)
class ImageInputHash:
    """`{pants.hash}`: computed by `util_rules/input_hash.py` (it needs the image's settings)."""

    value: str


# --------------------------------------------------------------------------- naming


def _names_registry(repository: str) -> bool:
    first, sep, _ = repository.partition("/")
    return bool(sep) and looks_like_registry(first)


def _checked_tag(tag: str, template: Template) -> str:
    if not naming.is_valid_tag(tag):
        shown = f"{template.text!r} gives {tag!r}, which" if tag != template.text else repr(tag)
        raise KoError(
            f"{template.where}: {shown} is not a valid tag: tags are up to 128 of [A-Za-z0-9_.-], "
            "not starting with . or -."
        )
    return tag


def _checked_repository(repository: str, what: str) -> str:
    try:
        return naming.validate_repository(repository)
    except ValueError as e:
        raise KoError(f"{what} gives the repository {repository!r}, which is not valid: {e}") from None


async def _name_data(field_set: KoImageFieldSet, import_path: str, templates: list[Template]) -> NameData:
    """What `templates` need, computed once (git runs, the environment, `{pants.hash}`)."""
    wanted = needs(templates)
    spec_path = field_set.address.spec_path
    target = {
        "name": field_set.address.target_name,
        "directory": os.path.basename(spec_path),
        "parent_directory": os.path.basename(os.path.dirname(spec_path)),
        "import_path": naming.normalize_import_path(import_path),
    }
    names = sorted(wanted.env | ({"SOURCE_DATE_EPOCH"} if wanted.date else set()))
    env = await Get(EnvironmentVars, EnvironmentVarsRequest(names)) if names else EnvironmentVars({})
    git: GitInfo | None = None
    if wanted.git:
        git = (await Get(GitResults, GitRequest())).info(str(field_set.address), NAME_TEMPLATES)
    pants_hash = (await Get(ImageInputHash, ImageInputHashRequest(field_set))).value if wanted.pants_hash else ""
    date = None
    if wanted.date:
        date = epoch_from_env(env, "SOURCE_DATE_EPOCH")
        date = int(time.time()) if date is None else date  # ko's .Date: SOURCE_DATE_EPOCH, else now
    return NameData(
        target=target,
        env={k: v for k, v in env.items() if k in wanted.env},
        git=git,
        pants_hash=pants_hash,
        date_epoch=date,
    )


def _registry_where(registry: RegistryOptions) -> str:
    return f"[ko].registries.{registry.alias}" if registry.alias else f"`registries` {registry.address!r}"


async def _name(request: ImageNameRequest, ko: KoSubsystem) -> ImageName:
    field_set = request.field_set
    env = await Get(EnvironmentVars, EnvironmentVarsRequest(["KO_DOCKER_REPO", "GOOS", "GOARCH"]))
    ko_docker_repo = env.get("KO_DOCKER_REPO") or None
    registries = ko.registries_option()
    field_tags = field_set.tags.value
    tag_templates = [
        Template(t, "`tags`" if field_tags else "[ko].default_tags")
        for t in dict.fromkeys(field_tags or ko.tags_option())
    ]
    repository_template = (field_set.repository.value or "").strip().rstrip("/")
    explicit = field_set.registries.value
    named = registries.select(explicit, "`registries`") if explicit else ()
    # Every template that may be used (the default registries' too: whether they apply depends on
    # the expanded `repository`), so that what they need is computed once.
    candidates = named or (registries.defaults if explicit is None else ())
    templates = [*tag_templates]
    if repository_template:
        templates.append(Template(repository_template, "`repository`"))
    for registry in candidates:
        where = _registry_where(registry)
        templates += [Template(t, f"{where}.extra_image_tags") for t in registry.extra_image_tags]
        if registry.repository:
            templates.append(Template(registry.repository, f"{where}.repository"))
    data = await _name_data(field_set, request.import_path, templates)
    # ko pushes a debug image under the normal tags, replacing the normal image; here its tags
    # say what it is (`-debug` after each expanded tag), and the normal image's tags stay.
    suffix = DEBUG_TAG_SUFFIX if is_debug_image(field_set, ko) else ""

    def expanded_tag(template: Template) -> str:
        return _checked_tag(expand(template, data) + suffix, template)

    tags = tuple(dict.fromkeys(expanded_tag(t) for t in tag_templates))
    if ko.tag_only:
        # ko's checks and words (pkg/publish/default.go).
        if len(tags) != 1:
            raise KoError(
                "must specify exactly one tag to resolve images into tag-only references",
                fix=f"[ko].tag_only needs one tag per image, this one has {len(tags)}",
            )
        if tags[0] == DEFAULT_TAG:
            raise KoError(
                "latest tag cannot be used in tag-only references", fix="[ko].tag_only needs a tag that names a release"
            )
    repository = expand(Template(repository_template, "`repository`"), data).lower() if repository_template else None
    # `repository="ko.local"` is the daemon with ko's names, as KO_DOCKER_REPO=ko.local.
    local_base = repository == LOCAL_DOMAIN
    full_name = repository is not None and (local_base or _names_registry(repository))

    def destination(address: str, registry: RegistryOptions | None, source: str) -> Destination:
        if registry is not None and registry.repository:
            path = expand(Template(registry.repository, f"{_registry_where(registry)}.repository"), data).lower()
            name = _checked_repository(gopath.join(address, path), f"{_registry_where(registry)}.repository")
        elif repository is not None and not local_base:
            name = _checked_repository(gopath.join(address, repository), f"`repository` under {source}")
        else:
            try:
                name = naming.repository_for(address, request.import_path, ko.naming.value)
            except ValueError as e:
                raise KoError(f"invalid {source} {address!r}: {e}") from None
        extra: tuple[str, ...] = ()
        if registry is not None:
            where = f"{_registry_where(registry)}.extra_image_tags"
            extra = tuple(expanded_tag(Template(t, where)) for t in registry.extra_image_tags)
        return Destination(name, tuple(dict.fromkeys((*tags, *extra))), source, bool(registry and registry.skip_push))

    if named:
        if full_name:
            raise KoError(
                f"`repository` {repository!r} names a registry, but `registries` says where to publish",
                fix="write the repository without its registry: it goes under each registry's address",
            )
        destinations = tuple(destination(r.address, r, r.name) for r in named)
    elif local_base:
        destinations = (destination(LOCAL_DOMAIN, None, "`repository`"),)
    elif full_name:
        assert repository is not None
        destinations = (Destination(_checked_repository(repository, "`repository`"), tags, "`repository`"),)
    elif ko_docker_repo:
        destinations = (destination(ko_docker_repo, None, "KO_DOCKER_REPO"),)
    elif explicit is None and registries.defaults:
        destinations = tuple(destination(r.address, r, r.name) for r in registries.defaults)
    elif ko.docker_repo:
        destinations = (destination(ko.docker_repo, None, "[ko].docker_repo"),)
    elif repository is not None:
        destinations = (Destination(_checked_repository(repository, "`repository`"), tags, "`repository`"),)
    else:
        destinations = ()
    daemons = [d for d in destinations if is_local_docker_repo(d.repository)]
    if daemons and len(daemons) != len(destinations):
        elsewhere = next(d for d in destinations if not is_local_docker_repo(d.repository))
        raise KoError(
            f"the image goes both to the Docker daemon ({daemons[0].repository}, from {daemons[0].source}) and to "
            f"a registry ({elsewhere.repository}, from {elsewhere.source})",
            fix="publish an image either into ko.local or to registries: drop one of them for this target",
        )
    # `bare` would name every image plain "ko.local", which is no repository: name local
    # outputs (docker archive tags) by the import path's last element instead.
    local_mode = "base-import-paths" if ko.naming.value == "bare" else ko.naming.value
    local_name = naming.repository_for(LOCAL_DOMAIN, request.import_path, local_mode)
    return ImageName(
        destinations=destinations,
        tags=tags,
        local_name=local_name,
        tag_only=ko.tag_only,
        skip_push=bool(field_set.skip_push.value),
        daemon_platform=daemon_platform(env) if daemons else None,
    )


@rule(desc="Name a ko image", level=LogLevel.DEBUG)
async def name_ko_image(request: ImageNameRequest, ko: KoSubsystem) -> ImageName:
    field_set = request.field_set
    owner = str(field_set.address)
    try:
        return await _name(request, ko)
    except KoError as e:
        raise located(e, owner) from None


# --------------------------------------------------------------------------- one tag, one image


@dataclass(frozen=True)
class TagClaim:
    """A target's claim on `repository:tag` in one place (`kind`: a registry, a daemon...)."""

    kind: str
    repository: str
    tag: str
    owner: str


def claims_of(owner: str, name: ImageName) -> Iterator[TagClaim]:
    """The tags `publish` would push (or, for ko.local, load into the daemon) for the image `owner` builds."""
    kind = DAEMON if name.is_local else REGISTRY
    for destination in name.pushed:
        for tag in destination.tags:
            yield TagClaim(kind, destination.repository, tag, owner)


def refuse_shared_tags(claims: Iterable[TagClaim]) -> None:
    """Two targets claiming one `repository:tag` is an error naming both: only one image can
    hold the tag, and each publish would silently move it to the other."""
    seen: dict[tuple[str, str, str], str] = {}
    for claim in claims:
        other = seen.setdefault((claim.kind, claim.repository, claim.tag), claim.owner)
        if other != claim.owner:
            first, second = sorted((other, claim.owner))
            raise KoError(
                f"{first} and {second} both publish {claim.repository}:{claim.tag}; a tag names one image, "
                "so each run would move it to the other",
                fix="give one of them another tag or repository",
            )


def rules():
    return collect_rules()
