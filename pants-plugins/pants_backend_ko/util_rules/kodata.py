"""An image's kodata: the files of its `kodata` folder, by digest (their bytes never enter Pants'
Python), and a check that nothing ko would put into the layer is missing from Pants' view.

Files come from the image's dependencies (its `ko_kodata` target, or whichever targets own
them); folders, empty ones included, from the folder itself, as ko's `filepath.Walk` sees them
(ko's `tarKoData`, `pkg/build/gobuild.go`).

Pants' file system leaves out, without a word, what it cannot or will not represent: FIFOs,
sockets and devices, names that are not UTF-8, and whatever `[GLOBAL].pants_ignore` or
`.gitignore` ignores (by default every hidden folder, e.g. `.well-known/`). ko would put the
ignored files and odd names into the image and hangs on a FIFO; an image silently without them
is worse than either. So the folder on disk is compared with Pants' view, and the first entry
Pants cannot see is one line naming it, the image and the fix.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from pants.base.build_root import BuildRoot
from pants.engine.addresses import Address
from pants.engine.fs import Digest, DigestSubset, PathGlobs, RemovePrefix, Snapshot
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.logging import LogLevel

from pants_backend_ko.errors import KoError
from pants_backend_ko.util_rules.go_build import DependencySources, DependencySourcesRequest


@dataclass(frozen=True)
class KodataRequest:
    address: Address  # the ko_image
    kodata_dir: str  # repository folder ("" for the root)


@dataclass(frozen=True)
class KodataContents:
    """The kodata files of an image, by digest: their contents never enter Pants' Python."""

    files: tuple[str, ...]  # relative to the kodata folder
    dirs: tuple[str, ...]  # every folder below it, empty ones too
    digest: Digest  # the files (modes kept), relative to the kodata folder


_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def unseen_entry(folder: Path, seen_files: set[str], seen_dirs: set[str]) -> tuple[str, str, str] | None:
    """The first entry below `folder` (on disk) that Pants' view lacks, what is wrong with it and
    what to do; None when Pants sees everything.

    `seen_files`/`seen_dirs` are Pants' view, relative to `folder`. Symlinks are followed, as
    ko's walk follows them; a broken one is reported too."""
    if not folder.is_dir():
        return None
    for top, dirnames, filenames in os.walk(folder):
        rel_top = os.path.relpath(top, folder)
        dirnames.sort()
        for name in dirnames + sorted(filenames):
            rel = name if rel_top == "." else f"{rel_top}/{name}"
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:
                shown = os.fsencode(rel).decode("utf-8", "backslashreplace")
                return shown, "has a name that is not UTF-8, which Pants cannot track", "rename it."
            try:
                mode = os.stat(os.path.join(top, name)).st_mode
            except OSError as e:
                return rel, f"cannot be read ({e.strerror}; a broken symlink?)", "fix or remove it."
            kind = _KINDS.get(stat.S_IFMT(mode))
            if kind is not None:
                return rel, f"is {kind}, which an image layer cannot hold (ko would hang on it)", "remove it."
            ignored = (stat.S_ISDIR(mode) and rel not in seen_dirs) or (stat.S_ISREG(mode) and rel not in seen_files)
            if ignored:
                return (
                    rel,
                    "is ignored by Pants (`[GLOBAL].pants_ignore`, which ignores hidden folders by default, or "
                    ".gitignore), so the image would lack it",
                    "un-ignore it (`pants_ignore.add = ['!/<its path>']`, or `[GLOBAL].pants_ignore_use_gitignore "
                    "= false`) or move it.",
                )
    return None


@rule(desc="Read kodata", level=LogLevel.DEBUG)
async def read_kodata(request: KodataRequest) -> KodataContents:
    kodata_dir = request.kodata_dir
    sources = await Get(DependencySources, DependencySourcesRequest((request.address,)))
    if not kodata_dir:
        # The repository root (`kodata="."` in a root BUILD file): every file of the image's
        # dependencies, as they are; the repository itself is not walked (.git, dist/, ...).
        snapshot = sources.snapshot
        return KodataContents(tuple(snapshot.files), tuple(snapshot.dirs), snapshot.digest)
    prefix = f"{kodata_dir}/"
    subset, folder = await MultiGet(
        Get(Digest, DigestSubset(sources.snapshot.digest, PathGlobs([f"{prefix}**"]))),
        Get(Snapshot, PathGlobs([f"{prefix}**"])),
    )
    files = await Get(Snapshot, RemovePrefix(subset, kodata_dir))
    dirs = tuple(d[len(prefix) :] for d in folder.dirs if d.startswith(prefix))
    unseen = unseen_entry(Path(BuildRoot().path, kodata_dir), {f[len(prefix) :] for f in folder.files}, set(dirs))
    if unseen:
        path, problem, fix = unseen
        raise KoError(f"the kodata entry {prefix}{path} {problem}", where=str(request.address), fix=fix)
    return KodataContents(tuple(files.files), dirs, files.digest)


def rules():
    return collect_rules()
