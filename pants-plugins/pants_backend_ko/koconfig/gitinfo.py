"""ko's `.Git` template data, computed with the same `git` commands ko runs.

Source: ko-build/ko `pkg/internal/git/{info.go,git.go}`. Every command is
`git -c log.showSignature=false <args>` run in the build directory:

| Field        | Command                                        | Notes                          |
|--------------|------------------------------------------------|--------------------------------|
| (repo check) | `rev-parse --is-inside-work-tree`              | must print `true`              |
| Branch       | `rev-parse --abbrev-ref HEAD --quiet`          | `HEAD` when detached           |
| ShortCommit  | `show --format=%h HEAD --quiet`                |                                |
| FullCommit   | `show --format=%H HEAD --quiet`                |                                |
| CommitDate   | `show --format='%ct' HEAD --quiet`             | Unix seconds; shown in UTC     |
| dirty        | `status --porcelain`                           | any output (or failure) = dirty|
| Tag          | `describe --tags --abbrev=0 HEAD`              | `v0.0.0` when it fails         |

ko only logs when the directory is not a git repository and renders zero values; here that
is an error, because the caller asks for git data only when a template uses `.Git`, and an
empty commit stamped into a binary is a bug worth hearing about.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable

from pants_backend_ko.errors import KoError
from pants_backend_ko.golang.gotime import unix_utc

DEFAULT_TAG = "v0.0.0"
GIT_TIMEOUT_SECONDS = 60.0


class GitInfoError(KoError):
    """git data could not be computed; the message says why and what to do."""


@dataclass(frozen=True)
class GitInfo:
    """ko's `git.Info`; hashable, so it can be part of a build's cache key."""

    branch: str
    tag: str
    short_commit: str
    full_commit: str
    commit_timestamp: int  # Unix seconds of HEAD's committer date
    dirty: bool

    @property
    def commit_date(self) -> str:
        """RFC 3339 in UTC, as ko's `CommitDate.UTC().Format(time.RFC3339)`."""
        return unix_utc(self.commit_timestamp)

    @property
    def tree_state(self) -> str:
        return "dirty" if self.dirty else "clean"

    def template_value(self) -> dict[str, Any]:
        """The `.Git` map, with ko's value types (str, int, bool)."""
        return {
            "Branch": self.branch,
            "Tag": self.tag,
            "ShortCommit": self.short_commit,
            "FullCommit": self.full_commit,
            "CommitDate": self.commit_date,
            "CommitTimestamp": self.commit_timestamp,
            "IsDirty": self.dirty,
            "IsClean": not self.dirty,
            "TreeState": self.tree_state,
        }


Runner = Callable[..., "subprocess.CompletedProcess[bytes]"]

# ko's git invocations, by name: `git -c log.showSignature=false <args>` in the repository.
# A caller that cannot use `git_info` (e.g. Pants rules, which run processes through the
# engine) runs these itself and hands the results to `git_info_from_results`.
GIT_COMMANDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("is_repo", ("rev-parse", "--is-inside-work-tree")),
    ("branch", ("rev-parse", "--abbrev-ref", "HEAD", "--quiet")),
    ("short_commit", ("show", "--format=%h", "HEAD", "--quiet")),
    ("full_commit", ("show", "--format=%H", "HEAD", "--quiet")),
    ("commit_date", ("show", "--format='%ct'", "HEAD", "--quiet")),
    ("status", ("status", "--porcelain")),
    ("tag", ("describe", "--tags", "--abbrev=0", "HEAD")),
)


def git_argv(args: Sequence[str]) -> tuple[str, ...]:
    """The full command line ko uses for one of `GIT_COMMANDS`."""
    return ("git", "-c", "log.showSignature=false", *args)


def git_info(repo_root: str, run: Runner = subprocess.run, timeout: float = GIT_TIMEOUT_SECONDS) -> GitInfo:
    """Compute ko's git data for the work tree at `repo_root` (`run` is `subprocess.run`-like)."""
    results: dict[str, tuple[int, bytes, bytes]] = {}
    for name, args in GIT_COMMANDS:
        try:
            done = run(
                list(git_argv(args)),
                cwd=repo_root,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError:
            raise GitInfoError(
                "a flags/ldflags template uses .Git, but `git` is not on the PATH; install git or remove .Git from the templates"
            ) from None
        except subprocess.TimeoutExpired:
            raise GitInfoError(
                f"`git {' '.join(args)}` in {repo_root} did not finish within {timeout:g}s; check the repository (locks, hooks) and retry"
            ) from None
        results[name] = (done.returncode, done.stdout, done.stderr)
        if name == "is_repo":
            _check_repo(repo_root, results)  # fail before running git six more times
    return git_info_from_results(repo_root, results)


# Who asks for git data, and what it is called there: errors say "but <who> uses <what>".
FLAGS_TEMPLATES = ("a flags/ldflags template", ".Git")


def _check_repo(
    repo_root: str, results: Mapping[str, tuple[int, Any, Any]], used_by: tuple[str, str] = FLAGS_TEMPLATES
) -> None:
    code, out, _ = results["is_repo"]
    who, what = used_by
    if code != 0 or _text(out).strip() != "true":
        raise GitInfoError(
            f"{repo_root} is not inside a git work tree, but {who} uses {what}; "
            f"run in a git checkout or remove {what} from the templates"
        )


def git_info_from_results(
    repo_root: str, results: Mapping[str, tuple[int, Any, Any]], used_by: tuple[str, str] = FLAGS_TEMPLATES
) -> GitInfo:
    """ko's interpretation of the `GIT_COMMANDS` results: name -> (exit code, stdout, stderr).
    `used_by` says in errors who needed the data (`FLAGS_TEMPLATES` by default)."""
    missing = [name for name, _ in GIT_COMMANDS if name not in results]
    if missing:
        raise ValueError(f"git results lack {', '.join(missing)}")  # a caller bug, not bad input
    _check_repo(repo_root, results, used_by)

    def first_line(name: str, what: str) -> str:
        code, out, err = results[name]
        if code != 0:
            raise GitInfoError(
                f"cannot get the {what} of the git repository at {repo_root}: {_one_line(err)}; "
                f"a template uses {used_by[1]}, so commit at least once (or remove {used_by[1]} from the templates)"
            )
        # ko's `clean`: the first line, with single quotes removed.
        return _text(out).split("\n")[0].replace("'", "")

    branch = first_line("branch", "current branch")
    short = first_line("short_commit", "current commit")
    full = first_line("full_commit", "current commit")
    stamp = first_line("commit_date", "commit date")
    try:
        timestamp = int(stamp) if stamp else 0
    except ValueError:
        raise GitInfoError(f"git printed {stamp!r} as the commit date in {repo_root}; expected Unix seconds") from None
    status_code, status_out, _ = results["status"]
    # ko: any output, or a failure, means dirty.
    dirty = status_code != 0 or bool(_text(status_out).strip())
    tag_code, tag_out, _ = results["tag"]
    tag = DEFAULT_TAG
    if tag_code == 0:
        # ko's cleanAllLines: trimmed, quote-free, non-empty lines; the first one is the tag.
        lines = [line.replace("'", "").strip() for line in _text(tag_out).split("\n")]
        lines = [line for line in lines if line]
        tag = lines[0] if lines else ""
    return GitInfo(
        branch=branch, tag=tag, short_commit=short, full_commit=full, commit_timestamp=timestamp, dirty=dirty
    )


def _text(data: Any) -> str:
    return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else str(data or "")


def _one_line(data: Any) -> str:
    return " ".join(_text(data).split()) or "no error text"
