"""go.mod/go.work reading against Go itself (`go mod edit -json`, `go work edit -json`)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from pants_backend_ko.gosrc.modfile import ModFileError, is_directory_path, parse_mod, parse_work

GO_MOD = """// A comment before the module line.
module "example.com/app" // trailing comment

go 1.22

require (
	example.com/lib v1.2.3
	golang.org/x/text v0.14.0 // indirect
)

replace example.com/lib => ../lib

replace (
	example.com/old v1.0.0 => example.com/new v1.1.0
	"example.com/quoted" => ./third_party/quoted // a comment
	example.com/abs => /opt/src/abs
)

replace example.com/last => ../last
"""

GO_WORK = """go 1.22

use ./app
use (
	./lib // the library
	"./tools"
)

replace example.com/x v1.0.0 => ./x
"""


def go_json(args: list[str], cwd: Path) -> dict:
    env = {**os.environ, "GOFLAGS": "", "GOTOOLCHAIN": "local", "GOENV": "off", "GOPROXY": "off", "GOWORK": ""}
    result = subprocess.run(["go", *args], cwd=cwd, env=env, capture_output=True, check=False)
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout)


def test_go_mod_module_and_replaces_match_go(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text(GO_MOD)
    theirs = go_json(["mod", "edit", "-json"], tmp_path)
    ours = parse_mod(GO_MOD, "go.mod")
    assert ours.module_path == theirs["Module"]["Path"]
    assert [(r.old_path, r.old_version, r.new_path, r.new_version) for r in ours.replaces] == [
        (r["Old"]["Path"], r["Old"].get("Version", ""), r["New"]["Path"], r["New"].get("Version", ""))
        for r in theirs["Replace"]
    ]
    assert [r.line for r in ours.replaces] == [11, 14, 15, 16, 19]
    assert [r.is_directory for r in ours.replaces] == [True, False, True, True, True]


def test_go_work_uses_and_replaces_match_go(tmp_path: Path) -> None:
    (tmp_path / "go.work").write_text(GO_WORK)
    theirs = go_json(["work", "edit", "-json"], tmp_path)
    ours = parse_work(GO_WORK, "go.work")
    assert [u.path for u in ours.uses] == [u["DiskPath"] for u in theirs["Use"]]
    assert [(r.old_path, r.old_version, r.new_path) for r in ours.replaces] == [
        (r["Old"]["Path"], r["Old"].get("Version", ""), r["New"]["Path"]) for r in theirs["Replace"]
    ]


def test_directory_paths_as_modfile_decides() -> None:
    assert all(is_directory_path(p) for p in (".", "..", "./x", "../x", "/x", "C:\\x"))
    assert not any(is_directory_path(p) for p in ("example.com/x", "x", ".x"))


@pytest.mark.parametrize(
    "text,message",
    [
        ("go 1.22\n", "go.mod: no `module` line"),
        ("module x\nreplace (\n a => ../a\n", "is never closed"),
        ("module x\nreplace a ../a\n", "go.mod:2: `replace` needs"),
        ('module x\nreplace "a\\x41" => ../a\n', "go.mod:2: escape sequences"),
    ],
)
def test_bad_go_mod_names_the_line(text: str, message: str) -> None:
    with pytest.raises(ModFileError, match=message.replace("(", r"\(").replace("`", "`")):
        parse_mod(text, "go.mod")
