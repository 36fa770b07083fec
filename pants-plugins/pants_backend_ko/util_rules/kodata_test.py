"""What Pants cannot see in a kodata folder is named, with real files on disk."""

from __future__ import annotations

import os
from pathlib import Path

from pants_backend_ko.util_rules.kodata import unseen_entry


def tree(root: Path) -> tuple[set[str], set[str]]:
    """Everything under `root` as Pants would see it if it ignored nothing."""
    files, dirs = set(), set()
    for top, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(top, root)
        for name in dirnames:
            dirs.add(name if rel == "." else f"{rel}/{name}")
        for name in filenames:
            files.add(name if rel == "." else f"{rel}/{name}")
    return files, dirs


def test_everything_seen_is_fine(tmp_path: Path) -> None:
    (tmp_path / "static/empty").mkdir(parents=True)
    (tmp_path / "static/app.css").write_text("body{}")
    (tmp_path / "index.html").write_text("<h1>")
    os.symlink("index.html", tmp_path / "link.html")
    assert unseen_entry(tmp_path, *tree(tmp_path)) is None
    assert unseen_entry(tmp_path / "missing", set(), set()) is None


def test_special_files_are_named(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    os.mkfifo(tmp_path / "pipe")
    files, dirs = tree(tmp_path)
    assert unseen_entry(tmp_path, files - {"pipe"}, dirs) == (
        "pipe",
        "is a FIFO (named pipe), which an image layer cannot hold (ko would hang on it)",
        "remove it.",
    )


def test_names_that_are_not_utf8_are_named(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    with open(os.fsencode(tmp_path / "sub") + b"/bad-\xffname", "w") as f:
        f.write("x")
    found = unseen_entry(tmp_path, set(), {"sub"})
    assert found is not None
    path, problem, _ = found
    assert path == "sub/bad-\\xffname" and "not UTF-8" in problem


def test_ignored_entries_and_broken_links_are_named(tmp_path: Path) -> None:
    (tmp_path / ".well-known").mkdir()
    (tmp_path / ".well-known/security.txt").write_text("x")
    (tmp_path / "kept.txt").write_text("x")
    found = unseen_entry(tmp_path, {"kept.txt"}, set())
    assert found is not None
    path, problem, _ = found
    assert path == ".well-known" and "ignored by Pants" in problem
    (tmp_path / "generated.js").write_text("x")
    found = unseen_entry(tmp_path, {"kept.txt", ".well-known/security.txt"}, {".well-known"})
    assert found is not None
    path, _, fix = found
    assert path == "generated.js" and "pants_ignore_use_gitignore" in fix
    os.symlink("nowhere", tmp_path / "dangling")
    found = unseen_entry(tmp_path, *tree(tmp_path))
    assert found is not None
    path, problem, _ = found
    assert path == "dangling" and "broken symlink" in problem
