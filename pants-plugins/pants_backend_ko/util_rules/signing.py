"""`[ko].signing_key`: the key checked once, before anything is pushed, and what the push and
check processes get to sign with.

The rules load the key (`sign/keys.py`: cosign's encrypted key file or `env://NAME`, password
from `COSIGN_PASSWORD`) so that a missing file or a wrong password is one line and nothing is
pushed. What leaves this rule is `SigningOptions`: the key's *reference* (a path made absolute,
since the push runs in a temporary folder) and its *public* half, which the read-only registry
check verifies existing signatures with; the decrypted key stays in this function. The push
process loads the key again from the same reference, with the password in its environment
(`env_names`), never in a file: nothing secret enters a message, `dist/`, the store or a cache.

A key file may be outside the repository, where Pants cannot watch it: a `stat` of it, run once
per run, is an input of this rule, so a replaced key file is read again (pantsd would otherwise
keep the first answer).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from pants.base.build_root import BuildRoot
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.process import FallibleProcessResult, Process, ProcessCacheScope
from pants.engine.rules import Get, collect_rules, rule
from pants.util.logging import LogLevel

from pants_backend_ko.errors import KoError
from pants_backend_ko.sign.keys import ENV_KEY_PREFIX, PASSWORD_ENV, SigningKeyError, load_signing_key
from pants_backend_ko.sign.options import SigningOptions
from pants_backend_ko.subsystems import KoSubsystem

_STAT = "import os, sys\ntry:\n s = os.stat(sys.argv[1]); print(s.st_dev, s.st_ino, s.st_size, s.st_mtime_ns)\nexcept OSError as e:\n print(e.errno)"


@dataclass(frozen=True)
class SigningSetupRequest:
    pass


@dataclass(frozen=True)
class SigningSetup:
    options: SigningOptions | None  # None: `[ko].signing_key` is not set
    env_names: tuple[str, ...] = ()  # what the push process needs from the environment


@rule(desc="Check the signing key", level=LogLevel.DEBUG)
async def signing_setup(_: SigningSetupRequest, ko: KoSubsystem, buildroot: BuildRoot) -> SigningSetup:
    reference = (ko.signing_key or "").strip()
    if not reference:
        return SigningSetup(None)
    names = [PASSWORD_ENV]
    if reference.startswith(ENV_KEY_PREFIX):
        names.append(reference[len(ENV_KEY_PREFIX) :])
    else:
        reference = os.path.normpath(os.path.join(buildroot.path, os.path.expanduser(reference)))
        await Get(
            FallibleProcessResult,
            Process(
                argv=(sys.executable, "-c", _STAT, reference),
                description="Look at the signing key file",
                cache_scope=ProcessCacheScope.PER_SESSION,
                level=LogLevel.DEBUG,
            ),
        )
    env = await Get(EnvironmentVars, EnvironmentVarsRequest(names))
    try:
        key = load_signing_key(reference, environ=env)
    except SigningKeyError as e:
        raise KoError(str(e), where="[ko].signing_key") from None
    options = SigningOptions(
        key=reference,
        public_key=key.verifying_key.pem.decode("ascii"),
        sign_sboms=ko.sign_sboms,
        provenance=ko.provenance,
    )
    return SigningSetup(options, tuple(names))


def rules():
    return collect_rules()
