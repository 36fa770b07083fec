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


def measured(argv: list[str], *, env: dict | None = None, cwd: Path | None = None, timeout: float = 120) -> Run:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=cwd, start_new_session=True)
        while True:
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
        return Run(proc.returncode, out.read().decode(), err.read().decode(), usage.ru_maxrss * 1024,
                   time.monotonic() - start)
