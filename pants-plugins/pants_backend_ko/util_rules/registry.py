"""Pushing: the command line and environment of the registry client for one built image.

Pushes run only in publish, run and deploy (`InteractiveProcess`es, never cached). They run
`python -m pants_backend_ko.oci.remote push` with Pants' own interpreter, which has `requests`,
so the exact bytes `pants package` computed are what is pushed.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pants_backend_ko
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.rules import Get, collect_rules, rule
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


def rules():
    return collect_rules()
