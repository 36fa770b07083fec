"""go-containerregistry's `v1.ConfigFile`, the image config, and its parts (`pkg/v1/config.go`).

ko edits images through these Go structs: a base config is decoded into `v1.ConfigFile`,
edited, and encoded with `json.Marshal`. So, with `golang.gostruct` doing Go's part:

- fields unknown to the structs are dropped (Docker's `container_config`, for example);
- keys come out in struct field order, maps sorted by key, with `omitempty` rules;
- JSON keys are matched to fields case-insensitively on input, the last duplicate wins;
- times are re-written by Go's `time.Time` (`golang.gotime`); the zero time is
  `0001-01-01T00:00:00Z` and is never omitted.

`exposed_ports` and `volume_paths` check the keys of `ExposedPorts` and `Volumes` that
`ko_image`'s `ports` and `volumes` add (ko issue 472), as a Dockerfile's `EXPOSE` and `VOLUME`
write them (moby `builder/dockerfile/dispatchers.go`, `nat.ParsePortSpecs` of
docker/go-connections): `<port>/<protocol>`, tcp when no protocol is given, a range
`8000-8002/udp` giving one key per port; volumes are absolute paths.

No Pants imports.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from pants_backend_ko.golang.frozendict import FrozenDict
from pants_backend_ko.golang.gostruct import (
    Bool,
    EmptyStructMap,
    Field,
    GoStruct,
    Int,
    Slice,
    String,
    StringMap,
    Strings,
    Struct,
    StructList,
    StructPointer,
    Time,
)
from pants_backend_ko.golang.gotime import ZERO_TIME
from pants_backend_ko.oci.digest import check_digest
from pants_backend_ko.oci.platform import Platform

__all__ = ["History", "RootFS", "HealthConfig", "ContainerConfig", "ConfigFile", "exposed_ports", "volume_paths"]

PORT_PROTOCOLS = ("tcp", "udp", "sctp")
_PORT_SPEC = re.compile(r"([0-9]+)(?:-([0-9]+))?(?:/([A-Za-z]+))?")
_MAX_PORT = 65535


# []v1.Hash (diff_ids): each element must parse as a digest.
_HASHES = Slice(check_digest, "an array of digests")


@dataclass(frozen=True)
class History(GoStruct):
    """ggcr `v1.History`."""

    author: str = ""
    created: str = ZERO_TIME
    created_by: str = ""
    comment: str = ""
    empty_layer: bool = False

    _GO_FIELDS: ClassVar[tuple[Field, ...]] = (
        Field("author", "author", String()),
        Field("created", "created", Time()),
        Field("created_by", "created_by", String()),
        Field("comment", "comment", String()),
        Field("empty_layer", "empty_layer", Bool()),
    )


@dataclass(frozen=True)
class RootFS(GoStruct):
    """ggcr `v1.RootFS`; `diff_ids` None is Go's nil slice and is written as `null`."""

    type: str = ""
    diff_ids: tuple[str, ...] | None = None

    _GO_FIELDS: ClassVar[tuple[Field, ...]] = (
        Field("type", "type", String(), omitempty=False),
        Field("diff_ids", "diff_ids", _HASHES, omitempty=False),
    )


@dataclass(frozen=True)
class HealthConfig(GoStruct):
    """ggcr `v1.HealthConfig` (durations in nanoseconds)."""

    test: tuple[str, ...] | None = None
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    retries: int = 0

    _GO_FIELDS: ClassVar[tuple[Field, ...]] = (
        Field("Test", "test", Strings()),
        Field("Interval", "interval", Int()),
        Field("Timeout", "timeout", Int()),
        Field("StartPeriod", "start_period", Int()),
        Field("Retries", "retries", Int()),
    )


@dataclass(frozen=True)
class ContainerConfig(GoStruct):
    """ggcr `v1.Config` (the `config` object of an image config), in its Go field order."""

    attach_stderr: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = False
    cmd: tuple[str, ...] | None = None
    healthcheck: HealthConfig | None = None
    domainname: str = ""
    entrypoint: tuple[str, ...] | None = None
    env: tuple[str, ...] | None = None
    hostname: str = ""
    image: str = ""
    labels: FrozenDict | None = None
    on_build: tuple[str, ...] | None = None
    open_stdin: bool = False
    stdin_once: bool = False
    tty: bool = False
    user: str = ""
    volumes: tuple[str, ...] | None = None
    working_dir: str = ""
    exposed_ports: tuple[str, ...] | None = None
    args_escaped: bool = False
    network_disabled: bool = False
    mac_address: str = ""
    stop_signal: str = ""
    shell: tuple[str, ...] | None = None

    _GO_FIELDS: ClassVar[tuple[Field, ...]] = (
        Field("AttachStderr", "attach_stderr", Bool()),
        Field("AttachStdin", "attach_stdin", Bool()),
        Field("AttachStdout", "attach_stdout", Bool()),
        Field("Cmd", "cmd", Strings()),
        Field("Healthcheck", "healthcheck", StructPointer(HealthConfig)),
        Field("Domainname", "domainname", String()),
        Field("Entrypoint", "entrypoint", Strings()),
        Field("Env", "env", Strings()),
        Field("Hostname", "hostname", String()),
        Field("Image", "image", String()),
        Field("Labels", "labels", StringMap()),
        Field("OnBuild", "on_build", Strings()),
        Field("OpenStdin", "open_stdin", Bool()),
        Field("StdinOnce", "stdin_once", Bool()),
        Field("Tty", "tty", Bool()),
        Field("User", "user", String()),
        Field("Volumes", "volumes", EmptyStructMap()),
        Field("WorkingDir", "working_dir", String()),
        Field("ExposedPorts", "exposed_ports", EmptyStructMap()),
        Field("ArgsEscaped", "args_escaped", Bool()),
        Field("NetworkDisabled", "network_disabled", Bool()),
        Field("MacAddress", "mac_address", String()),
        Field("StopSignal", "stop_signal", String()),
        Field("Shell", "shell", Strings()),
    )


@dataclass(frozen=True)
class ConfigFile(GoStruct):
    """ggcr `v1.ConfigFile`, the image config, in its Go field order."""

    architecture: str = ""
    author: str = ""
    container: str = ""
    created: str = ZERO_TIME
    docker_version: str = ""
    history: tuple[History, ...] | None = None
    os: str = ""
    rootfs: RootFS = field(default_factory=RootFS)
    config: ContainerConfig = field(default_factory=ContainerConfig)
    os_version: str = ""
    variant: str = ""
    os_features: tuple[str, ...] | None = None

    _GO_FIELDS: ClassVar[tuple[Field, ...]] = (
        Field("architecture", "architecture", String(), omitempty=False),
        Field("author", "author", String()),
        Field("container", "container", String()),
        Field("created", "created", Time()),
        Field("docker_version", "docker_version", String()),
        Field("history", "history", StructList(History)),
        Field("os", "os", String(), omitempty=False),
        Field("rootfs", "rootfs", Struct(RootFS), omitempty=False),
        Field("config", "config", Struct(ContainerConfig), omitempty=False),
        Field("os.version", "os_version", String()),
        Field("variant", "variant", String()),
        Field("os.features", "os_features", Strings()),
    )

    @classmethod
    def parse(cls, data: bytes, what: str = "image config") -> ConfigFile:
        """Decode config bytes as ggcr's `v1.ParseConfigFile` does (unknown fields dropped)."""
        return cls.parse_object(data, what)

    @classmethod
    def for_platform(cls, platform: Platform) -> ConfigFile:
        """The config of an empty ("scratch") image for `platform` (ggcr's empty image plus os/arch)."""
        return cls(
            architecture=platform.architecture,
            os=platform.os,
            os_version=platform.os_version or "",
            variant=platform.variant or "",
            os_features=tuple(platform.os_features) or None,
            rootfs=RootFS(type="layers"),
        )

    @property
    def platform(self) -> Platform:
        return Platform(
            os=self.os,
            architecture=self.architecture,
            variant=self.variant or None,
            os_version=self.os_version or None,
            os_features=tuple(self.os_features or ()),
        )


def exposed_ports(specs: Iterable[str], where: str = "ports") -> tuple[str, ...]:
    """The `ExposedPorts` keys of `specs` (`"8080"`, `"8443/tcp"`, `"53/udp"`, `"8000-8002"`), sorted;
    a `ValueError` naming the bad entry otherwise."""
    keys: set[str] = set()
    for spec in specs:
        match = _PORT_SPEC.fullmatch(spec.strip()) if isinstance(spec, str) else None
        if match is None:
            raise ValueError(
                f"{where}: {spec!r} is not a port; write <port>[/<protocol>] or <first>-<last>[/<protocol>], "
                "e.g. 8080, 8443/tcp, 53/udp"
            )
        first, last, protocol = match.group(1), match.group(2) or match.group(1), (match.group(3) or "tcp").lower()
        if protocol not in PORT_PROTOCOLS:
            raise ValueError(f"{where}: {spec!r}: unknown protocol {protocol!r}; use {', '.join(PORT_PROTOCOLS)}")
        low, high = int(first), int(last)
        if not 1 <= low <= _MAX_PORT or not 1 <= high <= _MAX_PORT:
            raise ValueError(f"{where}: {spec!r}: a port is a number from 1 to {_MAX_PORT}")
        if high < low:
            raise ValueError(f"{where}: {spec!r}: the range ends before it starts")
        keys.update(f"{port}/{protocol}" for port in range(low, high + 1))
    return tuple(sorted(keys))


def volume_paths(paths: Iterable[str], where: str = "volumes") -> tuple[str, ...]:
    """The `Volumes` keys of `paths`, sorted; each must be an absolute path (a `ValueError` otherwise)."""
    keys = set()
    for path in paths:
        if not isinstance(path, str) or not path.startswith("/") or any(c in path for c in "\0\n"):
            raise ValueError(f"{where}: {path!r} is not an absolute path in the image, e.g. /data")
        keys.add(path)
    return tuple(sorted(keys))
