"""Pushing: the plan and environment of the registry client for built images, and the
read-only check of which images a registry already has.

Pushes run only in publish, run and deploy (`InteractiveProcess`es, never cached). They run
`python -m pants_backend_ko.oci.remote push-plan` (or the deploy tool, same plan) with Pants' own
interpreter, which has `requests`, so the exact bytes `pants package` computed are what is pushed. The check (`... status`) only
reads, so it is a `Process`, cached for one run only: a registry changes between runs.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import CreateDigest, Digest, FileContent
from pants.engine.process import FallibleProcessResult, Process, ProcessCacheScope
from pants.engine.rules import Get, collect_rules, rule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

import pants_backend_ko
from pants_backend_ko.oci.remote.state import RegistryState, RepositoryQuery
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

# Where cached Processes find the backend's pure core (`pants_backend_ko.oci`, no Pants
# imports): shipped in their input digest, so their cache key holds the code they run and no
# path of this checkout (a fresh clone elsewhere gets remote-cache hits; an upgrade re-runs them).
CORE_DIR = "__ko_core"


def _core_files() -> tuple[tuple[str, bytes], ...]:
    package = Path(pants_backend_ko.__file__).resolve().parent
    paths = [package / "__init__.py", package / "errors.py", *sorted((package / "oci").rglob("*.py"))]
    return tuple(
        (f"{CORE_DIR}/pants_backend_ko/{path.relative_to(package).as_posix()}", path.read_bytes())
        for path in paths
        if not path.name.endswith("_test.py")
    )


@dataclass(frozen=True)
class RegistryToolEnv:
    """The environment of registry-client processes: the user's credentials setup plus our code."""

    env: FrozenDict[str, str]  # for InteractiveProcesses: our code from where Pants loaded it
    core: Digest  # CORE_DIR/pants_backend_ko/{__init__.py,oci/**}
    sandboxed_env: FrozenDict[str, str]  # for cached Processes: our code from `core`

    @property
    def python(self) -> str:
        return sys.executable


@rule(desc="Read the registry credential environment", level=LogLevel.DEBUG)
async def registry_tool_env() -> RegistryToolEnv:
    user_env = await Get(EnvironmentVars, EnvironmentVarsRequest(REGISTRY_ENV_VARS))
    env = {k: v for k, v in user_env.items() if v}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    core = await Get(Digest, CreateDigest(FileContent(path, data) for path, data in _core_files()))
    return RegistryToolEnv(
        env=FrozenDict({**env, "PYTHONPATH": PLUGIN_PYTHONPATH}),
        core=core,
        sandboxed_env=FrozenDict({**env, "PYTHONPATH": "{chroot}/" + CORE_DIR}),
    )


def push_plan(images: Sequence[BuiltKoImage], ko: KoSubsystem) -> tuple[dict, tuple[tuple[Digest, str], ...]]:
    """A plan for `python -m pants_backend_ko.oci.remote push-plan` (and the deploy tool) that
    pushes ``images`` in parallel, and where each image's layout and SBOMs go, relative to the
    plan's folder."""
    entries = []
    placements: list[tuple[Digest, str]] = []
    for i, image in enumerate(images):
        entries.append(
            {
                "layout": f"images/{i}",
                "repository": image.name.repository,
                "tags": list(image.name.tags),
                "blob_sources": [list(pair) for pair in image.base_blob_sources],
                "sboms": [[digest, f"sboms/{i}/{path}"] for digest, path in image.sbom_files],
            }
        )
        placements.extend(((image.layout, f"images/{i}"), (image.sboms, f"sboms/{i}")))
    plan = {"insecure_registries": list(ko.insecure_registries), "jobs": ko.publish_jobs, "images": entries}
    return plan, tuple(placements)


@dataclass(frozen=True)
class RegistryStatusRequest:
    """What the registries hold for these repositories and tags, asked in one process."""

    checks: tuple[RepositoryQuery, ...]
    description: str


STATUS_FILE = "ko-status.json"


@rule(desc="Check what the registry has", level=LogLevel.DEBUG)
async def registry_status(request: RegistryStatusRequest, ko: KoSubsystem, tool: RegistryToolEnv) -> RegistryState:
    if not request.checks:
        return RegistryState({}, {})
    query = {
        "sbom": ko.sbom,
        "repositories": [
            {"repository": c.repository, "tags": list(c.tags), "digests": list(c.digests)} for c in request.checks
        ],
    }
    input_digest = await Get(Digest, CreateDigest([FileContent(STATUS_FILE, json.dumps(query).encode())]))
    argv = [tool.python, "-m", "pants_backend_ko.oci.remote", "status", "--input", STATUS_FILE]
    for registry in ko.insecure_registries:
        argv.extend(["--insecure-registry", registry])
    result = await Get(
        FallibleProcessResult,
        Process(
            argv=tuple(argv),
            # Never cached beyond the run, so no need to ship our code in: nothing to materialize.
            env=dict(tool.env),
            input_digest=input_digest,
            description=f"Check the registry for {request.description}",
            level=LogLevel.DEBUG,
            # Read-only, but the registry changes between runs: never trust an older answer.
            cache_scope=ProcessCacheScope.PER_SESSION,
        ),
    )
    try:
        return RegistryState.from_json(json.loads(result.stdout) if result.exit_code == 0 else {})
    except (ValueError, TypeError, KeyError, AttributeError):
        # The check only saves work: when it fails every image is pushed, and the push
        # reports the real problem in its own one line.
        logger.debug(
            "registry check failed (exit %s): %s", result.exit_code, result.stderr.decode(errors="replace")[-500:]
        )
        return RegistryState({}, {})


def rules():
    return collect_rules()
