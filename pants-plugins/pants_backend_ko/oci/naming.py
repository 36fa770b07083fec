"""ko's repository namers and the validation of ``KO_DOCKER_REPO`` values.

ko names the repository of an image from ``KO_DOCKER_REPO`` (the "base") and
the Go import path (``pkg/commands/options/publish.go`` ``MakeNamer``). The
import path loses its ``ko://`` prefix and is lower-cased first (ko's
publisher does ``strings.ToLower``), and the parts are joined with Go's
``filepath.Join`` (``golang.gopath.join``: cleaned, no doubled slashes).

| mode       | ko flag                    | result                              |
|------------|----------------------------|-------------------------------------|
| default    | (none)                     | ``base/<last element>-<md5(ip)>``   |
| preserve   | ``-P``                     | ``base/<ip>``                       |
| base       | ``-B``                     | ``base/<last element>``             |
| bare       | ``--bare``                 | ``base``                            |

No Pants imports here.
"""

from __future__ import annotations

import hashlib

from pants_backend_ko.errors import KoError
from pants_backend_ko.golang import gopath
from pants_backend_ko.oci.reference import (
    InvalidReferenceError,
    looks_like_registry,
    parse_repository,
    validate_registry,
)
from pants_backend_ko.oci.reference import is_valid_tag as is_valid_tag  # one check of a tag, re-exported

NAMING_MODES = ("default", "preserve", "base", "bare")
# ko's flag names, as the [ko].naming option spells them.
_MODE_ALIASES = {"md5": "default", "preserve-import-paths": "preserve", "base-import-paths": "base"}
KO_SCHEME = "ko://"


def strip_ko_scheme(text: str) -> str:
    """``ko://<import path>`` -> ``<import path>``; text without the scheme stays as it is."""
    return text[len(KO_SCHEME) :] if text.startswith(KO_SCHEME) else text


def ko_reference(import_path: str) -> str:
    """``<import path>``, with or without the scheme -> ``ko://<import path>``."""
    return KO_SCHEME + strip_ko_scheme(import_path)


def normalize_import_path(import_path: str) -> str:
    """Strip ``ko://`` and lower-case, as ko's publisher does before naming."""
    return strip_ko_scheme(import_path).lower()


def md5_hex(import_path: str) -> str:
    """Hex md5 of the (already normalized) import path: the suffix of ko's default names."""
    return hashlib.md5(import_path.encode("utf-8")).hexdigest()


class _Invalid(KoError, ValueError):
    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem, fix=fix)
        self.problem = problem


def _check_docker_repo(value: str) -> str:
    if value is None or not str(value).strip():
        raise _Invalid("it is empty", "set it to a registry or registry/repository, e.g. ghcr.io/acme")
    text = str(value).strip().rstrip("/")
    if text.startswith(("http://", "https://")):
        raise _Invalid("it contains a URL scheme", "drop 'http://' or 'https://'")
    if text != text.lower():
        raise _Invalid("it contains upper-case letters", "registry and repository names must be lower-case")
    if "@" in text:
        raise _Invalid("it contains a digest", "name only the registry and repository")
    first, _, rest = text.partition("/")
    if not rest and looks_like_registry(first):
        try:
            validate_registry(first)
        except InvalidReferenceError as e:
            raise _Invalid(e.problem, e.fix) from None
        return text
    if ":" in (rest if looks_like_registry(first) else text):
        raise _Invalid("it contains a tag", "name only the registry and repository; tags are set separately")
    try:
        parse_repository(text)
    except InvalidReferenceError as e:
        raise _Invalid(e.problem, e.fix) from None
    return text


def validate_ko_docker_repo(value: str, *, source: str = "KO_DOCKER_REPO") -> str:
    """Validate a ``KO_DOCKER_REPO`` value and return it without trailing slashes.

    It must be a registry (``ghcr.io``, ``127.0.0.1:5000``) or a registry plus a
    repository path (``ghcr.io/acme``), all lower-case, with no tag or digest.
    A value without a registry (``acme``) is Docker Hub, as in ko.
    """
    try:
        return _check_docker_repo(value)
    except _Invalid as e:
        raise ValueError(f"{source}={value!r} is not valid: {e.problem}; {e.fix}") from None


def validate_repository(value: str) -> str:
    """Validate an explicit repository (``registry/path``, lower-case, no tag) and return it.

    The message of the ``ValueError`` does not repeat the value (callers name it).
    """
    text = (value or "").strip().rstrip("/")
    if not text:
        raise ValueError("it is empty; write it as registry/repository, e.g. ghcr.io/acme/app")
    try:
        parse_repository(text)
    except InvalidReferenceError as e:
        raise ValueError(f"{e.problem}; {e.fix}") from None
    return text


def image_repository(ko_docker_repo: str, import_path: str, mode: str = "default") -> str:
    """The repository ko would push ``import_path`` to, e.g. ``ghcr.io/acme/app-<md5>``.

    ``ko_docker_repo`` is validated with :func:`validate_ko_docker_repo`; the
    result is checked to be a valid repository name.
    """
    mode = _MODE_ALIASES.get(mode, mode)
    if mode not in NAMING_MODES:
        raise ValueError(f"unknown naming mode {mode!r}; use one of {', '.join(NAMING_MODES)}")
    base = validate_ko_docker_repo(ko_docker_repo)
    return _name(base, import_path, mode)


def repository_for(docker_repo: str, import_path: str, mode: str = "default") -> str:
    """Like :func:`image_repository`, with errors that do not repeat ``docker_repo``.

    ``mode`` also accepts the spellings ``md5``, ``preserve-import-paths`` and
    ``base-import-paths`` (ko's flag names).
    """
    mode = _MODE_ALIASES.get(mode, mode)
    if mode not in NAMING_MODES:
        raise ValueError(f"unknown naming mode {mode!r}; use one of {', '.join(NAMING_MODES)}")
    try:
        base = _check_docker_repo(docker_repo)
    except _Invalid as e:
        raise ValueError(str(e)) from None
    return _name(base, import_path, mode)


def _name(base: str, import_path: str, mode: str) -> str:
    ip = normalize_import_path(import_path)
    if mode != "bare" and not ip:
        raise ValueError(f"cannot name an image for an empty import path {import_path!r}; pass a Go import path")
    if mode == "default":
        name = gopath.join(base, f"{gopath.base(ip)}-{md5_hex(ip)}")
    elif mode == "preserve":
        name = gopath.join(base, ip)
    elif mode == "base":
        name = gopath.join(base, gopath.base(ip))
    else:
        if "/" not in base and looks_like_registry(base):
            raise ValueError(
                f"naming mode 'bare' pushes to KO_DOCKER_REPO itself, but {base!r} names only a registry; "
                "add a repository path, e.g. ghcr.io/acme/app"
            )
        name = base
    try:
        parse_repository(name)
    except InvalidReferenceError as e:
        raise ValueError(
            f"import path {import_path!r} gives the repository name {name!r}, which is not valid: "
            f"{e.problem}; {e.fix}"
        ) from None
    return name
