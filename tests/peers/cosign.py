"""The real cosign as a test peer: built once by build_cosign.sh, run with a clean environment.

``Cosign.run`` passes only what cosign needs (PATH, a private HOME so its TUF/config caches stay
in the test's folder, the Docker config for registry credentials, ``COSIGN_PASSWORD`` when
given) and never a terminal: cosign then reads passwords from ``COSIGN_PASSWORD`` only.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BUILD_SCRIPT = Path(__file__).resolve().with_name("build_cosign.sh")
BUILD_TIMEOUT_S = 1800  # a cold build (downloads + compile) takes ~4 min on 2 cores
RUN_TIMEOUT_S = 120


@dataclass(frozen=True)
class CosignKeys:
    """A key pair made by ``cosign generate-key-pair`` with a password."""

    directory: Path
    private: Path  # cosign.key, encrypted
    public: Path  # cosign.pub
    password: str


def cosign_binary() -> Path:
    """Run build_cosign.sh (at once when cached); the binary's path."""
    built = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S
    )
    if built.returncode != 0:
        raise RuntimeError(f"{BUILD_SCRIPT} failed (exit {built.returncode}):\n{built.stderr[-4000:]}")
    binary = Path(built.stdout.strip().splitlines()[-1])
    if not os.access(binary, os.X_OK):
        raise RuntimeError(f"{BUILD_SCRIPT} reported {binary}, which is not an executable")
    return binary


@dataclass(frozen=True)
class Cosign:
    binary: Path
    home: Path  # HOME for every run (cosign caches TUF metadata and config under it)

    def run(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        password: str | None = None,
        check: bool = True,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home), **(env or {})}
        if password is not None:
            full_env["COSIGN_PASSWORD"] = password
        result = subprocess.run(
            [str(self.binary), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=full_env,
            cwd=str(cwd) if cwd else None,
            timeout=RUN_TIMEOUT_S,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"cosign {' '.join(args)} exited {result.returncode}:\n{result.stderr[-4000:]}")
        return result

    def verify_args(self, public_key: Path, *extra: str) -> Sequence[str]:
        """The flags every offline verification needs: our key, no transparency log, plain HTTP allowed."""
        return ("--key", str(public_key), "--insecure-ignore-tlog", "--allow-insecure-registry", *extra)

    def generate_key_pair(self, directory: Path) -> CosignKeys:
        password = "pw-" + secrets.token_urlsafe(12)
        self.run("generate-key-pair", password=password, cwd=directory)
        return CosignKeys(directory, directory / "cosign.key", directory / "cosign.pub", password)
