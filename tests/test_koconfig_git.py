"""ko's `.Git` template data from a real git repository, checked against `git` itself.

Each test creates a repository in a temporary folder (git init, commits with fixed dates, a
tag, a dirty file) and compares `git_info` with what `git` reports directly.
"""

from __future__ import annotations

import datetime
import os
import subprocess
from pathlib import Path

import pytest

from pants_backend_ko.koconfig.gitinfo import (
    DEFAULT_TAG,
    GIT_COMMANDS,
    GitInfo,
    GitInfoError,
    git_argv,
    git_info,
    git_info_from_results,
)
from pants_backend_ko.koconfig.templates import render_template, template_data

TIMEOUT = 60
FIRST_DATE = 1600000000  # 2020-09-13T12:26:40Z
SECOND_DATE = 1650000000  # 2022-04-15T05:20:00Z


def git_environ(home: Path) -> dict[str, str]:
    # An isolated HOME: the user's git config (signing, hooks, default branch) must not matter.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
    return env


def git(repo: Path, *args: str, env: dict[str, str], date: int = 0) -> str:
    run_env = dict(env)
    if date:
        run_env.update(GIT_AUTHOR_DATE=f"@{date} +0200", GIT_COMMITTER_DATE=f"@{date} +0200")
    result = subprocess.run(["git", *args], cwd=repo, env=run_env, capture_output=True, text=True, timeout=TIMEOUT, check=True)
    return result.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path):
    home = tmp_path / "home"
    home.mkdir()
    env = git_environ(home)
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "trunk", env=env)
    git(root, "config", "user.email", "dev@example.com", env=env)
    git(root, "config", "user.name", "Dev", env=env)
    git(root, "config", "commit.gpgsign", "false", env=env)
    (root / "main.go").write_text("package main\n\nfunc main() {}\n")
    git(root, "add", "main.go", env=env)
    git(root, "commit", "-q", "-m", "first", env=env, date=FIRST_DATE)
    return root, env


def info_in(root: Path, env: dict[str, str]) -> GitInfo:
    # git_info runs `git` with the process environment; give it the isolated one.
    def run(*args, **kwargs):
        return subprocess.run(*args, env=env, **kwargs)

    return git_info(str(root), run=run)


def test_untagged_clean_repository(repo) -> None:
    root, env = repo
    info = info_in(root, env)
    assert info.branch == "trunk" == git(root, "rev-parse", "--abbrev-ref", "HEAD", env=env)
    assert info.full_commit == git(root, "rev-parse", "HEAD", env=env)
    assert len(info.full_commit) == 40
    assert info.short_commit == git(root, "rev-parse", "--short", "HEAD", env=env)
    assert info.full_commit.startswith(info.short_commit)
    assert info.tag == DEFAULT_TAG == "v0.0.0"  # no tag: ko's default
    assert info.commit_timestamp == FIRST_DATE == int(git(root, "log", "-1", "--format=%ct", env=env))
    # the commit was made at +0200; ko shows it in UTC
    assert info.commit_date == "2020-09-13T12:26:40Z"
    assert git(root, "log", "-1", "--format=%cI", env=env) == "2020-09-13T14:26:40+02:00"
    assert (info.dirty, info.tree_state) == (False, "clean")
    assert git(root, "status", "--porcelain", env=env) == ""


def test_tagged_dirty_repository_and_template_values(repo) -> None:
    root, env = repo
    git(root, "tag", "v1.4.0", env=env)
    (root / "main.go").write_text("package main\n\nfunc main() { println() }\n")
    git(root, "commit", "-q", "-am", "second", env=env, date=SECOND_DATE)
    git(root, "checkout", "-q", "-b", "feature/x", env=env)
    (root / "untracked.txt").write_text("not committed\n")
    info = info_in(root, env)
    assert info.branch == "feature/x"
    # the nearest tag, even though it is not on HEAD (git describe --tags --abbrev=0)
    assert info.tag == "v1.4.0" == git(root, "describe", "--tags", "--abbrev=0", env=env)
    assert info.full_commit == git(root, "rev-parse", "HEAD", env=env)
    assert info.short_commit == git(root, "rev-parse", "--short", "HEAD", env=env)
    assert info.commit_timestamp == SECOND_DATE
    assert info.dirty is True
    assert git(root, "status", "--porcelain", env=env) == "?? untracked.txt"
    expected_date = datetime.datetime.fromtimestamp(SECOND_DATE, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert info.template_value() == {
        "Branch": "feature/x",
        "Tag": "v1.4.0",
        "ShortCommit": info.short_commit,
        "FullCommit": info.full_commit,
        "CommitDate": expected_date,
        "CommitTimestamp": SECOND_DATE,
        "IsDirty": True,
        "IsClean": False,
        "TreeState": "dirty",
    }
    data = template_data([], None, info.template_value(), None)
    rendered = render_template(
        "-X main.version={{.Git.Tag}}-{{.Git.ShortCommit}}{{if .Git.IsDirty}}-{{.Git.TreeState}}{{end}} -X main.date={{.Git.CommitDate}}",
        data,
    )
    assert rendered == f"-X main.version=v1.4.0-{info.short_commit}-dirty -X main.date={expected_date}"


def test_modified_tracked_file_is_dirty_and_commit_cleans(repo) -> None:
    root, env = repo
    (root / "main.go").write_text("package main\n// changed\nfunc main() {}\n")
    assert info_in(root, env).dirty is True
    git(root, "commit", "-q", "-am", "change", env=env, date=SECOND_DATE)
    git(root, "tag", "-a", "v2.0.0", "-m", "annotated", env=env, date=SECOND_DATE)
    info = info_in(root, env)
    assert (info.dirty, info.tag) == (False, "v2.0.0")  # annotated tags count too


def test_detached_head_reports_head_as_branch(repo) -> None:
    root, env = repo
    git(root, "checkout", "-q", "--detach", "HEAD", env=env)
    info = info_in(root, env)
    assert info.branch == "HEAD" == git(root, "rev-parse", "--abbrev-ref", "HEAD", env=env)


def test_subdirectory_of_a_repository_works(repo) -> None:
    root, env = repo
    sub = root / "cmd" / "app"
    sub.mkdir(parents=True)
    assert info_in(sub, env).full_commit == git(root, "rev-parse", "HEAD", env=env)


def test_not_a_repository_is_a_clear_error(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    plain = tmp_path / "plain"
    plain.mkdir()
    env = git_environ(home)
    env["GIT_CEILING_DIRECTORIES"] = str(tmp_path)  # never find a repository above tmp
    with pytest.raises(GitInfoError) as info:
        info_in(plain, env)
    assert str(info.value) == (
        f"{plain} is not inside a git work tree, but a flags/ldflags template uses .Git; "
        "run in a git checkout or remove .Git from the templates"
    )


def test_repository_without_commits_is_a_clear_error(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = git_environ(home)
    root = tmp_path / "empty"
    root.mkdir()
    git(root, "init", "-q", "-b", "main", env=env)
    with pytest.raises(GitInfoError) as info:
        info_in(root, env)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"cannot get the current branch of the git repository at {root}: ")
    assert message.endswith("a template uses .Git, so commit at least once (or remove .Git from the templates)")


def test_missing_git_and_timeouts_are_clear_errors(repo) -> None:
    root, env = repo

    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    with pytest.raises(GitInfoError, match=r"^a flags/ldflags template uses \.Git, but `git` is not on the PATH"):
        git_info(str(root), run=no_git)

    calls = []

    def slow(command, **kwargs):
        calls.append(kwargs["timeout"])
        # a real process that outlives the timeout
        return subprocess.run(["sleep", "5"], timeout=kwargs["timeout"])

    with pytest.raises(GitInfoError, match=r"did not finish within 0\.2s"):
        git_info(str(root), run=slow, timeout=0.2)
    assert calls == [0.2]


def test_results_gathered_elsewhere_give_the_same_info(repo) -> None:
    # How the Pants rules use it: run GIT_COMMANDS themselves (here: plain subprocess with
    # `git -C`), then interpret the results.
    root, env = repo
    git(root, "tag", "v0.9.0", env=env)
    (root / "new.go").write_text("package main\n")
    results = {}
    for name, args in GIT_COMMANDS:
        argv = list(git_argv(args))
        argv[1:1] = ["-C", str(root)]
        done = subprocess.run(argv, env=env, capture_output=True, timeout=TIMEOUT)
        results[name] = (done.returncode, done.stdout, done.stderr)
    info = git_info_from_results(str(root), results)
    assert info == info_in(root, env)
    assert (info.tag, info.dirty, info.branch) == ("v0.9.0", True, "trunk")
    with pytest.raises(ValueError, match="git results lack tag"):
        git_info_from_results(str(root), {k: v for k, v in results.items() if k != "tag"})
