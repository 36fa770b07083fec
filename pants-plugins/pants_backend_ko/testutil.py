"""Helpers for in-process tests of the backend's rules: a RuleRunner with every rule and target
type of the backend, and writers for small Go modules.

The RuleRunner runs the real engine: real `go` Processes (the stdlib `go` found on PATH), real
digests and snapshots; nothing is mocked. Tests share one runner per module (a fixture with
`scope="module"`) because starting the engine costs about a second.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping

from pants.core.goals.package import BuiltPackage
from pants.engine.addresses import Addresses
from pants.engine.fs import Digest, DigestContents, DigestSubset, Snapshot
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.process import FallibleProcessResult, Process
from pants.engine.rules import QueryRule
from pants.engine.target import (
    DependenciesRequest,
    InferredDependencies,
    Targets,
)
from pants.testutil.rule_runner import RuleRunner

from pants_backend_ko import register
from pants_backend_ko.errors import KoError
from pants_backend_ko.goals.package import KoImagePackageFieldSet, KoManifestsPackageFieldSet
from pants_backend_ko.util_rules.go_build import (
    BuiltGoBinary,
    GoBuildRequest,
    GoListing,
    GoListRequest,
    GoModule,
    GoModuleRequest,
    GoModuleSources,
    GoToolchain,
)
from pants_backend_ko.util_rules.image import (
    BuiltKoImage,
    KoImageRequest,
    KoImageSettings,
    KoImageSettingsRequest,
)
from pants_backend_ko.util_rules.manifests import (
    InferKoManifestsDependencies,
    KoImageIndex,
    RenderedManifests,
    RenderManifestsRequest,
)
from pants_backend_ko.util_rules.naming import ImageName, ImageNameRequest

# Everything a test may ask the engine for, with the input it gives.
QUERY_RULES = (
    QueryRule(GoToolchain, ()),
    QueryRule(GoModule, (GoModuleRequest,)),
    QueryRule(GoModuleSources, (GoModule,)),
    QueryRule(GoListing, (GoListRequest,)),
    QueryRule(BuiltGoBinary, (GoBuildRequest,)),
    QueryRule(KoImageSettings, (KoImageSettingsRequest,)),
    QueryRule(ImageName, (ImageNameRequest,)),
    QueryRule(BuiltKoImage, (KoImageRequest,)),
    QueryRule(KoImageIndex, ()),
    QueryRule(InferredDependencies, (InferKoManifestsDependencies,)),
    QueryRule(RenderedManifests, (RenderManifestsRequest,)),
    QueryRule(BuiltPackage, (KoImagePackageFieldSet,)),
    QueryRule(BuiltPackage, (KoManifestsPackageFieldSet,)),
    QueryRule(Targets, (DependenciesRequest,)),
    QueryRule(Targets, (Addresses,)),
    QueryRule(DigestContents, (Digest,)),
    QueryRule(Snapshot, (Digest,)),
    QueryRule(Digest, (DigestSubset,)),
    QueryRule(FallibleProcessResult, (Process,)),
)

# `go` needs PATH to be found, HOME for nothing but politeness, GOPROXY to honour the machine's.
GO_ENV_INHERIT = frozenset({"PATH", "HOME", "GOPROXY"})


def ko_rule_runner(extra_rules: Iterable = ()) -> RuleRunner:
    """A RuleRunner with every rule and target type of the backend, and `go` on its PATH."""
    rule_runner = RuleRunner(
        rules=[*register.rules(), *QUERY_RULES, *extra_rules],
        target_types=register.target_types(),
    )
    set_ko_options(rule_runner)
    return rule_runner


def set_ko_options(rule_runner: RuleRunner, args: Iterable[str] = (), env: Mapping[str, str] | None = None) -> None:
    """Options for one test: `[ko]` defaults that need no registry (a scratch base), plus `args`.

    `set_options` replaces all earlier options, so every test states the ones it relies on.
    """
    rule_runner.set_options(
        ["--ko-default-base-image=scratch", *args],
        env=dict(env or {}),
        env_inherit=set(GO_ENV_INHERIT),
    )


def go_module_files(
    root: str,
    module_path: str,
    packages: Mapping[str, str],
    *,
    go_version: str = "1.21",
    extra_go_mod: str = "",
) -> dict[str, str]:
    """Files of a Go module at repository folder `root`: go.mod plus one `.go` file per package.

    `packages` maps a folder relative to the module root ("" for the root) to that package's
    source, written as `<folder>/main.go`.
    """
    prefix = f"{root}/" if root else ""
    files = {f"{prefix}go.mod": f"module {module_path}\n\ngo {go_version}\n{extra_go_mod}"}
    for folder, source in packages.items():
        path = os.path.join(root, folder, "main.go") if folder else os.path.join(root, "main.go")
        files[path] = source
    return files


def hello_main(message: str = "hello", imports: Iterable[str] = ()) -> str:
    """A stdlib-only `package main` that prints `message` (and imports `imports`, used or not)."""
    extra = "".join(f'\t_ "{imp}"\n' for imp in imports)
    return f'package main\n\nimport (\n\t"fmt"\n{extra})\n\nfunc main() {{ fmt.Println("{message}") }}\n'


def run_go(args: Iterable[str], cwd, timeout: float = 300) -> bytes:
    """Run the `go` on PATH outside Pants (to make fixtures), offline; its stdout, or fail loudly."""
    env = {
        **os.environ,
        "GOFLAGS": "-mod=mod",
        "GOPROXY": "off",
        "GOTOOLCHAIN": "local",
        "GOENV": "off",
        "CGO_ENABLED": "0",
    }
    result = subprocess.run(["go", *args], cwd=cwd, env=env, capture_output=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"go {' '.join(args)} failed:\n{result.stderr.decode()}"
    return result.stdout


def ko_error_message(excinfo) -> str:
    """The text of the KoError inside an ExecutionError (fails the test if there is none)."""
    error = excinfo.value
    assert isinstance(error, ExecutionError), f"expected an ExecutionError, got {error!r}"
    wrapped = [e for e in error.wrapped_exceptions if isinstance(e, KoError)]
    assert wrapped, f"expected a KoError, got {error.wrapped_exceptions!r}:\n{error}"
    return str(wrapped[0])
