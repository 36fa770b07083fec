"""The tool as the rules run it: `python -m pants_backend_ko.tool <verb>` (`tool/main.py`).

Its sources and its command are made here and nowhere else:

* `KoToolSources` is exactly the modules the tool runs (`tool_source_files`:
  `pants_backend_ko/{__init__,codec,errors}.py`, `golang/`, `k8s/`, `oci/`, `tool/`, the
  messages of `sign/`, tests left out), under `__ko_tool/`.
  `tool/shipped_test.py` runs that tree alone, so it cannot import anything it lacks.
* `KoToolRequest` -> `Process` (`ko_tool_process`) is the one place that builds a sandboxed run:
  argv, environment, the sources in the input digest. Cached runs (the base fetch, the
  ko_manifests scan and render) carry the sources, so their cache key holds the code they run
  and no path of this checkout: a fresh clone elsewhere gets remote-cache hits, an upgrade
  re-runs them. The tool's interpreter is the one that runs Pants, which has PyYAML (a Pants
  requirement, with libyaml) for `k8s/`. A run that is never cached
  beyond the session (the registry check) uses the plugin where Pants loaded it instead, with
  nothing to materialize.
* Pushes, loads into the Docker daemon (ko.local) and deploys have side effects, so they are
  never cached or sandboxed: they run on this machine, as `InteractiveProcess`es or `pants run`
  requests, with `KoTool.local_argv` and `KoTool.local_env` (the plugin where Pants loaded it,
  and `DOCKER_HOST` & co.). So do the runs that read the daemon (the publish check, a
  `ko.local/...` base): once per run, never cached beyond it.

The tool always runs on this machine, whatever environment the rule asking for it runs in and
whatever `--remote-execution` says: `Get(FallibleProcessResult, KoToolRequest(...))` is answered
by `run_ko_tool`, which runs the Process in the local environment (`KoEnvironments.local`), and
the credential set-up it reads (`REGISTRY_ENV_VARS`) is read here too. It reads your registry
credentials (Docker's config.json, credential helpers), which must never reach a remote worker,
the CAS or an action cache; and Pants 2.17 cannot give a worker a Python interpreter without
GitHub (its Python Build Standalone download), so a PEX would not run there either. Only the
`go` Processes run remotely (`go_build.py`). `{chroot}` in `PYTHONPATH` is therefore fine: local
Processes expand it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.environment import EnvironmentName
from pants.engine.fs import EMPTY_DIGEST, CreateDigest, Digest, FileContent, MergeDigests
from pants.engine.process import FallibleProcessResult, Process, ProcessCacheScope
from pants.engine.rules import Get, collect_rules, rule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

import pants_backend_ko
from pants_backend_ko.util_rules.environments import REMOTE_CACHE_SPECULATION_DELAY_MS, KoEnvironments

TOOL_MODULE = "pants_backend_ko.tool"
SOURCES_DIR = "__ko_tool"

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
# Where the Docker daemon is (ko.local), as the docker CLI reads it (`oci/daemon/host.py`). Only
# runs that reach the daemon get them, so they are in no cached Process's key.
DAEMON_ENV_VARS = ("DOCKER_HOST", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY")

_PACKAGE = Path(pants_backend_ko.__file__).resolve().parent
# The folder that holds `pants_backend_ko` where Pants loaded it (local runs import it from there).
PLUGIN_PYTHONPATH = str(_PACKAGE.parent)
# The shipped tree, relative to the package: everything the tool imports, nothing else.
# From sign/, only the crypto-free messages (what the tool's messages import): signing itself needs
# cryptography and PyNaCl, and runs only on this machine (publish, run; see tool/main.py).
SHIPPED_MODULES = (
    "__init__.py",
    "codec.py",
    "errors.py",
    "sign/__init__.py",
    "sign/options.py",
    "sign/provenance.py",
)
SHIPPED_PACKAGES = ("golang", "k8s", "oci", "tool")  # golang: the Go behaviours the image model uses


def tool_source_files() -> tuple[tuple[str, bytes], ...]:
    """The tool's modules as (path under `pants_backend_ko/`, bytes), tests left out."""
    paths = [_PACKAGE / name for name in SHIPPED_MODULES]
    for package in SHIPPED_PACKAGES:
        paths.extend(sorted((_PACKAGE / package).rglob("*.py")))
    return tuple(
        (path.relative_to(_PACKAGE).as_posix(), path.read_bytes())
        for path in paths
        if not path.name.endswith("_test.py")
    )


@dataclass(frozen=True)
class KoToolSources:
    digest: Digest  # SOURCES_DIR/pants_backend_ko/...


@rule(desc="Gather the ko tool's sources", level=LogLevel.DEBUG)
async def ko_tool_sources() -> KoToolSources:
    files = (FileContent(f"{SOURCES_DIR}/pants_backend_ko/{path}", data) for path, data in tool_source_files())
    return KoToolSources(await Get(Digest, CreateDigest(files)))


@dataclass(frozen=True)
class KoTool:
    """The tool's environment: the user's credential set-up, and our sources."""

    env: FrozenDict[str, str]  # REGISTRY_ENV_VARS that are set, no PYTHONPATH
    sources: Digest
    daemon_env: FrozenDict[str, str] = FrozenDict()  # DAEMON_ENV_VARS that are set

    @property
    def python(self) -> str:
        return sys.executable  # Pants' own interpreter: it has `requests`

    def local_argv(self, verb: str, *args: str) -> tuple[str, ...]:
        """The command of a run on this machine (a push, a deploy)."""
        return (self.python, "-m", TOOL_MODULE, verb, *args)

    @property
    def local_env(self) -> dict[str, str]:
        """For runs on this machine, never cached: they may load into the Docker daemon too."""
        return {**self.env, **self.daemon_env, "PYTHONPATH": PLUGIN_PYTHONPATH}


@rule(desc="Read the registry credential environment", level=LogLevel.DEBUG)
async def ko_tool(sources: KoToolSources, envs: KoEnvironments) -> KoTool:
    # Your credential and daemon set-up, from this machine's environment (where the tool runs).
    user_env = await Get(
        EnvironmentVars,
        {
            EnvironmentVarsRequest((*REGISTRY_ENV_VARS, *DAEMON_ENV_VARS)): EnvironmentVarsRequest,
            envs.local: EnvironmentName,
        },
    )
    env = {k: v for k, v in user_env.items() if v and k in REGISTRY_ENV_VARS}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    daemon_env = {k: v for k, v in user_env.items() if v and k in DAEMON_ENV_VARS}
    return KoTool(FrozenDict(env), sources.digest, FrozenDict(daemon_env))


@dataclass(frozen=True)
class KoToolRequest:
    """One sandboxed run of a verb: `Get(FallibleProcessResult, KoToolRequest(...))` runs it on this
    machine (`run_ko_tool`); `Get(Process, KoToolRequest(...))` is the Process alone."""

    verb: str
    args: tuple[str, ...]
    description: str
    input_digest: Digest = EMPTY_DIGEST
    request_file: FileContent | None = None  # the verb's request message, added to the input
    output_directories: tuple[str, ...] = ()
    append_only_caches: FrozenDict[str, str] = FrozenDict()
    cache_scope: ProcessCacheScope = ProcessCacheScope.SUCCESSFUL
    # False for runs never cached beyond the session: the plugin where Pants loaded it, nothing shipped.
    ship_sources: bool = True


@rule(desc="Prepare a ko tool process", level=LogLevel.DEBUG)
async def ko_tool_process(request: KoToolRequest, tool: KoTool) -> Process:
    parts = [request.input_digest]
    if request.request_file is not None:
        parts.append(await Get(Digest, CreateDigest([request.request_file])))
    if request.ship_sources:
        parts.append(tool.sources)
        env = {**tool.env, "PYTHONPATH": "{chroot}/" + SOURCES_DIR}
    else:
        env = tool.local_env
    input_digest = await Get(Digest, MergeDigests(parts))
    return Process(
        argv=(tool.python, "-m", TOOL_MODULE, request.verb, *request.args),
        description=request.description,
        env=env,
        input_digest=input_digest,
        output_directories=request.output_directories,
        append_only_caches=request.append_only_caches,
        cache_scope=request.cache_scope,
        # A cached run served by the remote cache must not race (and lose to) a local run.
        remote_cache_speculation_delay_millis=REMOTE_CACHE_SPECULATION_DELAY_MS,
        level=LogLevel.DEBUG,
    )


@rule(desc="Run a ko tool process", level=LogLevel.DEBUG)
async def run_ko_tool(request: KoToolRequest, envs: KoEnvironments) -> FallibleProcessResult:
    process = await Get(Process, KoToolRequest, request)
    # Here, never on a remote worker: the tool reads your registry credentials.
    return await Get(FallibleProcessResult, {process: Process, envs.local: EnvironmentName})


def rules():
    return collect_rules()
