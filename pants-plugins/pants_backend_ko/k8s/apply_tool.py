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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, Optional, Sequence

from pants_backend_ko.oci.reference import parse_repository
from pants_backend_ko.oci.remote.cli import attach_sboms, env_ca_bundle
from pants_backend_ko.oci.remote.credentials import Keychain
from pants_backend_ko.oci.remote.push import push_layout
from pants_backend_ko.oci.remote.transport import ClientPool


def push_images(plan: dict, base: Path, pool: ClientPool) -> List[str]:
    def push(image: dict) -> str:
        repository = image["repository"]
        registry = parse_repository(repository).registry
        result = push_layout(
            base / image["layout"],
            repository,
            image.get("tags", ()),
            client=pool.get(registry),
            blob_sources={d: tuple(src.split("/", 1)) for d, src in image.get("blob_sources", ())},
            jobs=int(plan.get("jobs", 4)),
        )
        attach_sboms(pool.get(registry), repository, base / image["layout"],
                     [tuple(pair) for pair in image.get("sboms", ())], base)
        print(
            f"{result.reference} ({result.blobs_uploaded} uploaded, {result.blobs_mounted} mounted, "
            f"{result.blobs_skipped} present)",
            file=sys.stderr,
        )
        return result.reference

    images = plan.get("images", [])
    if not images:
        return []
    with ThreadPoolExecutor(max_workers=min(4, len(images))) as executor:
        return list(executor.map(push, images))


def main(argv: Optional[Sequence[str]] = None) -> int:
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
        pool = ClientPool(keychain=Keychain(dict(os.environ)), insecure_registries=plan.get("insecure_registries", ()),
                          ca_bundle=env_ca_bundle(os.environ))
        try:
            push_images(plan, base, pool)
        finally:
            pool.close()
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
