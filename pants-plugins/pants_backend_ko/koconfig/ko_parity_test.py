"""Parity with the real ko: the same `.ko.yaml`, environment and git state give the same
`go build` command line and build environment.

The real `ko` v0.19.1 (built once from the Go module proxy, see tests/peers/go_reference.py)
runs against a real docker-registry holding a base image, with `KO_GO_PATH` pointing at a
recorder that passes `go env` to the real Go and, for `go build`, writes its working
directory, arguments and environment to a file and fails (the image itself is not needed).
We compute the same from `load_ko_config` + `apply_env_overrides` + `build_settings_for` +
the templates with `git_info` data, and compare.
"""

from __future__ import annotations

import shlex
import subprocess
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest
from tests.peers.go_reference import go_env, ko_binary
from tests.peers.image_tools import write_tree
from tests.peers.registry import RegistryPeer, skopeo

from pants_backend_ko.koconfig.config import apply_env_overrides, build_settings_for, load_ko_config
from pants_backend_ko.koconfig.gitinfo import git_info
from pants_backend_ko.koconfig.templates import parse_go_env, render_templates, template_data, template_needs
from pants_backend_ko.oci.base import BaseImage
from pants_backend_ko.oci.image import build_image
from pants_backend_ko.oci.layout import layout_files
from pants_backend_ko.oci.platform import Platform

pytestmark = pytest.mark.peers

AMD64 = Platform.parse("linux/amd64")
SOURCE_DATE_EPOCH = 1700000000
TIMEOUT = 600

KO_YAML = """\
defaultBaseImage: {base}:latest
baseImageOverrides:
  Example.com/App/cmd/Other: {base}:other
defaultEnv: [DEFAULTED=yes]
defaultFlags: [-tags, fromdefault]
defaultLdflags:
  - -X main.date={{{{.Date}}}} -X main.ts={{{{.Timestamp}}}}
builds:
  - id: server
    main: ./cmd/server
    env: [FOO=bar, CGO_ENABLED=0]
    flags: -v -tags=netgo
    ldflags:
      - -s -w
      - -X main.version={{{{.Env.VERSION}}}}-{{{{.Git.Tag}}}}{{{{if .Git.IsDirty}}}}-dirty{{{{end}}}}
      - -X main.commit={{{{.Git.FullCommit}}}} -X main.short={{{{.Git.ShortCommit}}}}
      - -X main.branch={{{{.Git.Branch}}}} -X main.cd={{{{.Git.CommitDate}}}} -X main.ct={{{{.Git.CommitTimestamp}}}}
      - -X main.state={{{{.Git.TreeState}}}}/{{{{.Git.IsClean}}}} -X main.arch={{{{.GoEnv.GOARCH}}}} {{{{ .Env.LDFLAGS }}}}
  - id: tool-in-cmd
    dir: cmd
    main: tool/main.go
"""


def recorder(path: Path, record: Path) -> Path:
    go = subprocess.run(
        ["sh", "-c", "command -v go"], capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()
    path.write_text(
        textwrap.dedent(
            f"""\
            #!/bin/sh
            if [ "$1" = build ]; then
              {{ pwd; for a in "$@"; do printf 'ARG %s\\n' "$a"; done; env | sed 's/^/ENV /'; }} > {shlex.quote(str(record))}
              echo "recorded" >&2
              exit 3
            fi
            exec {shlex.quote(go)} "$@"
            """
        )
    )
    path.chmod(0o755)
    return path


def read_record(record: Path) -> tuple[str, list[str], dict[str, str]]:
    lines = record.read_text().split("\n")
    args = [line[4:] for line in lines if line.startswith("ARG ")]
    env = dict(line[4:].split("=", 1) for line in lines if line.startswith("ENV ") and "=" in line)
    return lines[0], args, env


@pytest.fixture(scope="module")
def base_repo(tmp_path_factory):
    work = tmp_path_factory.mktemp("koconfig-parity")
    peer = RegistryPeer(str(work / "registry")).start()
    try:
        base = build_image(
            BaseImage.scratch(AMD64), platform=AMD64, import_path="example.com/base", binaries=[("base", b"base")]
        )
        layout = write_tree(work / "base", layout_files(base, [base], {}, "latest"))
        repo = f"{peer.host}/base"
        for tag in ("latest", "other", "env"):
            skopeo(
                "copy",
                "--preserve-digests",
                "--dest-tls-verify=false",
                f"oci:{layout}:latest",
                f"docker://{repo}:{tag}",
            )
        yield repo
    finally:
        peer.stop()


def git(repo: Path, *args: str, env: dict[str, str]) -> None:
    subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, timeout=60, check=True)


def make_repo(root: Path, base: str, env: dict[str, str]) -> None:
    for rel in ("cmd/server/main.go", "cmd/tool/main.go", "cmd/other/main.go"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("package main\n\nfunc main() {}\n")
    (root / "go.mod").write_text("module example.com/app\n\ngo 1.22\n")
    (root / ".ko.yaml").write_text(KO_YAML.format(base=base))
    git(root, "init", "-q", "-b", "release", env=env)
    git(root, "add", ".", env=env)
    git(root, "-c", "user.name=Dev", "-c", "user.email=d@example.com", "commit", "-q", "-m", "one", env=env)
    git(root, "tag", "v3.1.0", env=env)
    (root / "scratch.txt").write_text("dirty\n")


def run_ko(root: Path, target: str, env: dict[str, str], record: Path) -> tuple[str, list[str], dict[str, str], str]:
    if record.exists():
        record.unlink()
    result = subprocess.run(
        [str(ko_binary()), "build", "--sbom=none", "--insecure-registry", "--platform=linux/amd64", target],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode != 0 and "recorded" in result.stderr, result.stderr[-3000:]
    return (*read_record(record), result.stderr)


def ours(
    root: Path, package_dir: str, import_path: str, environ: dict[str, str]
) -> tuple[str | None, list[str], Sequence[str], str]:
    """The working dir, go build arguments (before -o) and the build env entries, our way."""
    config = apply_env_overrides(load_ko_config((root / ".ko.yaml").read_text(), ".ko.yaml"), environ)
    settings = build_settings_for(config, import_path, package_dir)
    flags = settings.flags or ()
    ldflags = settings.ldflags or ()
    platform_env = ["CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64"]
    build_env = platform_env + [f"{k}={v}" for k, v in environ.items()] + list(settings.env or ())
    needs = template_needs(list(flags) + list(ldflags))
    go_env_data = None
    if "GoEnv" in needs:
        out = subprocess.run(["go", "env"], env=environ, capture_output=True, text=True, timeout=120, check=True).stdout
        go_env_data = parse_go_env(out)
    git_data = git_info(str(root)).template_value() if "Git" in needs else None
    data = template_data(build_env, go_env_data, git_data, SOURCE_DATE_EPOCH if "Date" in needs else None)
    args = ["build", *render_templates(flags, data), "-trimpath"]
    if ldflags:
        args.append("-ldflags=" + " ".join(render_templates(ldflags, data)))
    return settings.dir, args, settings.env or (), settings.base_image or ""


def test_go_build_command_matches_real_ko(base_repo: str, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    environ = go_env(offline=True)
    environ.update(
        HOME=str(tmp_path),
        TZ="UTC",
        SOURCE_DATE_EPOCH=str(SOURCE_DATE_EPOCH),
        VERSION="1.2.3",
        KO_DOCKER_REPO=f"{base_repo.split('/')[0]}/out",
        KOCACHE="",
        GIT_CONFIG_NOSYSTEM="1",
    )
    for name in ("DOCKER_CONFIG", "GOOS", "GOARCH", "GOARM", "KO_CONFIG_PATH", "KO_DEFAULTBASEIMAGE"):
        environ.pop(name, None)
    make_repo(root, base_repo, environ)
    record = tmp_path / "record.txt"
    environ["KO_GO_PATH"] = str(recorder(tmp_path / "go-recorder", record))

    cases = [
        # (ko's argument, package folder, extra environment, expected base tag)
        ("./cmd/server", "cmd/server", {}, "latest"),
        ("./cmd/tool", "cmd/tool", {}, "latest"),
        ("./cmd/other", "cmd/other", {}, "other"),  # baseImageOverrides, key matched lower-cased
        # KO_* overrides win over the file's defaults (and builds[] entries still win over them)
        (
            "./cmd/tool",
            "cmd/tool",
            {
                "KO_DEFAULTFLAGS": "-tags envflag -v",
                "KO_DEFAULTLDFLAGS": "-w -X main.d={{.Date}}",
                "KO_DEFAULTENV": "E1=1 E2=2",
            },
            "latest",
        ),
        (
            "./cmd/server",
            "cmd/server",
            {"KO_DEFAULTFLAGS": "-tags envflag", "KO_DEFAULTENV": "E1=1", "KO_DEFAULTBASEIMAGE": base_repo + ":env"},
            "env",
        ),
        ("./cmd/other", "cmd/other", {"KO_DEFAULTBASEIMAGE": base_repo + ":env"}, "other"),
    ]
    for target, package_dir, extra, base_tag in cases:
        run_env = dict(environ, **extra)
        ko_dir, ko_args, ko_env, ko_log = run_ko(root, target, run_env, record)
        import_path = "example.com/app/" + package_dir
        our_dir, our_args, our_env, our_base = ours(
            root, package_dir, import_path, {k: v for k, v in run_env.items() if k != "KO_GO_PATH"}
        )
        if our_dir is None:
            # No builds[] entry: ko picks the builder for a local path by iterating a Go map
            # (gobuilds.go `builder`), so its go build runs in the root or in the dir of any
            # entry that contains the package, at random. We always use the root.
            assert Path(ko_dir) in (root, root / "cmd"), target
        else:
            assert Path(ko_dir) == (root / our_dir).resolve(), target
        out_at = ko_args.index("-o")
        assert ko_args[:out_at] == our_args, (target, extra)
        assert ko_args[out_at + 2 :] == [import_path]
        assert our_base == f"{base_repo}:{base_tag}", (target, extra)
        # ko logs `Using base <ref>@<digest> for <import path>`
        assert f"Using base {our_base}@sha256:" in ko_log and f" for {import_path}" in ko_log, (
            target,
            extra,
            ko_log[-2000:],
        )
        for entry in our_env:  # builds[].env / defaultEnv reach go build, last wins
            name, value = entry.split("=", 1)
            assert ko_env.get(name) == value, (target, entry)
    # the run above really rendered git data: tag, dirty state and branch
    _, server_args, _, _ = run_ko(root, "./cmd/server", environ, record)
    ldflags = server_args[[a.startswith("-ldflags=") for a in server_args].index(True)]
    assert "-X main.version=1.2.3-v3.1.0-dirty" in ldflags and "-X main.branch=release" in ldflags
