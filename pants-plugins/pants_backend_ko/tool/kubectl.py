"""The `deploy` verb: push what rendered YAML refers to, then `kubectl <verb> -f -`.

Images are pushed in parallel (or, for ko.local, loaded into the Docker daemon), each skipping
whatever the registry (or the daemon) already has, and registry images are signed when the plan
signs, as `pants publish` signs them; then kubectl reads the YAML on stdin, as `ko apply` does.
Nothing is applied unless every push and load succeeded. kubectl and its context come from the
user's environment (`KUBECONFIG`, `--context` after
`--`); `$KUBECTL` names another binary. The exit code is kubectl's.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from pants_backend_ko.errors import KoError
from pants_backend_ko.tool.messages import DeployPlan
from pants_backend_ko.tool.publish_plan import Destinations, Signer, push_images


def deploy(
    plan: DeployPlan,
    base: Path,
    to: Destinations,
    extra_args: Sequence[str],
    environ: Mapping[str, str],
    signer: Signer | None = None,
) -> int:
    manifest = (base / plan.manifest).read_bytes()
    kubectl = environ.get("KUBECTL") or shutil.which("kubectl")
    if not kubectl:
        raise KoError("kubectl not found on PATH", fix="install it or set $KUBECTL to its path")
    outcomes = push_images(plan.push, base, to, signer)
    failed = [outcome.error for outcome in outcomes if outcome.error]
    if failed:
        raise KoError(failed[0])  # nothing is applied unless every push succeeded
    for outcome in outcomes:
        print(f"{outcome.reference} {outcome.summary}", file=sys.stderr)
    if not manifest.strip():
        raise KoError("the selector left no documents to send to kubectl")
    command = [kubectl, plan.verb, "-f", "-", *plan.kubectl_args, *extra_args]
    try:
        return subprocess.run(command, input=manifest).returncode
    except KeyboardInterrupt:
        return 130
