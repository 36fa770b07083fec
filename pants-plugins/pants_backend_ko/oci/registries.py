"""`[ko].registries`: registries with aliases, in the shape Pants' docker backend users know.

Pants 2.17's `[docker].registries` (`pants/backend/docker/registries.py`): a mapping from an
alias to the registry's options, written in `pants.toml` as

    [ko.registries.prod]
    address = "ghcr.io/acme"
    default = true
    extra_image_tags = ["stable"]

and chosen by a target with `registries=["@prod", "@staging"]`. The options are Pants':

| key                | meaning                                                                  |
|--------------------|--------------------------------------------------------------------------|
| `address`          | `host[:port]`, optionally with a path prefix (`ghcr.io/acme`), as `KO_DOCKER_REPO` |
| `default`          | used by every target without a `registries` field (Pants: the alias `default` is one) |
| `skip_push`        | `publish` skips it, saying so                                            |
| `extra_image_tags` | tags pushed there besides the target's (`extra_tags` is accepted too)    |
| `repository`       | the repository under `address` for every image pushed there (a template) |

A target's `registries` lists `@alias`es, addresses written out (a registry not in the option),
or `<all default registries>`. Unlike Pants, an unknown key in an entry is an error (a typo
would otherwise be ignored). No Pants imports.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pants_backend_ko.errors import KoError
from pants_backend_ko.oci import naming

ALL_DEFAULT_REGISTRIES = "<all default registries>"
_ALIAS = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_KEYS = ("address", "default", "skip_push", "extra_image_tags", "extra_tags", "repository")


class RegistryOptionError(KoError):
    """`[ko].registries` or a target's `registries` says something that cannot be used."""


@dataclass(frozen=True)
class RegistryOptions:
    """One registry a `ko_image` may be published to."""

    address: str  # host[:port][/path prefix], validated as KO_DOCKER_REPO is
    alias: str = ""
    default: bool = False
    skip_push: bool = False
    extra_image_tags: tuple[str, ...] = ()
    repository: str | None = None  # a template of the repository under `address`

    @property
    def name(self) -> str:
        """How messages name it: `@alias`, or the address written in a BUILD file."""
        return f"@{self.alias}" if self.alias else self.address


def _bool(value: Any, where: str) -> bool:
    # Pants' Parser.ensure_bool: true/false, or their strings.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise RegistryOptionError(f"{where} must be true or false, not {value!r}")


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise RegistryOptionError(f"{where} must be a list of strings, not {value!r}")


def _address(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise RegistryOptionError(f"{where} must be a string like ghcr.io/acme, not {value!r}")
    try:
        return naming.validate_ko_docker_repo(value, source=where)
    except ValueError as e:
        raise RegistryOptionError(str(e)) from None


def registry_options(alias: str, value: Any, where: str = "[ko].registries") -> RegistryOptions:
    """One entry of `[ko].registries`, checked."""
    at = f"{where}.{alias}"
    if not _ALIAS.fullmatch(alias):
        raise RegistryOptionError(f"{at}: an alias is letters, digits, '.', '_' and '-'")
    if not isinstance(value, Mapping):
        raise RegistryOptionError(f"{at} must be a table (address = ..., default = ...), not {value!r}")
    unknown = sorted(set(value) - set(_KEYS))
    if unknown:
        raise RegistryOptionError(f"{at}: unknown key {unknown[0]!r}; the keys are {', '.join(_KEYS)}")
    if "address" not in value:
        raise RegistryOptionError(f'{at} has no address; add address = "host[:port][/path]"')
    if "extra_image_tags" in value and "extra_tags" in value:
        raise RegistryOptionError(f"{at} sets both extra_image_tags and extra_tags; keep one")
    repository = value.get("repository")
    if repository is not None and (not isinstance(repository, str) or not repository.strip("/ ")):
        raise RegistryOptionError(f"{at}.repository must be a non-empty string, not {repository!r}")
    return RegistryOptions(
        address=_address(value["address"], f"{at}.address"),
        alias=alias,
        default=_bool(value.get("default", alias == "default"), f"{at}.default"),
        skip_push=_bool(value.get("skip_push", False), f"{at}.skip_push"),
        extra_image_tags=_strings(value.get("extra_image_tags", value.get("extra_tags", ())), f"{at}.extra_image_tags"),
        repository=repository.strip("/") if repository else None,
    )


@dataclass(frozen=True)
class Registries:
    """Every registry of `[ko].registries`, in the order written."""

    entries: tuple[RegistryOptions, ...] = ()

    @classmethod
    def from_option(cls, value: Mapping[str, Any] | None, where: str = "[ko].registries") -> Registries:
        if not isinstance(value, Mapping):
            raise RegistryOptionError(f"{where} must be a table of aliases, not {value!r}")
        return cls(tuple(registry_options(str(alias), options, where) for alias, options in value.items()))

    @property
    def defaults(self) -> tuple[RegistryOptions, ...]:
        return tuple(r for r in self.entries if r.default)

    def select(self, names: Sequence[str], where: str) -> tuple[RegistryOptions, ...]:
        """The registries a target's `registries` field names (`where` names the field)."""
        by_alias = {f"@{r.alias}": r for r in self.entries}
        selected: list[RegistryOptions] = []
        for name in names:
            if name == ALL_DEFAULT_REGISTRIES:
                found: Sequence[RegistryOptions] = self.defaults
            elif name.startswith("@"):
                if name not in by_alias:
                    known = ", ".join(sorted(by_alias)) or "none are defined"
                    raise RegistryOptionError(
                        f"{where}: no registry has the alias {name!r} (known: {known})",
                        fix="define it in pants.toml under [ko.registries." + name[1:] + "], or fix the name",
                    )
                found = (by_alias[name],)
            else:
                written = _address(name, f"{where}: {name!r}")
                found = next(([r] for r in self.entries if r.address == written), [RegistryOptions(written)])
            selected.extend(r for r in found if r not in selected)
        return tuple(selected)
