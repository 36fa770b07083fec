"""Where an image will live: the registries and repositories it is published to, and its tags.

Which registries (the first that applies wins):

1. the target's `registries` field (`@alias`es of `[ko].registries`, or addresses);
2. its `repository`, when that names a registry itself (`ghcr.io/acme/api`): that one name;
3. `KO_DOCKER_REPO` (ko's variable, per invocation);
4. every `[ko].registries` entry with `default = true`;
5. `[ko].docker_repo`.

In each registry the repository is the registry's own `repository` option, else the target's
`repository` (a path under the registry's address), else ko's name for the import path
(`[ko].naming`, `oci/naming.py`) under the address, exactly as `KO_DOCKER_REPO` names images.
With none of them, a `repository` without a registry is the whole name (Docker Hub), as
before and as Docker reads it.

Tags are the target's `tags` (else `[ko].default_tags`, else `latest`) plus the registry's
`extra_image_tags`. Tags and repositories are templates (`koconfig/nametemplates.py`); the
data they use (git, the environment, `{pants.hash}`) is computed only when one asks for it.

`refuse_shared_tags` is the one check that two targets do not claim the same `repository:tag`
(issue 17): `publish` runs it over everything it publishes before anything is pushed, and every
push plan (`run`, `experimental-deploy`, and loads into a daemon) over its entries.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.rules import Get, collect_rules, rule
from pants.util.logging import LogLevel

from pants_backend_ko.errors import KoError, located
from pants_backend_ko.golang import gopath
from pants_backend_ko.koconfig.config import epoch_from_env
from pants_backend_ko.koconfig.gitinfo import GitInfo
from pants_backend_ko.koconfig.nametemplates import NameData, Template, expand, needs
from pants_backend_ko.oci import naming
from pants_backend_ko.oci.reference import digest_reference, looks_like_registry
from pants_backend_ko.oci.registries import RegistryOptions
from pants_backend_ko.subsystems import DEFAULT_TAG, KoSubsystem
from pants_backend_ko.target_types import KoImageFieldSet
from pants_backend_ko.tool.messages import REGISTRY
from pants_backend_ko.util_rules.koconfig import GitRequest, GitResults

# Who needs git data when a tag or repository template uses it (in errors).
NAME_TEMPLATES = ("a tag or repository template", "git data")


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

    @property
    def primary(self) -> Destination | None:
        """The destination references point at (`ko://` in YAML, `package`'s metadata): the first
        one that is pushed to."""
        pushed = [d for d in self.destinations if not d.skip_push]
        return (pushed or list(self.destinations) or [None])[0]

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
    env = await Get(EnvironmentVars, EnvironmentVarsRequest(["KO_DOCKER_REPO"]))
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

    tags = tuple(dict.fromkeys(_checked_tag(expand(t, data), t) for t in tag_templates))
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
    full_name = repository is not None and _names_registry(repository)

    def destination(address: str, registry: RegistryOptions | None, source: str) -> Destination:
        if registry is not None and registry.repository:
            path = expand(Template(registry.repository, f"{_registry_where(registry)}.repository"), data).lower()
            name = _checked_repository(gopath.join(address, path), f"{_registry_where(registry)}.repository")
        elif repository is not None:
            name = _checked_repository(gopath.join(address, repository), f"`repository` under {source}")
        else:
            try:
                name = naming.repository_for(address, request.import_path, ko.naming.value)
            except ValueError as e:
                raise KoError(f"invalid {source} {address!r}: {e}") from None
        extra = ()
        if registry is not None:
            where = f"{_registry_where(registry)}.extra_image_tags"
            extra = tuple(
                _checked_tag(expand(Template(t, where), data), Template(t, where)) for t in registry.extra_image_tags
            )
        return Destination(name, tuple(dict.fromkeys((*tags, *extra))), source, bool(registry and registry.skip_push))

    if named:
        if full_name:
            raise KoError(
                f"`repository` {repository!r} names a registry, but `registries` says where to publish",
                fix="write the repository without its registry: it goes under each registry's address",
            )
        destinations = tuple(destination(r.address, r, r.name) for r in named)
    elif full_name:
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
    # `bare` would name every image plain "ko.local", which is no repository: name local
    # outputs (docker archive tags) by the import path's last element instead.
    local_mode = "base-import-paths" if ko.naming.value == "bare" else ko.naming.value
    local_name = naming.repository_for("ko.local", request.import_path, local_mode)
    return ImageName(
        destinations=destinations,
        tags=tags,
        local_name=local_name,
        tag_only=ko.tag_only,
        skip_push=bool(field_set.skip_push.value),
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
    """The registry tags `publish` would push for the image `owner` builds."""
    for destination in name.pushed:
        for tag in destination.tags:
            yield TagClaim(REGISTRY, destination.repository, tag, owner)


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
