"""Deploy rendered YAML: ``python -m pants_backend_ko.k8s.apply_tool --plan PLAN [-- KUBECTL ARGS]``.

The plan (JSON, written by the Pants rules next to the files it names) lists the rendered YAML,
the kubectl verb and arguments, and the OCI layouts to push first. Images are pushed in
parallel, each skipping whatever the registry already has (a present root manifest means a
present image); then ``kubectl <verb> -f -`` reads the YAML on stdin, as ``ko apply`` does.
Nothing is applied unless every push succeeded. kubectl and its context come from the user's
environment (``KUBECONFIG``, ``--context`` after ``--``); ``$KUBECTL`` names another binary.

Any error prints one ``error: ...`` line on stderr; the exit code is kubectl's, or 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from pants_backend_ko.oci.remote.cli import env_ca_bundle, push_plan
from pants_backend_ko.oci.remote.credentials import Keychain
from pants_backend_ko.oci.remote.limits import TransportLimits
from pants_backend_ko.oci.remote.transport import ClientPool


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pants_backend_ko.k8s.apply_tool")
    parser.add_argument("--plan", required=True)
    parser.add_argument("kubectl_args", nargs="*")
    args = parser.parse_args(argv)
    plan_path = Path(args.plan)
    try:
        plan = json.loads(plan_path.read_text())
        base = plan_path.parent
        manifest = (base / plan["manifest"]).read_bytes()
        kubectl = os.environ.get("KUBECTL") or shutil.which("kubectl")
        if not kubectl:
            raise RuntimeError("kubectl not found on PATH; install it or set $KUBECTL to its path")
        pool = ClientPool(
            keychain=Keychain(dict(os.environ)),
            insecure_registries=plan.get("insecure_registries", ()),
            ca_bundle=env_ca_bundle(os.environ),
            limits=TransportLimits.from_json(plan.get("transport")),
        )
        try:
            outcomes = push_plan(plan, base, pool)
        finally:
            pool.close()
        failed = [o.error for o in outcomes if o.error]
        if failed:
            raise RuntimeError(failed[0])  # nothing is applied unless every push succeeded
        for outcome in outcomes:
            print(f"{outcome.reference} {outcome.summary}", file=sys.stderr)
    except Exception as e:  # one line: the message says what and where
        print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return 1
    command = [kubectl, plan["verb"], "-f", "-", *plan.get("kubectl_args", ()), *args.kubectl_args]
    if not manifest.strip():
        print("error: the selector left no documents to send to kubectl", file=sys.stderr)
        return 1
    try:
        return subprocess.run(command, input=manifest).returncode
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
