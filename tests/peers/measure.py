"""Running a command as a process and measuring what it cost: peak memory (``ru_maxrss`` of
the process and of every child it waited for, from ``wait4``) and wall time. A command that
runs longer than its timeout is killed with its process group and the test fails."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MB = 1024 * 1024


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    maxrss: int  # bytes
    seconds: float

    @property
    def error(self) -> str:
        """The one ``error: ...`` line a registry tool must print on failure, and nothing else."""
        assert self.returncode == 1, (self.returncode, self.stdout, self.stderr)
        lines = self.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), self.stderr[-3000:]
        return lines[0][len("error: ") :]


def _hwm(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def measured(argv: list[str], *, env: dict | None = None, cwd: Path | None = None, timeout: float = 120) -> Run:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=cwd, start_new_session=True)
        peak = 0  # the child's own high-water RSS (VmHWM of its mm after exec), sampled
        while True:
            peak = max(peak, _hwm(proc.pid))
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                os.wait4(proc.pid, 0)
                raise AssertionError(f"{' '.join(argv[:5])}... did not finish within {timeout} s")
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        # ru_maxrss also counts the pytest process's pages the child had between fork and exec,
        # so it grows with the test session; VmHWM does not (an exec starts a new mm).
        return Run(proc.returncode, out.read().decode(), err.read().decode(), peak or usage.ru_maxrss * 1024,
                   time.monotonic() - start)
