"""Image reference parsing, modelled on go-containerregistry's ``pkg/name``.

A reference is ``[registry/]repository[:tag][@sha256:<hex>]``:

* The first path component is the registry only if it contains ``.`` or ``:``
  or is ``localhost`` (Docker's rule; otherwise ``ubuntu/x`` would be a host).
* No registry means Docker Hub, spelled ``index.docker.io`` (``docker.io`` is
  rewritten to it, as ggcr does), and a one-component Docker Hub repository
  gains the ``library/`` namespace.
* No tag and no digest means the tag ``latest``. A reference with both a tag
  and a digest is a digest reference; the tag is kept for display only.

Validation is a little stricter than ggcr's weak mode: each repository path
component must follow the distribution grammar (``[a-z0-9]+`` joined by ``.``,
``_``, ``__`` or dashes), because registries answer anything else with an
opaque 404, and a clear local error is better. No Pants imports here.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from pants_backend_ko.errors import KoError

DEFAULT_REGISTRY = "index.docker.io"
DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
DEFAULT_TAG = "latest"

# Whole-string patterns, used with `fullmatch` only: `$` would let a final newline through
# (`"v1\n"` is not a tag), and one would fail much later, in a layout or a registry.
_COMPONENT_RE = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
# host[:port]; the host is a DNS name, an IPv4 address or a bracketed IPv6 address.
_REGISTRY_RE = re.compile(
    r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)(?::[0-9]{1,5})?"
)
_MAX_REPOSITORY_LENGTH = 255


class InvalidReferenceError(KoError, ValueError):
    """A one-line error for a bad reference; ``problem`` and ``fix`` are kept for re-wording."""

    def __init__(self, text: str, problem: str, fix: str) -> None:
        super().__init__(f"invalid image reference {text!r}: {problem}", fix=fix)
        self.text = text
        self.problem = problem
        self.fix = fix


def _fail(text: str, problem: str, fix: str) -> InvalidReferenceError:
    return InvalidReferenceError(text, problem, fix)


def looks_like_registry(component: str) -> bool:
    """Whether the first path component of a name is a registry host (Docker's rule)."""
    return "." in component or ":" in component or component == "localhost"


def normalize_registry(registry: str) -> str:
    """Map the Docker Hub aliases to ``index.docker.io``; other hosts are kept as written."""
    if registry in ("docker.io", "registry-1.docker.io"):
        return DEFAULT_REGISTRY
    return registry


def validate_registry(registry: str, *, context: str = "") -> str:
    """Check that ``registry`` is ``host[:port]`` and return its normalized form."""
    shown = context or registry
    if not registry:
        raise _fail(shown, "the registry is empty", "write it as host[:port], e.g. ghcr.io")
    if registry.startswith(("http://", "https://")):
        raise _fail(
            shown,
            "it contains a URL scheme",
            "drop 'http://' or 'https://' (plain HTTP is chosen per registry, see insecure registries)",
        )
    if not _REGISTRY_RE.fullmatch(registry):
        raise _fail(
            shown,
            f"{registry!r} is not a valid registry host[:port]",
            "write it as host[:port], e.g. ghcr.io or 127.0.0.1:5000",
        )
    if registry.startswith("["):
        try:
            ipaddress.IPv6Address(registry[1 : registry.index("]")])
        except ValueError:
            raise _fail(shown, f"{registry!r} has an invalid IPv6 address", "write it as [::1]:5000") from None
    if ":" in registry.rsplit("]", 1)[-1]:
        port = int(registry.rsplit(":", 1)[1])
        if not 0 < port < 65536:
            raise _fail(shown, f"port {port} is out of range", "use a port between 1 and 65535")
    return normalize_registry(registry)


def _validate_repository_path(repository: str, shown: str) -> None:
    if not repository:
        raise _fail(shown, "the repository is empty", "write it as [registry/]path, e.g. ghcr.io/acme/app")
    if len(repository) > _MAX_REPOSITORY_LENGTH:
        raise _fail(shown, f"the repository is {len(repository)} characters long", "use at most 255 characters")
    if repository != repository.lower():
        raise _fail(
            shown, f"the repository {repository!r} contains upper-case letters", "repository names must be lower-case"
        )
    for component in repository.split("/"):
        if not _COMPONENT_RE.fullmatch(component):
            raise _fail(
                shown,
                f"repository path component {component!r} is not valid",
                "use lower-case letters, digits and single '.', '_', '__' or '-' separators between them",
            )


@dataclass(frozen=True)
class RepositoryName:
    """A registry plus a repository path, e.g. ``ghcr.io`` + ``acme/app``."""

    registry: str
    repository: str

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    def scope(self, actions: str) -> str:
        """The token scope for ``actions`` (e.g. ``"pull,push"``) on this repository."""
        return f"repository:{self.repository}:{actions}"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Reference:
    """A parsed image reference. ``digest`` wins over ``tag`` when both are present."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def context(self) -> RepositoryName:
        return RepositoryName(self.registry, self.repository)

    @property
    def repository_name(self) -> str:
        """``registry/repository``."""
        return f"{self.registry}/{self.repository}"

    @property
    def identifier(self) -> str:
        """What goes after ``/manifests/``: the digest if there is one, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def is_digest(self) -> bool:
        return self.digest is not None

    @property
    def name(self) -> str:
        """The fully qualified form, e.g. ``index.docker.io/library/ubuntu:latest``."""
        out = self.repository_name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.registry, self.repository, self.tag, digest)

    def __str__(self) -> str:
        return self.name


def digest_reference(repository: str, digest: str, tag: str | None = None) -> str:
    """An image by digest, as ko prints it: ``repository@sha256:<hex>``, or
    ``repository:tag@sha256:<hex>`` when a tag is shown too."""
    return f"{repository}:{tag}@{digest}" if tag else f"{repository}@{digest}"


def _split_registry(name: str) -> tuple[str, str]:
    parts = name.split("/", 1)
    if len(parts) == 2 and looks_like_registry(parts[0]):
        return parts[0], parts[1]
    return "", name


def parse_repository(text: str) -> RepositoryName:
    """Parse ``[registry/]repository`` (no tag, no digest)."""
    return _parse_repository(text, text)


def _parse_repository(text: str, shown: str) -> RepositoryName:
    if not isinstance(text, str) or not text:
        raise _fail(str(shown), "it is empty", "write it as [registry/]path, e.g. ghcr.io/acme/app")
    if text.startswith(("http://", "https://")):
        raise _fail(shown, "it contains a URL scheme", "drop 'http://' or 'https://'")
    if "@" in text:
        raise _fail(shown, "a repository cannot carry a digest", "remove the '@sha256:...' part")
    registry, repository = _split_registry(text)
    if ":" in repository:
        raise _fail(shown, "a repository cannot carry a tag", "remove the ':<tag>' part")
    registry = validate_registry(registry, context=shown) if registry else DEFAULT_REGISTRY
    if registry == DEFAULT_REGISTRY and repository and "/" not in repository:
        repository = f"library/{repository}"
    _validate_repository_path(repository, shown)
    return RepositoryName(registry, repository)


def parse_reference(text: str) -> Reference:
    """Parse an image reference; raise one-line ``ValueError`` naming the problem."""
    if not isinstance(text, str) or not text.strip():
        raise _fail(str(text), "it is empty", "write it as [registry/]repository[:tag][@sha256:<hex>]")
    if text != text.strip() or any(c.isspace() for c in text):
        raise _fail(text, "it contains whitespace", "remove the spaces")
    if text.startswith(("http://", "https://")):
        raise _fail(
            text,
            "image references never contain a URL scheme",
            "drop 'http://' or 'https://' (plain HTTP is chosen per registry, see insecure registries)",
        )
    base, digest = text, None
    if "@" in text:
        base, _, digest = text.partition("@")
        if "@" in digest:
            raise _fail(text, "it contains more than one '@'", "use exactly one '@sha256:<hex>' suffix")
        if not _DIGEST_RE.fullmatch(digest):
            raise _fail(text, f"digest {digest!r} is not sha256:<64 lower-case hex digits>", "copy the full digest")
    tag = None
    last_colon = base.rfind(":")
    # A colon after the last '/' introduces a tag; before it, it is a registry port.
    if last_colon != -1 and "/" not in base[last_colon + 1 :]:
        base, tag = base[:last_colon], base[last_colon + 1 :]
        if not _TAG_RE.fullmatch(tag):
            raise _fail(
                text,
                f"tag {tag!r} is not valid",
                "tags are 1-128 characters of letters, digits, '_', '.' and '-', not starting with '.' or '-'",
            )
    context = _parse_repository(base, text) if base else None
    if context is None:
        raise _fail(text, "the repository is empty", "write it as [registry/]repository[:tag]")
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return Reference(context.registry, context.repository, tag, digest)


def is_valid_tag(tag: object) -> bool:
    """Whether ``tag`` is a valid tag: 1-128 of ``[A-Za-z0-9_.-]``, not starting with ``.`` or ``-``."""
    return isinstance(tag, str) and _TAG_RE.fullmatch(tag) is not None


def is_digest(text: str) -> bool:
    """Whether ``text`` is a ``sha256:<64 hex>`` digest."""
    return bool(_DIGEST_RE.fullmatch(text or ""))
