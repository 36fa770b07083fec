"""Read an image from a Docker daemon into an OCI layout: ko's `ko.local/...` base images.

ko reads a base image whose registry is `ko.local` from the daemon (ko `pkg/commands/config.go`
`getBaseImage`: `daemon.Image(ref)`), through go-containerregistry's `pkg/v1/daemon/image.go`:
the image must exist (its ID is asked for at once, `ImageInspect`); its layers come from
`docker save` (`ImageSave`, read by `pkg/v1/tarball`). Its config, the one ko's build edits
(`ConfigFile()`, which `mutate.Append` starts from), is *not* the saved config but one made
from `ImageInspect` and `ImageHistory` (`computeConfigFile`, `computeImageConfig`):

- `architecture`, `author`, `created`, `os`, `os.version`, `rootfs` from the inspect answer;
  `variant`, `os.features`, `container`, `docker_version` are left out;
- `history` is the daemon's history list in its own order (newest first, so reversed against
  the image's own history), each entry with the image's author, its creation time in whole
  seconds, and `empty_layer` where the daemon reports size 0;
- `config` keeps Cmd, Entrypoint, Env, Labels, OnBuild, User, Volumes, WorkingDir, ArgsEscaped,
  StopSignal, Shell and Healthcheck; ExposedPorts come out empty (ggcr copies them from the
  empty map it has just made), so they are dropped.

`save_image` writes that config (Go's JSON encoding, `pants_backend_ko.oci.configfile`) with the
daemon's layers as an OCI layout folder, which the base-image resolver already reads
(`oci-layout:<dir>`, `pants_backend_ko.oci.remote.pull.resolve_base_from_layout`); an image
built on it has the config (and image ID) ko's has. The daemon holds one platform per name,
so the base is a single image: ko then builds only that platform. No Pants imports here.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pants_backend_ko.golang import gotime
from pants_backend_ko.golang.frozendict import FrozenDict
from pants_backend_ko.oci.configfile import ConfigFile, ContainerConfig, HealthConfig, History, RootFS
from pants_backend_ko.oci.daemon.archive import SavedImage, layout_from_archive
from pants_backend_ko.oci.daemon.client import DaemonClient, DaemonError, ImageInspect

__all__ = ["ggcr_config_file", "save_image"]


def _strings(value: Any) -> tuple[str, ...] | None:
    return tuple(str(v) for v in value) if isinstance(value, list) else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _image_config(config: Any) -> ContainerConfig:
    """ggcr's `computeImageConfig`: the fields it copies from the inspect answer's `Config`."""
    if not isinstance(config, Mapping):
        return ContainerConfig()
    health = config.get("Healthcheck")
    labels = config.get("Labels")
    volumes = config.get("Volumes")
    return ContainerConfig(
        cmd=_strings(config.get("Cmd")),
        entrypoint=_strings(config.get("Entrypoint")),
        env=_strings(config.get("Env")),
        labels=FrozenDict({str(k): str(v) for k, v in labels.items()}) if isinstance(labels, Mapping) else None,
        on_build=_strings(config.get("OnBuild")),
        user=str(config.get("User") or ""),
        volumes=tuple(sorted(str(k) for k in volumes)) if isinstance(volumes, Mapping) else None,
        working_dir=str(config.get("WorkingDir") or ""),
        args_escaped=config.get("ArgsEscaped") is True,
        stop_signal=str(config.get("StopSignal") or ""),
        shell=_strings(config.get("Shell")),
        healthcheck=(
            HealthConfig(
                test=_strings(health.get("Test")),
                interval=_int(health.get("Interval")),
                timeout=_int(health.get("Timeout")),
                start_period=_int(health.get("StartPeriod")),
                retries=_int(health.get("Retries")),
            )
            if isinstance(health, Mapping)
            else None
        ),
    )


def ggcr_config_file(inspect: Mapping[str, Any], history: Sequence[Mapping[str, Any]], where: str) -> ConfigFile:
    """The config go-containerregistry's daemon image gives ko (`computeConfigFile`)."""
    author = str(inspect.get("Author") or "")
    rootfs = inspect.get("RootFS")
    if not isinstance(rootfs, Mapping):
        rootfs = {}
    try:
        created = gotime.reformat_json_time(inspect.get("Created"), "Created")
        entries = tuple(
            History(
                author=author,
                created=gotime.unix_utc_json(_int(item.get("Created")), "history Created"),
                created_by=str(item.get("CreatedBy") or ""),
                comment=str(item.get("Comment") or ""),
                empty_layer=_int(item.get("Size")) == 0,
            )
            for item in history
        )
    except ValueError as e:
        raise DaemonError(f"{where}: {e}") from None
    return ConfigFile(
        architecture=str(inspect.get("Architecture") or ""),
        author=author,
        created=created,
        history=entries,
        os=str(inspect.get("Os") or ""),
        rootfs=RootFS(type=str(rootfs.get("Type") or ""), diff_ids=_strings(rootfs.get("Layers")) or ()),
        config=_image_config(inspect.get("Config")),
        os_version=str(inspect.get("OsVersion") or ""),
    )


def save_image(client: DaemonClient, ref: str, out: Path) -> SavedImage:
    """Write the daemon's image `ref`, as ko sees it, as a new OCI layout folder `out`."""
    where = f"the image {ref} of the Docker daemon at {client.address.shown}"
    inspect = client.inspect_image_json(ref)
    if inspect is None:
        raise DaemonError(
            f"the Docker daemon at {client.address.shown} has no image {ref}; load or build it there first "
            "(`docker image ls` lists what it has)"
        )
    config = ggcr_config_file(inspect, client.image_history(ref), where)
    with client.save(ref) as stream:
        saved = layout_from_archive(stream, out, ref=ref, where=where, replace_config=config.to_bytes())
    if ImageInspect.from_json(inspect).diff_ids != saved.diff_ids:
        shutil.rmtree(out, ignore_errors=True)
        raise DaemonError(f"{where}: its layers changed while it was read (did the tag move?); run again")
    return saved
