"""The `scan` and `render` verbs through the tool's command line, as the rules run them: a request
file beside the YAML, the answer on stdout, the rendered files in the `--out` folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pants_backend_ko.codec import decode, encode
from pants_backend_ko.tool.main import main
from pants_backend_ko.tool.messages import (
    COMBINED_MANIFEST,
    RENDERED_FILES_DIR,
    SPLICE_PLAN,
    ManifestProblem,
    ManifestRender,
    ManifestScan,
    ReferenceSite,
    RenderedManifestFiles,
    ScannedManifests,
)

WEB = "example.com/app/cmd/web"
DB = "example.com/app/cmd/db"
PODS = f"""\
# keep me
apiVersion: v1
kind: Pod
metadata: {{name: web, labels: {{app: web}}}}
spec:
  containers:
  - image: ko://{WEB}
---
apiVersion: v1
kind: Pod
metadata:
  name: db
  labels: {{app: db}}
spec:
  containers:
  - image: "ko://{DB}"
  - image: ko://{WEB}
"""
EMPTY = "\n\n"
RESOLVED = {WEB: "r.example/web@sha256:" + "a" * 64, DB: "r.example/db@sha256:" + "b" * 64}


def run(folder: Path, verb: str, message, capsys) -> bytes:
    (folder / "request.json").write_bytes(encode(message))
    out = folder / ("scanned" if verb == "scan" else "out")
    code = main([verb, "--request", str(folder / "request.json"), "--out", str(out)], environ={})
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out.encode()


def scan_then_render(
    folder: Path, capsys, files: tuple[str, ...], selector: str = "", **render
) -> RenderedManifestFiles:
    scanned = decode(ScannedManifests, run(folder, "scan", ManifestScan(files, selector), capsys), "answer")
    assert scanned.problem is None, scanned.problem
    request = ManifestRender(plan=f"scanned/{SPLICE_PLAN}", **render)
    return decode(RenderedManifestFiles, run(folder, "render", request, capsys), "answer")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy/pods.yaml").write_text(PODS)
    (tmp_path / "deploy/empty.yaml").write_text(EMPTY)
    return tmp_path


def test_scan_finds_the_first_site_of_each_import_path(folder: Path, capsys) -> None:
    answer = decode(ScannedManifests, run(folder, "scan", ManifestScan(("deploy/pods.yaml",)), capsys), "answer")
    expected = (ReferenceSite(WEB, "deploy/pods.yaml", 7), ReferenceSite(DB, "deploy/pods.yaml", 16))
    assert answer == ScannedManifests(references=expected, selected=expected)


def test_scan_with_a_selector_says_what_the_kept_documents_refer_to(folder: Path, capsys) -> None:
    scan = ManifestScan(("deploy/pods.yaml",), selector="app=db")
    answer = decode(ScannedManifests, run(folder, "scan", scan, capsys), "answer")
    assert [s.import_path for s in answer.references] == [WEB, DB]
    # The file's own lines, though the first document is dropped.
    assert answer.selected == (ReferenceSite(DB, "deploy/pods.yaml", 16), ReferenceSite(WEB, "deploy/pods.yaml", 17))


def test_render_writes_each_file_and_the_stream(folder: Path, capsys) -> None:
    answer = scan_then_render(folder, capsys, ("deploy/empty.yaml", "deploy/pods.yaml"), resolved=RESOLVED)
    assert answer == RenderedManifestFiles()
    expected = PODS.replace(f"ko://{WEB}", RESOLVED[WEB]).replace(f"ko://{DB}", RESOLVED[DB])
    assert (folder / "out" / RENDERED_FILES_DIR / "deploy/pods.yaml").read_text() == expected
    assert (folder / "out" / RENDERED_FILES_DIR / "deploy/empty.yaml").read_text() == EMPTY
    # A file with no document adds no empty document to the stream.
    assert (folder / "out" / COMBINED_MANIFEST).read_text() == expected


def test_render_without_resolving_selects_and_keeps_references(folder: Path, capsys) -> None:
    answer = scan_then_render(folder, capsys, ("deploy/pods.yaml",), "app=web", resolved={}, resolve=False)
    assert answer == RenderedManifestFiles()
    kept = PODS[: PODS.index("---")]
    assert (folder / "out" / COMBINED_MANIFEST).read_text() == kept


@pytest.mark.parametrize(
    "text, problem",
    [
        (
            "a: [b, c: d\n",
            ManifestProblem(
                "invalid YAML: did not find expected ',' or ']', but found the end of the file "
                "(while parsing a flow sequence)",
                where="deploy/bad.yaml:2:1",
            ),
        ),
        (
            b"kind: \xff\n",
            ManifestProblem("not UTF-8 text (byte 6)", "deploy/bad.yaml", "Kubernetes YAML must be UTF-8."),
        ),
    ],
)
def test_bad_files_are_a_problem_in_the_answer_and_nothing_is_written(folder: Path, capsys, text, problem) -> None:
    bad = folder / "deploy/bad.yaml"
    bad.write_bytes(text if isinstance(text, bytes) else text.encode())
    files = ("deploy/pods.yaml", "deploy/bad.yaml")
    scanned = decode(ScannedManifests, run(folder, "scan", ManifestScan(files), capsys), "answer")
    assert scanned == ScannedManifests(problem=problem)
    assert not (folder / "scanned").exists()  # no plan for a render to take


def test_an_unknown_reference_suggests_the_known_ones(folder: Path, capsys) -> None:
    known = (WEB, "example.com/app/cmd/dc")
    problem = scan_then_render(
        folder, capsys, ("deploy/pods.yaml",), resolved={WEB: RESOLVED[WEB]}, known=known
    ).problem
    assert problem is not None and problem.where == "deploy/pods.yaml:16:12"
    assert problem.what.startswith(f"ko://{DB} is not a ko_image target; did you mean: example.com/app/cmd/dc")
    assert [p for p in (folder / "out").rglob("*") if p.is_file()] == []  # nothing half-written


def test_a_selected_render_splices_from_the_plan_alone(folder: Path, capsys) -> None:
    # The plan holds the kept ranges and the scalars in them: the YAML is not parsed again.
    answer = scan_then_render(folder, capsys, ("deploy/pods.yaml",), "app=db", resolved=RESOLVED)
    assert answer == RenderedManifestFiles()
    plan = json.loads((folder / "scanned" / SPLICE_PLAN).read_text())
    (splices,) = plan["files"]
    assert [s[5] for s in splices["scalars"]] == [f"ko://{DB}", f"ko://{WEB}"]
    db = PODS[PODS.index("---") :]
    expected = db.replace(f"ko://{WEB}", RESOLVED[WEB]).replace(f"ko://{DB}", RESOLVED[DB])
    assert (folder / "out" / COMBINED_MANIFEST).read_text() == expected
