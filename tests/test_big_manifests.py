"""A 50 MB `ko_manifests` file through the real `./pants package` (issue 17): rendered exactly
(every `ko://` replaced, every other byte kept; a label selector keeps exactly the matching
documents), with the peak memory of Pants and every process it runs (summed) bounded against a
run on the example's small manifests. Speed is not asserted here (a timeout bounds the run);
docs/reliability.md has the measured figures.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest

from tests.peers.rss import MB, measured_pants
from tests.peers.pants_repo import make_scratch_repo

pytestmark = pytest.mark.peers

IMPORT_PATH = "example.com/app/cmd/server"
SIZE = 50 * 1000 * 1000
# Before issue 17, Pants itself grew by ~300 MB per MB of YAML (PyYAML's pure-Python loader, four
# parses in its own process). Now the YAML is parsed by the tool's scan Process (libyaml) and
# spliced by its render Process: Pants' own memory does not grow with the file...
PANTS_GROWTH_BOUND = 100 * MB
# ...and all processes together hold what the scans need while they run: ~4 bytes per byte of
# YAML (the text, libyaml's UTF-8 copy, the `ko://` scalars), as much with a selector (each
# document's nodes are dropped once selected), and this run has two scans at once. Measured
# 210-290 MB more; the bound leaves room for how the two overlap from run to run.
TOTAL_GROWTH_BOUND = 350 * MB
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


def test_a_50_mb_manifest_renders_exactly_in_bounded_memory(tmp_path):
    text, chunks = big_manifest(SIZE)
    # A file no earlier run has seen: the scan and render must really run, not come from the cache.
    nonce = f"# {uuid.uuid4()}\n"
    text, chunks[0] = nonce + text, nonce + chunks[0]
    repo = make_scratch_repo(
        tmp_path / "repo",
        files={"src/big/BUILD": 'ko_manifests(name="big")\nko_manifests(name="web", selector="app=web")\n'},
    )
    (repo.root / "src/big/big.yaml").write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "KO_DOCKER_REPO"}

    small = measured_pants(repo.root, "package", "src/config:apply", env=env, timeout=900)
    assert small.returncode == 0, small.stderr[-3000:]
    big = measured_pants(repo.root, "package", "src/big:big", "src/big:web", env=env, timeout=900)
    assert big.returncode == 0, big.stderr[-3000:]

    rendered = (repo.root / "dist/src.big/big.yaml").read_text()
    (reference,) = set(re.findall(r"localhost:5000/example/server-[0-9a-f]{32}@sha256:[0-9a-f]{64}", rendered))
    assert rendered == text.replace(f"ko://{IMPORT_PATH}", reference)
    assert (repo.root / "dist/src.big/big/big.yaml").read_text() == rendered
    selected = (repo.root / "dist/src.big/web.yaml").read_text()
    web = "".join(chunk for chunk in chunks if "app: web" in chunk)
    assert selected == web.replace(f"ko://{IMPORT_PATH}", reference)

    print(
        f"\n./pants package of {len(text) / 1e6:.0f} MB of YAML (two targets, one with a selector): "
        f"{big.seconds:.0f} s, peak RSS {big.peak // MB} MB (Pants itself {big.peak_single // MB} MB); "
        f"the example's manifests: {small.seconds:.0f} s, {small.peak // MB} MB ({small.peak_single // MB} MB)"
    )
    assert big.peak_single < small.peak_single + PANTS_GROWTH_BOUND, (big.peak_single // MB, small.peak_single // MB)
    assert big.peak < small.peak + TOTAL_GROWTH_BOUND, (big.peak // MB, small.peak // MB)
