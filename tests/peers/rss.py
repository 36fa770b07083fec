"""The resident memory of a process tree, sampled: Pants (the client, or pantsd) plus every
process it runs at that moment (`go build`, the layer writer, the registry tool).

`ru_maxrss` gives the peak of one process; what a user's machine must hold is the sum over the
tree at its worst moment, so this samples `/proc` every `interval` seconds and keeps the peak of
the sum (and of the largest single process). Short spikes between samples can be missed; the
allocations that matter here (hundreds of MB) last far longer than a sample interval.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

MB = 1024 * 1024


def _process_table() -> tuple[dict[int, list[int]], dict[int, str]]:
    """(children of each pid, command name of each pid), from /proc."""
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'.
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
        names[int(entry)] = stat[stat.index("(") + 1 : stat.rindex(")")]
    return children, names


def _children() -> dict[int, list[int]]:
    return _process_table()[0]


def descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, command name) of every live descendant of `pid`."""
    children, names = _process_table()
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append((child, names.get(child, "")))
            todo.append(child)
    return out


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def tree_rss(roots: Iterable[int]) -> tuple[int, int]:
    """(sum, largest) of the resident memory of `roots` and all their descendants, now."""
    children = _children()
    seen: set[int] = set()
    stack = list(roots)
    total = largest = 0
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        rss = _rss(pid)
        total += rss
        largest = max(largest, rss)
        stack.extend(children.get(pid, ()))
    return total, largest


@dataclass
class TreeSampler:
    """Samples `tree_rss(roots())` on a thread until stopped; `roots` is asked at every sample
    (pantsd may start during a run)."""

    roots: Callable[[], Iterable[int]]
    interval: float = 0.05
    peak: int = 0
    peak_single: int = 0
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> TreeSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            total, largest = tree_rss(self.roots())
            if total:
                self.samples += 1
                self.peak = max(self.peak, total)
                self.peak_single = max(self.peak_single, largest)
            self._stop.wait(self.interval)


@dataclass(frozen=True)
class PantsRun:
    returncode: int
    stdout: str
    stderr: str
    peak: int  # bytes: the largest sum over Pants and the processes it ran, sampled
    peak_single: int  # bytes: the largest single process (Pants itself, whose engine holds most)
    seconds: float


def measured_pants(root: Path, *args: str, env: dict, timeout: float = 1800) -> PantsRun:
    """`./pants --no-pantsd --no-dynamic-ui args` in `root`, with the peak resident memory of
    Pants and every process it runs (summed) and the wall time."""
    start = time.monotonic()
    proc = subprocess.Popen(
        [str(root / "pants"), "--no-pantsd", "--no-dynamic-ui", *args],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    with TreeSampler(lambda: [proc.pid]) as sampler:
        stdout, stderr = proc.communicate(timeout=timeout)
    assert sampler.samples > 10, sampler.samples
    return PantsRun(proc.returncode, stdout, stderr, sampler.peak, sampler.peak_single, time.monotonic() - start)
