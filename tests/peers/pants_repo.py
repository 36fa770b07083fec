"""Scratch Pants repositories for integration tests: this repo's launcher, config and plugin,
plus the example Go monorepo (or other sources), in a temporary folder; and a runner."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from pants_backend_ko.testutil import missing_go_targets

REPO_ROOT = Path(__file__).resolve().parents[2]

_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*_test.py", "dist", ".pants.d", ".pids")


@dataclass(frozen=True)
class ScratchRepo:
    root: Path

    def pants(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        timeout: float = 900,
        check: bool = True,
    ) -> subprocess.CompletedProcess:
        """Runs `./pants` in the scratch repository, without pantsd and without the dynamic UI."""
        full_env = dict(os.environ)
        full_env.pop("KO_DOCKER_REPO", None)
        full_env.update(env or {})
        result = subprocess.run(
            [str(self.root / "pants"), "--no-pantsd", "--no-dynamic-ui", *args],
            cwd=self.root,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"./pants {' '.join(args)} exited {result.returncode}\n"
                f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-8000:]}"
            )
        return result

    def write(self, path: str, content: str) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)

    def image_metadata(self, output_path: str) -> dict:
        return json.loads((self.root / "dist" / f"{output_path}.ko-image.json").read_text())


def user_like_pants_toml(root: Path) -> None:
    """A Go monorepo as a ko user has it: only this backend (the benchmark measures Pants there,
    and `--changed-since` sees no Python target). This checkout also enables the Python backend
    and its linters (to build and check the plugin), whose rules cost every Pants start without
    pantsd ~4 s of rule-graph building here."""
    toml = (root / "pants.toml").read_text()
    backends = re.compile(r"^backend_packages = \[\n(?:.*\n)*?\]\n", re.MULTILINE)
    if not backends.search(toml):
        raise SystemExit("pants_repo: pants.toml has no backend_packages list as expected; update tests/peers/pants_repo.py")
    toml = backends.sub('backend_packages = ["pants_backend_ko"]\n', toml, count=1)
    # Sections of the Python backend's subsystems would be unknown scopes without it.
    kept, skip = [], False
    for line in toml.splitlines(keepends=True):
        if line.startswith("["):
            skip = line.strip() not in ("[GLOBAL]", "[anonymous-telemetry]", "[source]", "[ko]")
        if not skip:
            kept.append(line)
    # The plugin's own BUILD files need the Python backend: out of Pants' view (its code is still
    # imported through `pythonpath`), as a plugin installed from its wheel would be.
    toml = "".join(kept).replace("pants_ignore.add = [", 'pants_ignore.add = ["/pants-plugins/", ', 1)
    if '"/pants-plugins/"' not in toml:
        raise SystemExit("pants_repo: pants.toml has no pants_ignore.add list as expected; update tests/peers/pants_repo.py")
    (root / "pants.toml").write_text(toml)


def add_missing_go_targets(root: Path) -> None:
    """Append the Go targets (`ko_go_package`, `ko_go_module`, `ko_kodata`, ...) that the
    repository's Go files lack, as `pants tailor` would: a test that writes Go files, or replaces
    an example BUILD file with its own `ko_image`, still has a repository that builds."""
    files: dict[str, str] = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(("pants-plugins/", "3rdparty/", "dist/", ".")) or not path.is_file():
            continue
        files[rel] = path.read_text() if path.name.split(".")[0] == "BUILD" else ""
    for build, text in missing_go_targets(files).items():
        with open(root / build, "a") as f:
            f.write(text)


def make_scratch_repo(
    dest: Path,
    *,
    example: bool = True,
    files: Mapping[str, str] | None = None,
    pants_toml_extra: str = "",
    go_targets: bool = True,
    only_ko_backend: bool = False,
) -> ScratchRepo:
    """A Pants repository at `dest` using this checkout's launcher and plugin (with the Go
    targets its Go files need, unless `go_targets` is False: see `add_missing_go_targets`)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO_ROOT / "pants", dest / "pants")
    shutil.copytree(REPO_ROOT / "pants-plugins", dest / "pants-plugins", ignore=_IGNORE)
    (dest / "3rdparty/python").mkdir(parents=True)
    shutil.copy2(REPO_ROOT / "3rdparty/python/pants-requirements.txt", dest / "3rdparty/python/")
    (dest / "BUILD").write_text("")
    (dest / "pants.toml").write_text((REPO_ROOT / "pants.toml").read_text())
    if only_ko_backend:
        user_like_pants_toml(dest)
    with open(dest / "pants.toml", "a") as f:
        f.write("\n" + pants_toml_extra)
    if example:
        shutil.copytree(REPO_ROOT / "src", dest / "src", ignore=_IGNORE)
    repo = ScratchRepo(dest)
    for path, content in (files or {}).items():
        repo.write(path, content)
    if go_targets:
        add_missing_go_targets(dest)
    return repo


def pants_args_for_isolated_caches(cache_dir: Path) -> Sequence[str]:
    """Flags that make a run build everything itself: no process cache, fresh named caches."""
    return (
        "--no-local-cache",
        f"--named-caches-dir={cache_dir / 'named'}",
        f"--local-store-dir={cache_dir / 'store'}",
    )
