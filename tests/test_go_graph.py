"""Go code in Pants' graph, end to end, in a real git repository: `pants tailor ::` on a fresh
ko-style repository writes every target; then `--changed-since` selects exactly the images whose
files changed (shared package, kodata, an embedded file, one main.go, go.sum, a sibling module
brought in by `replace`, a go.work module) and the manifests that reference them; `publish
--changed-since` pushes exactly those to a real registry; `filedeps` lists an image's files.
A repository that also enables Pants' own Go backend keeps working."""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

import pytest

from tests.peers.pants_repo import REPO_ROOT, ScratchRepo, make_scratch_repo

SERVER, WORKER, SOLO = "src/go/cmd/server:server", "src/go/cmd/worker:worker", "src/go/cmd/solo:solo"
SHOUT, API = "multi/app/cmd/shout:shout", "ws/svc/cmd/api:api"
CONFIG, SOLO_YAML = {"src/config:apply"}, {"src/solo:apply"}

WORKER_MAIN = """// Command worker prints the greeting and an embedded banner.
package main

import (
	"fmt"

	"example.com/app/internal/banner"
	"example.com/app/internal/greeting"
)

func main() {
	fmt.Println(banner.Text, greeting.Hello("worker"))
}
"""

FILES = {
    "src/go/cmd/worker/main.go": WORKER_MAIN,
    "src/go/internal/banner/banner.go": (
        'package banner\n\nimport _ "embed"\n\n//go:embed banner.txt\nvar Text string\n'
    ),
    "src/go/internal/banner/banner.txt": "== banner ==\n",
    "src/go/cmd/solo/main.go": 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("solo") }\n',
    "src/solo/solo.yaml": (
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: solo\nspec:\n  template:\n    spec:\n"
        "      restartPolicy: Never\n      containers:\n        - name: solo\n"
        "          image: ko://example.com/app/cmd/solo\n"
    ),
    # A module using a sibling module of the repository through `replace`.
    "multi/app/go.mod": (
        "module example.com/tools\n\ngo 1.22\n\nrequire example.com/text v0.0.0\n\nreplace example.com/text => ../text\n"
    ),
    "multi/app/cmd/shout/main.go": (
        'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/text/upper"\n)\n\n'
        'func main() { fmt.Println(upper.Upper("shout")) }\n'
    ),
    "multi/text/go.mod": "module example.com/text\n\ngo 1.22\n",
    "multi/text/upper/upper.go": (
        'package upper\n\nimport "strings"\n\n'
        'func Upper(s string) string { return strings.ToUpper(s) + " via-the-sibling-module" }\n'
    ),
    # A go.work workspace of two modules.
    "ws/go.work": "go 1.22\n\nuse (\n\t./svc\n\t./quotes\n)\n",
    "ws/svc/go.mod": "module example.com/svc\n\ngo 1.22\n",
    "ws/svc/cmd/api/main.go": (
        'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/quotes"\n)\n\nfunc main() { fmt.Println(quotes.Quote) }\n'
    ),
    "ws/quotes/go.mod": "module example.com/quotes\n\ngo 1.22\n",
    "ws/quotes/quotes.go": 'package quotes\n\nconst Quote = "quoted-from-the-workspace"\n',
    ".gitignore": "/.pants.d/\n/dist/\n/.pids/\n",
}


def git(repo: ScratchRepo, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo.root, check=True, capture_output=True, text=True, timeout=120
    ).stdout


def ko_style_files() -> dict[str, str]:
    """The example as a ko user has it (no BUILD files), plus the files above."""
    files = {}
    for path in sorted((REPO_ROOT / "src").rglob("*")):
        if path.is_file() and path.name != "BUILD":
            files[path.relative_to(REPO_ROOT).as_posix()] = path.read_text()
    return {**files, **FILES}


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> ScratchRepo:
    """A fresh ko-style repository in git that only ran `pants tailor ::` (read by every test
    below; each edit is reverted by the test that makes it)."""
    repo = make_scratch_repo(
        tmp_path_factory.mktemp("go-graph"),
        example=False,
        files=ko_style_files(),
        go_targets=False,
        only_ko_backend=True,
    )
    git(repo, "init", "-q")
    git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "add", "-A")
    git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "ko-style")
    repo.pants("tailor", "::")
    git(repo, "add", "-A")
    git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "tailor")
    return repo


def test_tailor_writes_every_target_and_the_repository_builds(repo: ScratchRepo) -> None:
    build = {p: (repo.root / p / "BUILD").read_text() for p in (
        "src/go", "src/go/cmd/server", "src/go/internal/banner", "multi/app", "multi/text", "ws",
        "ws/quotes", "src/solo", "src/config")}
    assert "ko_go_module(" in build["src/go"] and "ko_go_module(" in build["multi/text"]
    assert "ko_go_work(" in build["ws"] and "ko_go_package()" in build["ws/quotes"]
    server = build["src/go/cmd/server"]
    assert "ko_image(" in server and "ko_kodata(" in server and 'ko_go_package(\n    name="pkg",' in server
    # The embedded file is part of its package.
    assert 'sources=[\n        "*.go",\n        "banner.txt",\n    ],' in build["src/go/internal/banner"]
    assert "ko_manifests(" in build["src/solo"] and "ko_manifests(" in build["src/config"]
    assert "ko_image(" in (repo.root / "multi/app/cmd/shout/BUILD").read_text()

    repo.pants("package", "::")
    for output, expected in (("multi.app.cmd.shout/shout", b"via-the-sibling-module"),
                             ("ws.svc.cmd.api/api", b"quoted-from-the-workspace"),
                             ("src.go.cmd.worker/worker", b"== banner ==")):
        assert expected in app_layer(repo.root / "dist" / output), output
    assert (repo.root / "dist/src.solo/apply.yaml").read_text().count("@sha256:") == 1


def app_layer(layout: Path) -> bytes:
    """The uncompressed last layer (the binaries) of a single-platform layout."""
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((layout / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_bytes())
    return gzip.decompress((layout / "blobs/sha256" / manifest["layers"][-1]["digest"][7:]).read_bytes())


def changed_images_and_manifests(repo: ScratchRepo, edits: dict[str, str], *goal: str, env=None) -> tuple[set, str]:
    """`pants --changed-since=HEAD --changed-dependents=transitive <goal>` with `edits` appended
    to files of the work tree (reverted afterwards): the ko_image/ko_manifests targets listed."""
    for path, text in edits.items():
        with open(repo.root / path, "a") as f:
            f.write(text)
    try:
        result = repo.pants(
            "--changed-since=HEAD",
            "--changed-dependents=transitive",
            "--filter-target-type=ko_image,ko_manifests",
            *(goal or ("list",)),
            env=env,
        )
    finally:
        git(repo, "checkout", "--", *edits)
    return {line for line in result.stdout.split() if ":" in line and "@" not in line}, result.stdout


@pytest.mark.parametrize(
    "edits,expected",
    [
        # A package both images import: both, and the manifests referencing them.
        ({"src/go/internal/greeting/greeting.go": "// edited\n"}, {SERVER, WORKER, *CONFIG}),
        # A kodata file: that image only.
        ({"src/go/cmd/server/kodata/message.txt": "edited\n"}, {SERVER, *CONFIG}),
        # One main.go: that image, and no manifest that does not reference it.
        ({"src/go/cmd/solo/main.go": "// edited\n"}, {SOLO, *SOLO_YAML}),
        # An embedded file (worker's), a sibling module (`replace`), a go.work module: disjoint.
        (
            {
                "src/go/internal/banner/banner.txt": "edited\n",
                "multi/text/upper/upper.go": "// edited\n",
                "ws/quotes/quotes.go": "// edited\n",
            },
            {WORKER, *CONFIG, SHOUT, API},
        ),
        # go.sum (a third-party version): every image of that module, none of the others.
        ({"src/go/go.sum": "\n"}, {SERVER, WORKER, SOLO, *CONFIG, *SOLO_YAML}),
    ],
    ids=["shared-package", "kodata", "one-main", "embed-replace-work", "go-sum"],
)
def test_changed_since_selects_exactly_the_affected_images(repo: ScratchRepo, edits: dict, expected: set) -> None:
    selected, _ = changed_images_and_manifests(repo, edits)
    assert selected == expected


def test_publish_changed_since_pushes_exactly_those(repo: ScratchRepo, registry_plain, unique_repo) -> None:
    env = {"KO_DOCKER_REPO": f"{registry_plain.host}/{unique_repo}"}
    mark = registry_plain.mark()
    _, stdout = changed_images_and_manifests(
        repo, {"src/go/internal/greeting/greeting.go": "// edited\n"}, "publish", env=env
    )
    # The registry's own log: the manifests pushed, by repository (ko's `<name>-<md5>` names).
    pushed = {
        r.path.split("/manifests/")[0][len(f"/v2/{unique_repo}/") :].split("-")[0]
        for r in registry_plain.requests_since(mark)
        if r.method == "PUT" and "/manifests/" in r.path and r.path.startswith(f"/v2/{unique_repo}/")
    }
    assert pushed == {"server", "worker"}, stdout
    printed = {line.split("@")[0].rsplit("/", 1)[-1].split("-")[0] for line in stdout.split() if "@sha256:" in line}
    assert printed == {"server", "worker"}, stdout


def test_filedeps_lists_every_file_an_image_is_built_from(repo: ScratchRepo) -> None:
    result = repo.pants("filedeps", "--transitive", SERVER)
    files = set(result.stdout.split())
    assert {
        "src/go/cmd/server/main.go",
        "src/go/cmd/server/kodata/message.txt",
        "src/go/internal/greeting/greeting.go",
        "src/go/go.mod",
        "src/go/go.sum",
    } <= files
    assert not {"src/go/cmd/worker/main.go", "src/go/internal/banner/banner.txt"} & files


def test_with_pants_own_go_backend_enabled_too(tmp_path) -> None:
    """Aliases do not clash; Pants' Go tailor finds every file owned (only `go_binary` would be
    added, which needs its `go_package`: turned off as the README says)."""
    repo = make_scratch_repo(
        tmp_path / "both",
        only_ko_backend=True,
        files={".gitignore": "/.pants.d/\n/dist/\n/.pids/\n"},
        pants_toml_extra="[golang]\ntailor_binary_targets = false\n",
    )
    toml = (repo.root / "pants.toml").read_text()
    both = 'backend_packages = ["pants_backend_ko", "pants.backend.experimental.go"]'
    (repo.root / "pants.toml").write_text(toml.replace('backend_packages = ["pants_backend_ko"]', both, 1))
    assert both in (repo.root / "pants.toml").read_text()
    git(repo, "init", "-q")
    git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "add", "-A")
    git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "both")
    repo.pants("tailor", "--check", "::")
    selected, _ = changed_images_and_manifests(repo, {"src/go/internal/greeting/greeting.go": "// x\n"})
    assert selected == {SERVER, WORKER, *CONFIG, "src/config:delete"}
    repo.pants("package", "src/go/cmd/worker")
    assert (repo.root / "dist/src.go.cmd.worker/worker.ko-image.json").exists()
