"""Target platforms (`linux/arm64/v8`): parsing, Go build variables, ko's matching rule, JSON.

- `Platform.parse` accepts `os/arch[/variant]` for the GOOS/GOARCH pairs Go can build
  (`go tool dist list` of Go 1.26, hard-coded below so no Go toolchain is needed to parse).
- `Platform.go_env` gives GOOS/GOARCH plus GOARM/GOAMD64 exactly as ko's `buildEnv` does
  (ko's `pkg/build/gobuild.go`).
- `Platform.matches` is ko's `platformMatcher.matches` for one requested platform (gobuild.go).
- `Platform.to_json` is go-containerregistry's `v1.Platform` in Go struct field order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pants_backend_ko.errors import KoError

__all__ = ["Platform", "GO_DIST_LIST", "InvalidPlatformError"]

# `go tool dist list` (Go 1.26). Only pairs Go can actually build are accepted.
GO_DIST_LIST = frozenset(
    """
    aix/ppc64 android/386 android/amd64 android/arm android/arm64 darwin/amd64 darwin/arm64
    dragonfly/amd64 freebsd/386 freebsd/amd64 freebsd/arm freebsd/arm64 illumos/amd64 ios/amd64
    ios/arm64 js/wasm linux/386 linux/amd64 linux/arm linux/arm64 linux/loong64 linux/mips
    linux/mips64 linux/mips64le linux/mipsle linux/ppc64 linux/ppc64le linux/riscv64 linux/s390x
    netbsd/386 netbsd/amd64 netbsd/arm netbsd/arm64 openbsd/386 openbsd/amd64 openbsd/arm
    openbsd/arm64 openbsd/ppc64 openbsd/riscv64 plan9/386 plan9/amd64 plan9/arm solaris/amd64
    wasip1/wasm windows/386 windows/amd64 windows/arm64
    """.split()
)
_KNOWN_OS = frozenset(pair.split("/")[0] for pair in GO_DIST_LIST)
_KNOWN_ARCH = frozenset(pair.split("/")[1] for pair in GO_DIST_LIST)

# Variants that mean something to the Go toolchain or to registries, per architecture.
_VARIANT_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    # GOARM; ko passes N >= 5 through (clamped to 7) and ignores lower values.
    "arm": (re.compile(r"v[1-9][0-9]*"), "v5, v6, v7 or v8"),
    # GOAMD64 levels.
    "amd64": (re.compile(r"v[1-4]"), "v1, v2, v3 or v4"),
    # OCI uses v8 (and v8.x / v9.x for newer cores).
    "arm64": (re.compile(r"v[89](\.[0-9]+)?"), "v8, v8.N, v9 or v9.N"),
}
_GENERIC_VARIANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class InvalidPlatformError(KoError, ValueError):
    """`invalid platform '<text>': <problem>`; the problem (with what to do) is kept for re-wording."""

    def __init__(self, text: str, problem: str) -> None:
        super().__init__(f"invalid platform {text!r}: {problem}")
        self.text = text
        self.problem = problem


@dataclass(frozen=True)
class Platform:
    """One OCI platform. `variant`/`os_version` are None when unset (Go's empty string)."""

    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None
    os_features: tuple[str, ...] = ()
    features: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str, *, pattern: bool = False) -> Platform:
        """Parse `os/arch[/variant]`; raise ValueError with one line saying what is wrong.

        With `pattern=True` the text is a platform to pick base images by (ko's `--platform` as
        ggcr's `ParsePlatform` reads it): `os[/arch[/variant]][:os_version]`, any names, since a
        registry may hold platforms Go cannot build and a pattern may leave fields out.
        """
        if not isinstance(text, str):
            raise ValueError(f"platform must be a string like 'linux/amd64', got {text!r}")
        if pattern:
            return cls._parse_pattern(text)
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or any(p == "" for p in parts):
            raise InvalidPlatformError(text, "expected os/arch[/variant], for example 'linux/amd64' or 'linux/arm/v7'")
        os_name, arch = parts[0], parts[1]
        variant = parts[2] if len(parts) == 3 else None
        if os_name not in _KNOWN_OS:
            raise InvalidPlatformError(text, f"unknown os {os_name!r}; use one of {', '.join(sorted(_KNOWN_OS))}")
        if arch not in _KNOWN_ARCH:
            raise InvalidPlatformError(
                text, f"unknown architecture {arch!r}; use one of {', '.join(sorted(_KNOWN_ARCH))}"
            )
        if f"{os_name}/{arch}" not in GO_DIST_LIST:
            raise InvalidPlatformError(text, f"Go cannot build {os_name}/{arch} (see `go tool dist list`)")
        if variant is not None:
            variant_pattern, allowed = _VARIANT_RULES.get(arch, (_GENERIC_VARIANT, "letters, digits, '.', '_' or '-'"))
            if not variant_pattern.fullmatch(variant):
                raise InvalidPlatformError(text, f"variant {variant!r} for {arch} must be {allowed}")
            if arch == "arm" and int(variant[1:]) < 5:
                raise InvalidPlatformError(text, "Go supports GOARM 5, 6 and 7 only; use v5, v6, v7 or v8")
        return cls(os=os_name, architecture=arch, variant=variant)

    @classmethod
    def _parse_pattern(cls, text: str) -> Platform:
        spec, _, os_version = text.strip().partition(":")
        parts = spec.split("/")
        if not 1 <= len(parts) <= 3 or not all(parts):
            raise InvalidPlatformError(
                text, "write it as os/arch[/variant], e.g. linux/amd64 or linux/arm/v7, or 'all'"
            )
        return cls(
            os=parts[0],
            architecture=parts[1] if len(parts) > 1 else "",
            variant=parts[2] if len(parts) > 2 else None,
            os_version=os_version or None,
        )

    @property
    def is_unknown(self) -> bool:
        """Docker's attestation entries carry `unknown/unknown`; they are not images to run."""
        return self.os == "unknown" or self.architecture == "unknown"

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        if self.variant:
            text += f"/{self.variant}"
        return text

    def go_env(self) -> dict[str, str]:
        """GOOS, GOARCH and, like ko's `buildEnv`, GOARM (arm/vN, N>=5, >7 clamped to 7) or GOAMD64."""
        env = {"GOOS": self.os, "GOARCH": self.architecture}
        if self.variant:
            if self.architecture == "arm":
                if not re.fullmatch(r"v[0-9]+", self.variant):
                    raise ValueError(f"platform {self}: arm variant {self.variant!r} must be vN, for example v7")
                level = int(self.variant[1:])
                if level >= 5:
                    env["GOARM"] = str(min(level, 7))  # Go has no GOARM=8 (golang/go#29373)
            elif self.architecture == "amd64":
                env["GOAMD64"] = self.variant
        return env

    def matches(self, candidate: Platform | None) -> bool:
        """ko's rule: every field set here must equal the candidate's (`self` is the requested one).

        Entries with an `unknown` os or architecture (Docker attestations) and entries without a
        platform never match. On Windows an `X.Y.Z` os version matches `X.Y.Z.N`.
        """
        if candidate is None or candidate.is_unknown:
            return False
        if self.os and candidate.os != self.os:
            return False
        if self.architecture and candidate.architecture != self.architecture:
            return False
        if self.variant and candidate.variant != self.variant:
            return False
        if self.os_version and self.os_version != candidate.os_version:
            if self.os != "windows":
                return False
            theirs = candidate.os_version or ""
            if not (self.os_version.count(".") == 2 and theirs.count(".") == 3):
                return False
            if self.os_version != theirs[: theirs.rindex(".")]:
                return False
        return True

    def to_json(self) -> dict[str, Any]:
        """go-containerregistry `v1.Platform` field order; empty optional fields are omitted."""
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        if self.features:
            out["features"] = list(self.features)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "platform", *, strict: bool = True) -> Platform:
        """Read a descriptor's `platform` object (no validation of os/arch: registries hold anything).

        `strict=False` (for base images read from a registry, which we only pick from) turns a
        mistyped field into text or drops it instead of refusing the whole index.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: expected a JSON object, got {type(data).__name__}")

        def text(key: str) -> str | None:
            value = data.get(key)
            if value is None:
                return None
            if not isinstance(value, str):
                if not strict:
                    return str(value) or None
                raise ValueError(f"{where}: field {key!r} must be a string, got {value!r}")
            return value or None

        def strings(key: str) -> tuple[str, ...]:
            value = data.get(key)
            if value is None:
                return ()
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                if not strict:
                    return ()
                raise ValueError(f"{where}: field {key!r} must be a list of strings, got {value!r}")
            return tuple(value)

        return cls(
            os=text("os") or "",
            architecture=text("architecture") or "",
            variant=text("variant"),
            os_version=text("os.version"),
            os_features=strings("os.features"),
            features=strings("features"),
        )
