"""The files of `//go:embed` patterns, against `go list` (EmbedFiles) on the same tree."""

from __future__ import annotations

import json
from pathlib import Path

from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner

from pants_backend_ko.testutil import ko_rule_runner, run_go
from pants_backend_ko.util_rules.go_packages import EmbeddedFiles, EmbeddedFilesRequest

PATTERNS = ("static", "all:assets", "templates/*.html", "one.txt")
TREE = {
    "go.mod": "module example.com/embeds\n\ngo 1.22\n",
    "embeds.go": (
        'package embeds\n\nimport "embed"\n\n'
        + "".join(f"//go:embed {p}\nvar f{i} embed.FS\n\n" for i, p in enumerate(PATTERNS))
    ),
    "static/app.css": "x",
    "static/.hidden": "x",
    "static/_draft.css": "x",
    "static/img/logo.svg": "x",
    "static/.git-like/config": "x",
    "assets/.keep": "x",
    "assets/_partial.txt": "x",
    "templates/a.html": "x",
    "templates/b.txt": "x",
    "one.txt": "x",
}


def test_embedded_files_are_the_ones_go_embeds(tmp_path: Path) -> None:
    for path, content in TREE.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(content)
    theirs = json.loads(run_go(["list", "-json=EmbedFiles", "."], cwd=tmp_path))["EmbedFiles"]

    rule_runner: RuleRunner = ko_rule_runner(extra_rules=[QueryRule(EmbeddedFiles, (EmbeddedFilesRequest,))])
    rule_runner.write_files({f"pkg/{p}": c for p, c in TREE.items()})
    ours = rule_runner.request(EmbeddedFiles, [EmbeddedFilesRequest("pkg", PATTERNS)])
    assert sorted(path[len("pkg/") :] for path, _ in ours.files) == sorted(theirs)
    assert dict(ours.files)["pkg/static/img/logo.svg"] == "static"
