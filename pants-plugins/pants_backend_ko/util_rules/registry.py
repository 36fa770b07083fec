"""Pushing: the command line and environment of the registry client for built images, and
the read-only check of which images a registry already has.

Pushes run only in publish, run and deploy (`InteractiveProcess`es, never cached). They run
`python -m pants_backend_ko.oci.remote push` with Pants' own interpreter, which has `requests`,
so the exact bytes `pants package` computed are what is pushed. The check (`... status`) only
reads, so it is a `Process`, cached for one run only: a registry changes between runs.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pants_backend_ko
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import AddPrefix, CreateDigest, Digest, FileContent, MergeDigests
from pants.engine.process import FallibleProcessResult, Process, ProcessCacheScope
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from pants_backend_ko.subsystems import KoSubsystem

if TYPE_CHECKING:
    from pants_backend_ko.util_rules.image import BuiltKoImage

# Where credentials and trust come from, as every container tool reads them.
REGISTRY_ENV_VARS = (
    "HOME",
    "PATH",  # docker-credential-* helpers
    "DOCKER_CONFIG",
    "REGISTRY_AUTH_FILE",
    "XDG_RUNTIME_DIR",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "NO_PROXY",
    "HTTPS_PROXY",
    "HTTP_PROXY",
)

logger = logging.getLogger(__name__)

PLUGIN_PYTHONPATH = str(Path(pants_backend_ko.__file__).resolve().parent.parent)


@dataclass(frozen=True)
class RegistryToolEnv:
    """The environment of registry-client processes: the user's credentials setup plus our code."""

    env: FrozenDict[str, str]

    @property
    def python(self) -> str:
        return sys.executable


@rule(desc="Read the registry credential environment", level=LogLevel.DEBUG)
async def registry_tool_env() -> RegistryToolEnv:
    user_env = await Get(EnvironmentVars, EnvironmentVarsRequest(REGISTRY_ENV_VARS))
    env = {k: v for k, v in user_env.items() if v}
    env["PYTHONPATH"] = PLUGIN_PYTHONPATH
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return RegistryToolEnv(FrozenDict(env))


def push_argv(
    tool: RegistryToolEnv, ko: KoSubsystem, image: BuiltKoImage, layout_dir: str, repository: str
) -> tuple[str, ...]:
    argv = [
        tool.python, "-m", "pants_backend_ko.oci.remote", "push",
        "--layout", layout_dir,
        "--repository", repository,
        "--jobs", str(ko.publish_jobs),
    ]
    for tag in image.name.tags:
        argv.extend(["--tag", tag])
    for registry in ko.insecure_registries:
        argv.extend(["--insecure-registry", registry])
    for digest, source in image.base_blob_sources:
        argv.extend(["--blob-source", f"{digest}={source}"])
    for digest, path in image.sbom_files:
        argv.extend(["--sbom", f"{digest}={path}"])
    return tuple(argv)


@dataclass(frozen=True)
class RegistryStatusRequest:
    """Which of these images (each with a repository) are published, checked in one process."""

    images: tuple[BuiltKoImage, ...]


@dataclass(frozen=True)
class RegistryStatus:
    # "repository@digest" -> what the registry still lacks ("" when published)
    missing: FrozenDict[str, str]

    def is_published(self, image: BuiltKoImage) -> bool:
        return self.missing.get(f"{image.name.repository}@{image.digest}") == ""


STATUS_DIR = "ko-status"


@rule(desc="Check which images the registry has", level=LogLevel.DEBUG)
async def registry_status(
    request: RegistryStatusRequest, ko: KoSubsystem, tool: RegistryToolEnv
) -> RegistryStatus:
    images = request.images
    if not images:
        return RegistryStatus(FrozenDict())
    entries = [
        {
            "repository": image.name.repository,
            "digest": image.digest,
            "tags": list(image.name.tags),
            "sboms": [[digest, f"sboms/{i}/{path}"] for digest, path in image.sbom_files],
        }
        for i, image in enumerate(images)
    ]
    parts = await MultiGet(
        Get(Digest, CreateDigest([FileContent(f"{STATUS_DIR}/images.json", json.dumps({"images": entries}).encode())])),
        *(Get(Digest, AddPrefix(image.sboms, f"{STATUS_DIR}/sboms/{i}")) for i, image in enumerate(images)),
    )
    input_digest = await Get(Digest, MergeDigests(parts))
    argv = [tool.python, "-m", "pants_backend_ko.oci.remote", "status", "--input", f"{STATUS_DIR}/images.json"]
    for registry in ko.insecure_registries:
        argv.extend(["--insecure-registry", registry])
    addresses = sorted(str(image.settings.address) for image in images)
    what = addresses[0] if len(addresses) == 1 else f"{len(addresses)} ko_images"
    result = await Get(
        FallibleProcessResult,
        Process(
            argv=tuple(argv),
            env=dict(tool.env),
            input_digest=input_digest,
            description=f"Check the registry for {what}",
            level=LogLevel.DEBUG,
            # Read-only, but the registry changes between runs: never trust an older answer.
            cache_scope=ProcessCacheScope.PER_SESSION,
        ),
    )
    keys = [f"{image.name.repository}@{image.digest}" for image in images]
    try:
        statuses = json.loads(result.stdout) if result.exit_code == 0 else None
    except ValueError:
        statuses = None
    if not isinstance(statuses, list) or len(statuses) != len(keys):
        # The check is an optimisation: on any failure every image is pushed, and the push
        # reports the real problem in its own one line.
        logger.debug("registry check failed (exit %s): %s", result.exit_code, result.stderr.decode(errors="replace")[-500:])
        return RegistryStatus(FrozenDict({key: "unknown" for key in keys}))
    return RegistryStatus(
        FrozenDict(
            {key: "" if status.get("published") else str(status.get("missing") or "unknown") for key, status in zip(keys, statuses)}
        )
    )


def rules():
    return collect_rules()
