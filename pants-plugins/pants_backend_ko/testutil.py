"""Helpers for in-process tests of the backend's rules: a RuleRunner with every rule and target
type of the backend, and writers for small Go modules.

The RuleRunner runs the real engine: real `go` Processes (the stdlib `go` found on PATH), real
digests and snapshots; nothing is mocked. Tests share one runner per module (a fixture with
`scope="module"`) because starting the engine costs about a second.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
from collections.abc import Iterable, Mapping

from pants.core.goals.package import BuiltPackage
from pants.core.util_rules import archive, source_files
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
from pants_backend_ko.util_rules.destinations import ImageName, ImageNameRequest
from pants_backend_ko.util_rules.go_build import (
    BuiltGoBinary,
    DependencySources,
    DependencySourcesRequest,
    GoBuildRequest,
    GoListing,
    GoListRequest,
    GoModuleSources,
    GoToolchain,
)
from pants_backend_ko.util_rules.go_module import GoModule, GoModuleRequest
from pants_backend_ko.util_rules.ko_build import (
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

# Everything a test may ask the engine for, with the input it gives.
QUERY_RULES = (
    QueryRule(GoToolchain, ()),
    QueryRule(GoModule, (GoModuleRequest,)),
    QueryRule(GoModuleSources, (GoModule,)),
    QueryRule(GoListing, (GoListRequest,)),
    QueryRule(BuiltGoBinary, (GoBuildRequest,)),
    QueryRule(DependencySources, (DependencySourcesRequest,)),
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
        # Pants' own rules the backend relies on (registered by Pants itself outside tests).
        rules=[*register.rules(), *source_files.rules(), *archive.rules(), *QUERY_RULES, *extra_rules],
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


def missing_go_targets(files: Mapping[str, str]) -> dict[str, str]:
    """The Go targets a tree of files lacks, as `pants tailor` would add them: BUILD file path ->
    text to append. `files` maps paths to contents (only names matter, and BUILD texts: a folder
    whose BUILD files already declare a target of that kind gets none).

    For test set-ups that write Go files (or replace a BUILD file) without the targets; names are
    fixed (`pkg`, `mod`, `work`, `kodata`) so they never clash with a test's own targets.
    """
    build_text: dict[str, str] = {}
    for path, content in files.items():
        if os.path.basename(path).split(".")[0] == "BUILD":
            folder = os.path.dirname(path)
            build_text[folder] = build_text.get(folder, "") + content
    wanted: dict[str, list[str]] = {}

    def want(folder: str, alias: str) -> None:
        if f"{alias}(" not in build_text.get(folder, "") and alias not in wanted.get(folder, []):
            wanted.setdefault(folder, []).append(alias)

    names = {"ko_go_package": "pkg", "ko_go_module": "mod", "ko_go_work": "work", "ko_kodata": "kodata"}
    for path in sorted(files):
        folder, name = os.path.dirname(path), os.path.basename(path)
        parts = folder.split("/") if folder else []
        if any(p in ("testdata", "vendor") or p.startswith(("_", ".")) for p in parts):
            continue
        if name == "go.mod":
            want(folder, "ko_go_module")
        elif name == "go.work":
            want(folder, "ko_go_work")
        elif name.endswith(".go") and not name.startswith(("_", ".")) and not name.startswith("BUILD"):
            want(folder, "ko_go_package")
        elif "kodata" in parts:
            want("/".join(parts[: parts.index("kodata")]), "ko_kodata")
    out = {}
    for folder, aliases in wanted.items():
        build = os.path.join(folder, "BUILD") if folder else "BUILD"
        out[build] = "".join(f'\n{alias}(name="{names[alias]}")\n' for alias in aliases)
    return out


def with_go_targets(files: Mapping[str, str]) -> dict[str, str]:
    """`files` plus the Go targets they lack, in `BUILD.ko` files (beside a test's own BUILD)."""
    out = dict(files)
    for build, text in missing_go_targets(files).items():
        out[build + ".ko"] = out.get(build + ".ko", "") + text
    return out


def go_module_files(
    root: str,
    module_path: str,
    packages: Mapping[str, str],
    *,
    go_version: str = "1.21",
    extra_go_mod: str = "",
) -> dict[str, str]:
    """Files of a Go module at repository folder `root`: go.mod plus one `.go` file per package,
    with their `ko_go_module` and `ko_go_package` targets (in `BUILD.ko` files).

    `packages` maps a folder relative to the module root ("" for the root) to that package's
    source, written as `<folder>/main.go`.
    """
    prefix = f"{root}/" if root else ""
    files = {f"{prefix}go.mod": f"module {module_path}\n\ngo {go_version}\n{extra_go_mod}"}
    for folder, source in packages.items():
        path = os.path.join(root, folder, "main.go") if folder else os.path.join(root, "main.go")
        files[path] = source
    return with_go_targets(files)


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


def tar_member(tar: tarfile.TarFile, member: str | tarfile.TarInfo) -> bytes:
    """The bytes of a regular file in `tar` (fails the test if it is anything else)."""
    file = tar.extractfile(member)
    assert file is not None, f"{member} is not a regular file of the archive"
    return file.read()


def ko_error_message(excinfo) -> str:
    """The text of the KoError inside an ExecutionError (fails the test if there is none)."""
    error = excinfo.value
    assert isinstance(error, ExecutionError), f"expected an ExecutionError, got {error!r}"
    wrapped = [e for e in error.wrapped_exceptions if isinstance(e, KoError)]
    assert wrapped, f"expected a KoError, got {error.wrapped_exceptions!r}:\n{error}"
    return str(wrapped[0])
