"""ko's `.ko.yaml` and `KO_*` variables, and ko's `flags`/`ldflags` templates, for the build rules.

The pure parsing, precedence and template engine live in `pants_backend_ko.koconfig`. Here the
file is read through the engine (so `--loop` watches it), and the template data that ko computes
on every build (`go env`, seven `git` commands) is computed only when a template uses it, as
Processes whose results are inputs of the build's cache key.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pants.base.build_root import BuildRoot
from pants.core.util_rules.system_binaries import BinaryPathRequest, BinaryPaths, BinaryPathTest
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import EMPTY_DIGEST, DigestContents, PathGlobs, Snapshot
from pants.engine.process import FallibleProcessResult, Process, ProcessCacheScope
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.logging import LogLevel

from pants_backend_ko.errors import KoError, located
from pants_backend_ko.koconfig.config import (
    KO_ENV_VARS,
    KoConfig,
    apply_env_overrides,
    epoch_from_env,
    find_ko_config_path,
    ko_config_candidate_paths,
    load_ko_config,
)
from pants_backend_ko.koconfig.gitinfo import FLAGS_TEMPLATES, GIT_COMMANDS, GitInfo, git_argv, git_info_from_results
from pants_backend_ko.koconfig.templates import (
    parse_go_env,
    render_templates,
    template_data,
    template_keys_used,
    template_needs,
)
from pants_backend_ko.oci.platform import Platform
from pants_backend_ko.util_rules.go_build import GoEnvRequest, GoProcess, GoProcessEnv, GoToolchain, go_process


@dataclass(frozen=True)
class LoadedKoConfig:
    """The repository's `.ko.yaml` (or an empty one) with the `KO_*` overrides applied."""

    config: KoConfig


@rule(desc="Read .ko.yaml", level=LogLevel.DEBUG)
async def load_ko_yaml() -> LoadedKoConfig:
    env = await Get(EnvironmentVars, EnvironmentVarsRequest(KO_ENV_VARS))
    snapshot = await Get(Snapshot, PathGlobs(ko_config_candidate_paths(env)))
    path = find_ko_config_path(snapshot.files, env)
    if path is None:
        return LoadedKoConfig(apply_env_overrides(KoConfig(path=""), env))
    contents = await Get(DigestContents, PathGlobs([path]))
    try:
        text = contents[0].content.decode("utf-8")
    except UnicodeDecodeError as e:
        raise KoError(f"{path}: not UTF-8 text (byte {e.start}); save it as UTF-8.") from None
    return LoadedKoConfig(apply_env_overrides(load_ko_config(text, path), env))


@dataclass(frozen=True)
class RenderBuildFlagsRequest:
    flags: tuple[str, ...]
    ldflags: tuple[str, ...]
    build_env: tuple[str, ...]  # `NAME=VALUE` from .ko.yaml's env
    platform: Platform
    owner: str


@dataclass(frozen=True)
class RenderedBuildFlags:
    flags: tuple[str, ...]
    ldflags: tuple[str, ...]


async def _go_env(request: RenderBuildFlagsRequest, go: GoToolchain) -> dict[str, str]:
    env = await Get(GoProcessEnv, GoEnvRequest(request.platform, build_env=request.build_env))
    result = await Get(
        FallibleProcessResult,
        GoProcess(
            go_process(
                go,
                ("env",),
                module=None,
                env=env,
                input_digest=EMPTY_DIGEST,
                description=f"go env ({request.platform}) for {request.owner}'s templates",
            )
        ),
    )
    if result.exit_code != 0:
        raise KoError(f"{request.owner}: `go env` failed: {result.stderr.decode(errors='replace').strip()}")
    return parse_go_env(result.stdout.decode("utf-8", "replace"))


@dataclass(frozen=True)
class GitRequest:
    """ko's git data of the checkout Pants runs in (one set of `git` runs per run)."""


@dataclass(frozen=True)
class GitResults:
    """What ko's `git` commands answered in the build root (`GIT_COMMANDS`), and origin's URL;
    `info` turns them into ko's data, or an error naming who needed it."""

    root: str
    results: tuple[tuple[str, int, bytes, bytes], ...]  # (name, exit code, stdout, stderr); empty: no git
    remote: str = ""  # `git config --get remote.origin.url`, "" when none

    def info(self, owner: str, used_by: tuple[str, str] = FLAGS_TEMPLATES) -> GitInfo:
        if not self.results:
            raise KoError(
                f"{used_by[0]} uses {used_by[1]}, but `git` is not installed",
                where=owner,
                fix=f"install git or remove {used_by[1]}",
            )
        by_name = {name: (code, out, err) for name, code, out, err in self.results}
        try:
            return git_info_from_results(self.root, by_name, used_by)
        except KoError as e:
            raise located(e, owner) from None


@rule(desc="Read the git checkout", level=LogLevel.DEBUG)
async def git_results(_: GitRequest, buildroot: BuildRoot) -> GitResults:
    paths = await Get(
        BinaryPaths,
        BinaryPathRequest(
            binary_name="git", search_path=("/usr/bin", "/bin", "/usr/local/bin"), test=BinaryPathTest(["--version"])
        ),
    )
    if paths.first_path is None:
        return GitResults(buildroot.path, ())
    git = paths.first_path.path
    commands = (*GIT_COMMANDS, ("remote", ("config", "--get", "remote.origin.url")))
    # The work tree is outside any sandbox: ask once per run (the answer changes with each commit).
    results = await MultiGet(
        Get(
            FallibleProcessResult,
            Process(
                argv=(git, "-C", buildroot.path, *git_argv(args)[1:]),
                description=f"git {' '.join(args)}",
                cache_scope=ProcessCacheScope.PER_SESSION,
                level=LogLevel.DEBUG,
            ),
        )
        for _, args in commands
    )
    answers = tuple((name, r.exit_code, r.stdout, r.stderr) for (name, _), r in zip(commands, results))
    remote = answers[-1]
    return GitResults(
        buildroot.path, answers[:-1], remote[2].decode(errors="replace").strip() if remote[1] == 0 else ""
    )


@rule(desc="Render ko build templates", level=LogLevel.DEBUG)
async def render_build_flags(request: RenderBuildFlagsRequest, go: GoToolchain) -> RenderedBuildFlags:
    templates = (*request.flags, *request.ldflags)
    if not any("{{" in t for t in templates):
        return RenderedBuildFlags(request.flags, request.ldflags)
    where = f"{request.owner}"
    needs = template_needs(templates, where)
    env_names = template_keys_used(templates, "Env", where) or frozenset()
    user_env = await Get(EnvironmentVars, EnvironmentVarsRequest(sorted(env_names)))
    build_env = [
        *(f"{k}={v}" for k, v in sorted(user_env.items())),
        *(f"{k}={v}" for k, v in request.platform.go_env().items()),
        *request.build_env,
    ]
    go_env = await _go_env(request, go) if "GoEnv" in needs else None
    git = None
    if "Git" in needs:
        git = (await Get(GitResults, GitRequest())).info(request.owner).template_value()
    date = None
    if "Date" in needs:
        epoch = await Get(EnvironmentVars, EnvironmentVarsRequest(["SOURCE_DATE_EPOCH"]))
        date = epoch_from_env(epoch, "SOURCE_DATE_EPOCH")
        if date is None:
            date = int(time.time())
    data = template_data(build_env, go_env, git, date)
    return RenderedBuildFlags(
        render_templates(request.flags, data, f"{where} flags"),
        render_templates(request.ldflags, data, f"{where} ldflags"),
    )


def rules():
    return collect_rules()
