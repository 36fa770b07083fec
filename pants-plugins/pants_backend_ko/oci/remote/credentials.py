"""A keychain that finds registry credentials the way Docker tools do.

Sources, in order (go-containerregistry's `pkg/authn/keychain.go` reads the Docker file, then
the podman ones; the first file that has an answer for the registry wins, as in rules_oci's
`oci/private/authn.bzl`):

1. ``$DOCKER_CONFIG/config.json`` if ``DOCKER_CONFIG`` is set, else ``$HOME/.docker/config.json``
2. ``$REGISTRY_AUTH_FILE`` (podman/skopeo)
3. ``$XDG_RUNTIME_DIR/containers/auth.json`` (podman/skopeo default)

Within one file (as docker/cli's `cli/config/configfile/file.go` resolves it):
``credHelpers[host]``, then ``auths[host]`` (an empty ``{}`` entry means "ask ``credsStore``"),
then ``credsStore``. A helper that answers "credentials not found" means anonymous, not an error.

The environment is always passed in explicitly (Pants hands processes an
explicit env), so nothing here reads ``os.environ``. Secrets are wrapped in
:class:`Secret`, whose ``repr``/``str`` never show the value, so a
:class:`Credential` can be logged or put in an exception safely.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pants_backend_ko.errors import KoError
from pants_backend_ko.oci.reference import DOCKER_HUB_ALIASES

DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"
# The username a credential helper returns when the secret is an identity (refresh) token.
IDENTITY_TOKEN_USERNAME = "<token>"
DEFAULT_HELPER_TIMEOUT = 30.0

ANONYMOUS = "anonymous"
BASIC = "basic"
IDENTITY_TOKEN = "identity_token"
REGISTRY_TOKEN = "registry_token"


class CredentialError(KoError):
    """A credential source is broken (unreadable config, failing helper). One line, no secret."""


class Secret:
    """A string that never shows itself in ``repr``/``str``/f-strings; call :meth:`reveal`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('********')" if self._value else "Secret('')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict) -> Secret:
        return self

    def __reduce__(self):  # pickling would copy the secret into caches or files; refuse
        raise TypeError("Secret values cannot be pickled")


EMPTY_SECRET = Secret("")


@dataclass(frozen=True)
class Credential:
    """What the keychain found for one registry.

    ``kind`` is ``anonymous``, ``basic`` (username + password), ``identity_token``
    (OAuth2 refresh token, used against a Bearer realm) or ``registry_token``
    (a Bearer token sent as is). ``source`` says where it came from, for error
    messages; ``searched`` lists the files consulted when nothing was found.
    """

    kind: str = ANONYMOUS
    username: str = ""
    secret: Secret = field(default=EMPTY_SECRET, repr=False)
    source: str = ""
    searched: tuple[str, ...] = ()

    @property
    def is_anonymous(self) -> bool:
        return self.kind == ANONYMOUS

    def describe(self) -> str:
        """A one-line description without the secret, e.g. for "credentials tried: ..."."""
        origin = f" from {self.source}" if self.source else ""
        if self.kind == BASIC:
            return f"basic auth for user {self.username!r}{origin}"
        if self.kind == IDENTITY_TOKEN:
            return f"identity token{origin}"
        if self.kind == REGISTRY_TOKEN:
            return f"registry token{origin}"
        if self.searched:
            return f"none (anonymous; searched {', '.join(self.searched)})"
        return "none (anonymous; no credential files found)"

    def __str__(self) -> str:
        return self.describe()


def registry_key(registry_or_url: str) -> str:
    """Normalize a config key or registry name to a host[:port] for comparison.

    ``https://ghcr.io/v1/`` -> ``ghcr.io``; every Docker Hub alias -> ``index.docker.io``.
    """
    key = registry_or_url.strip()
    if "://" in key:
        key = key.split("://", 1)[1]
    key = key.split("/", 1)[0].lower()
    if key in DOCKER_HUB_ALIASES:
        return "index.docker.io"
    return key


def helper_server_url(registry: str) -> str:
    """What to send a credential helper on stdin: Docker Hub's legacy key, else the host."""
    key = registry_key(registry)
    return DOCKER_HUB_AUTH_KEY if key == "index.docker.io" else key


def _lookup(mapping: Mapping[str, object], registry: str) -> tuple[str | None, object]:
    """Find ``registry`` among a config mapping's keys: exact key first, then normalized."""
    wanted = registry_key(registry)
    for exact in (registry, helper_server_url(registry)):
        if exact in mapping:
            return exact, mapping[exact]
    for key, value in mapping.items():
        if isinstance(key, str) and registry_key(key) == wanted:
            return key, value
    return None, None


class Keychain:
    """Resolve a :class:`Credential` for a registry from Docker/podman config files.

    ``environ`` is the environment to use (HOME, DOCKER_CONFIG, REGISTRY_AUTH_FILE,
    XDG_RUNTIME_DIR, PATH for ``docker-credential-*`` helpers); it is never
    taken from ``os.environ`` implicitly. Results are cached per registry.
    """

    def __init__(self, environ: Mapping[str, str], *, helper_timeout: float = DEFAULT_HELPER_TIMEOUT) -> None:
        self._environ: dict[str, str] = dict(environ)
        self._helper_timeout = helper_timeout
        self._cache: dict[str, Credential] = {}

    def config_files(self) -> list[str]:
        """The credential files to consult, in order (whether or not they exist)."""
        env = self._environ
        files: list[str] = []
        if env.get("DOCKER_CONFIG"):
            files.append(os.path.join(env["DOCKER_CONFIG"], "config.json"))
        elif env.get("HOME"):
            files.append(os.path.join(env["HOME"], ".docker", "config.json"))
        if env.get("REGISTRY_AUTH_FILE"):
            files.append(env["REGISTRY_AUTH_FILE"])
        if env.get("XDG_RUNTIME_DIR"):
            files.append(os.path.join(env["XDG_RUNTIME_DIR"], "containers", "auth.json"))
        return files

    def resolve(self, registry: str) -> Credential:
        """The credential for ``registry`` (host[:port]); anonymous when none is configured."""
        key = registry_key(registry)
        if key not in self._cache:
            self._cache[key] = self._resolve_uncached(key)
        return self._cache[key]

    def _resolve_uncached(self, registry: str) -> Credential:
        searched: list[str] = []
        for path in self.config_files():
            config = self._read_config(path)
            if config is None:
                continue
            searched.append(path)
            found = self._from_config(config, path, registry)
            if found is not None:
                if not found.is_anonymous:
                    return found
                searched.extend(found.searched)
        return Credential(kind=ANONYMOUS, searched=tuple(searched))

    @staticmethod
    def _read_config(path: str) -> dict | None:
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise CredentialError(
                f"cannot read credential file {path}: {e.strerror}; fix its permissions or remove it"
            ) from None
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except ValueError as e:
            raise CredentialError(
                f"credential file {path} is not valid JSON (line {getattr(e, 'lineno', '?')}); fix or remove it"
            ) from None
        if not isinstance(data, dict):
            raise CredentialError(f"credential file {path} must hold a JSON object; fix or remove it")
        return data

    def _from_config(self, config: dict, path: str, registry: str) -> Credential | None:
        helpers = config.get("credHelpers") or {}
        if isinstance(helpers, dict):
            _, helper = _lookup(helpers, registry)
            if isinstance(helper, str) and helper:
                return self._run_helper(helper, registry, f"credHelpers in {path}")
        auths = config.get("auths") or {}
        if isinstance(auths, dict):
            key, entry = _lookup(auths, registry)
            if key is not None:
                parsed = self._parse_auth_entry(entry, path, key)
                if parsed is not None:
                    return parsed
        store = config.get("credsStore")
        if isinstance(store, str) and store:
            return self._run_helper(store, registry, f"credsStore in {path}")
        return None

    @staticmethod
    def _parse_auth_entry(entry: object, path: str, key: str) -> Credential | None:
        where = f"{path} (auths[{key!r}])"
        if not isinstance(entry, dict):
            raise CredentialError(f"credential entry auths[{key!r}] in {path} must be a JSON object; fix or remove it")
        if entry.get("registrytoken"):
            return Credential(REGISTRY_TOKEN, "", Secret(str(entry["registrytoken"])), where)
        if entry.get("identitytoken"):
            return Credential(
                IDENTITY_TOKEN, str(entry.get("username") or ""), Secret(str(entry["identitytoken"])), where
            )
        if entry.get("auth"):
            try:
                decoded = base64.b64decode(str(entry["auth"]), validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                raise CredentialError(
                    f"credential entry auths[{key!r}] in {path}: 'auth' is not base64 of 'user:password'; log in again"
                ) from None
            user, sep, password = decoded.partition(":")
            if not sep or not user:
                raise CredentialError(
                    f"credential entry auths[{key!r}] in {path}: 'auth' does not decode to 'user:password'; log in again"
                )
            return Credential(BASIC, user, Secret(password), where)
        if entry.get("username") and entry.get("password"):
            return Credential(BASIC, str(entry["username"]), Secret(str(entry["password"])), where)
        # `{}` (or only an email): the credentials live in credsStore.
        return None

    def _run_helper(self, helper: str, registry: str, configured_by: str) -> Credential:
        program = f"docker-credential-{helper}"
        executable = shutil.which(program, path=self._environ.get("PATH", ""))
        if executable is None:
            raise CredentialError(
                f"credential helper {program} (configured by {configured_by}) is not on PATH; "
                "install it, add its directory to PATH, or remove the setting"
            )
        server = helper_server_url(registry)
        env = {k: v for k, v in self._environ.items()}
        try:
            returncode, stdout, stderr = _run_helper_process(
                [executable, "get"], (server + "\n").encode("utf-8"), env, self._helper_timeout
            )
        except subprocess.TimeoutExpired:
            raise CredentialError(
                f"credential helper {program} did not answer for {server} within {self._helper_timeout:g}s; check the helper"
            ) from None
        except OSError as e:
            raise CredentialError(f"cannot run credential helper {program}: {e.strerror}") from None
        out = stdout.decode("utf-8", "replace")
        err = stderr.decode("utf-8", "replace")
        if returncode != 0:
            if "credentials not found" in out.lower() or "credentials not found" in err.lower():
                return Credential(kind=ANONYMOUS, searched=(f"{program} ({configured_by})",))
            # A failing helper prints a plain message; quote its first line only, trimmed.
            detail = ((err.strip() or out.strip()).splitlines() or [""])[0][:200]
            raise CredentialError(
                f"credential helper {program} failed for {server} (exit {returncode}): {detail or 'no message'}; "
                "log in again or fix the helper"
            )
        try:
            answer = json.loads(out)
            username = str(answer.get("Username") or "")
            secret = str(answer.get("Secret") or "")
        except (ValueError, AttributeError):
            raise CredentialError(
                f"credential helper {program} answered for {server} with something that is not its JSON format; fix the helper"
            ) from None
        source = f"{program} ({configured_by})"
        if not secret:
            return Credential(kind=ANONYMOUS, searched=(source,))
        if username == IDENTITY_TOKEN_USERNAME:
            return Credential(IDENTITY_TOKEN, "", Secret(secret), source)
        return Credential(BASIC, username, Secret(secret), source)


def _run_helper_process(argv: list[str], stdin: bytes, env: dict[str, str], timeout: float) -> tuple[int, bytes, bytes]:
    """Run a helper in its own process group so a timeout kills it and anything it started."""
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True
    )
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.communicate()
        raise
    return proc.returncode, out, err


def anonymous_keychain() -> Keychain:
    """A keychain with no sources: every registry is anonymous."""
    return Keychain({})


def credential_files_hint(searched: Sequence[str]) -> str:
    return ", ".join(searched) if searched else "no credential files"
