"""A large `ko_manifests` file through the real `./pants package` (issue 17): rendered exactly
(every `ko://` replaced, every other byte kept; a label selector keeps exactly the matching
documents), parsed once per run, with peak memory bounded against a run on the example's small
manifests. Speed is not asserted here (a timeout bounds the run); docs/reliability.md has the
measured figures for 10 and 50 MB.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.peers.measure import MB, measured
from tests.peers.pants_repo import make_scratch_repo

pytestmark = pytest.mark.peers

IMPORT_PATH = "example.com/app/cmd/server"
# Before issue 17: ~300 MB per MB of YAML (PyYAML's pure-Python loader, four parses).
MEMORY_BOUND = 300 * MB
DOCUMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}  # a comment that must survive
  labels:
    app: {app}
    n: "{i}"
spec:
  replicas: 3
  template:
    spec:
      containers:
      - name: c
        image: ko://{import_path}
        args: ["--port", "8080", '--flag-{i}']
        env: [{{name: A, value: "not a reference: ko://x"}}]
"""


def big_manifest(size: int) -> tuple[str, list[str]]:
    """~`size` characters of documents (and a ConfigMap holding a 1 MB block scalar); also each
    document's text as the selector must keep it (its `---` line included)."""
    chunks: list[str] = []
    total = 0
    i = 0
    while total < size:
        chunk = ("---\n" if i else "") + DOCUMENT.format(i=i, app="web" if i % 3 else "db", import_path=IMPORT_PATH)
        if i == 7:
            chunk = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: blob, labels: {app: db}}\ndata:\n  big: |\n"
            chunk += ("    " + "y" * 76 + "\n") * (MB // 80)
        chunks.append(chunk)
        total += len(chunk)
        i += 1
    return "".join(chunks), chunks


def test_a_10_mb_manifest_renders_exactly_in_bounded_memory(tmp_path):
    text, chunks = big_manifest(10 * 1000 * 1000)
    repo = make_scratch_repo(
        tmp_path / "repo",
        files={"src/big/BUILD": 'ko_manifests(name="big")\nko_manifests(name="web", selector="app=web")\n'},
    )
    (repo.root / "src/big/big.yaml").write_text(text)
    pants = [str(repo.root / "pants"), "--no-pantsd", "--no-dynamic-ui", "package"]
    env = {k: v for k, v in os.environ.items() if k != "KO_DOCKER_REPO"}

    small = measured([*pants, "src/config:apply"], env=env, cwd=repo.root, timeout=900)
    assert small.returncode == 0, small.stderr[-3000:]
    big = measured([*pants, "src/big:big", "src/big:web"], env=env, cwd=repo.root, timeout=900)
    assert big.returncode == 0, big.stderr[-3000:]

    rendered = (repo.root / "dist/src.big/big.yaml").read_text()
    (reference,) = set(re.findall(r"localhost:5000/example/server-[0-9a-f]{32}@sha256:[0-9a-f]{64}", rendered))
    assert rendered == text.replace(f"ko://{IMPORT_PATH}", reference)
    assert (repo.root / "dist/src.big/big/big.yaml").read_text() == rendered
    selected = (repo.root / "dist/src.big/web.yaml").read_text()
    web = "".join(chunk for chunk in chunks if "app: web" in chunk)
    assert selected == web.replace(f"ko://{IMPORT_PATH}", reference)

    assert big.maxrss < small.maxrss + MEMORY_BOUND, (big.maxrss // MB, small.maxrss // MB)
    print(
        f"\n./pants package of {len(text) / 1e6:.0f} MB of YAML (two targets, one with a selector): "
        f"{big.seconds:.0f} s, peak RSS {big.maxrss // MB} MB; the example's manifests: "
        f"{small.seconds:.0f} s, {small.maxrss // MB} MB"
    )
