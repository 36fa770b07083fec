"""Where a Pants run spent its time: the critical path through its processes, from the workunits
Pants' own `workunit_logger` backend writes (one JSON file per run).

The critical path is found backwards from the end of the run: the process that finished last,
then the last process that finished before that one started, and so on. Each step is a process
(its kind, from its description: `go list`, `go build`, `layers`, `push`...) or the gap before it
(Pants' own work: the client, graph walk, rules, sandboxes, waiting for a process slot). The sum
of the steps is the run's wall time as the engine saw it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Tuple

# Process descriptions (ours) -> the kind shown in the report, first match wins.
KINDS = (
    ("go list", "go list"),
    ("go build", "go build"),
    ("Compile the Go dependencies", "dependency compile"),
    ("Compile the Go layer writer", "layer writer compile"),
    ("Write the layers", "layers"),
    ("Write the docker archive", "docker archive"),
    ("Check the registry", "registry check"),
    ("Fetch base image", "base fetch"),
    ("Read base image layout", "base fetch"),
    ("go env", "go env"),
    ("git ", "git"),
)
PUSH = "push/apply"  # interactive processes: the push (publish) or the deploy tool (run)
PANTS = "Pants"


def kind_of(name: str, description: str) -> str:
    if name == "interactive_process":
        return PUSH
    for prefix, kind in KINDS:
        if description.startswith(prefix):
            return kind
    return description.split(" ", 1)[0] or name


def _interval(workunit: dict) -> Tuple[float, float]:
    start = workunit["start_secs"] + workunit["start_nanos"] / 1e9
    duration = workunit.get("duration_secs", 0) + workunit.get("duration_nanos", 0) / 1e9
    return start, start + duration


def critical_path(workunits: List[dict]) -> List[Tuple[str, float]]:
    """(kind, seconds) steps of the critical path, in time order; gaps are `PANTS`."""
    if not workunits:
        return []
    begin = min(_interval(w)[0] for w in workunits)
    end = max(_interval(w)[1] for w in workunits)
    processes = sorted(
        (_interval(w) + (kind_of(w["name"], w.get("description") or ""),))
        for w in workunits
        if w["name"] in ("run_local_process", "interactive_process")
    )
    steps: List[Tuple[str, float]] = []
    cursor = end
    while True:
        candidates = [p for p in processes if p[1] <= cursor + 1e-6]
        if not candidates:
            break
        start, stop, kind = max(candidates, key=lambda p: p[1])
        if cursor - stop > 0.001:
            steps.append((PANTS, cursor - stop))
        steps.append((kind, stop - start))
        cursor = start
        processes = [p for p in processes if p[1] <= start + 1e-6 and p != (start, stop, kind)]
    if cursor - begin > 0.001:
        steps.append((PANTS, cursor - begin))
    steps.reverse()
    return steps


def summary(steps: List[Tuple[str, float]]) -> Dict[str, float]:
    """Seconds per kind along the path (Pants' gaps summed)."""
    out: Dict[str, float] = {}
    for kind, seconds in steps:
        out[kind] = out.get(kind, 0.0) + seconds
    return out


def read_run(log_dir: Path) -> List[dict]:
    """The workunits of the one run whose log is in `log_dir` (the caller empties it first)."""
    logs = sorted(log_dir.glob("*.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(logs[-1].read_text()) if logs else []


def describe(steps: List[Tuple[str, float]]) -> str:
    """`go list 0.12 → go build 0.41 → layers 0.05 → push/apply 0.30 (+ Pants 0.35)`."""
    shown = [f"{kind} {seconds:.2f}" for kind, seconds in steps if kind != PANTS and seconds >= 0.01]
    pants = sum(seconds for kind, seconds in steps if kind == PANTS)
    return " → ".join(shown) + f" (+ Pants {pants:.2f})" if shown else f"Pants {pants:.2f}"
