"""Command line of the daemon client: ``python -m pants_backend_ko.oci.daemon``.

``load --request FILE [--json-output FILE]`` loads every image of a `LoadRequest`
(`plan.py`) into the daemon at ``DOCKER_HOST``, one after another: one line per image on
stdout, its reference ``ko.local/<name>:<hex>`` as ko prints it; on stderr what was done
(``Loaded ...`` or ``... is already in the daemon``) or one ``error: ...`` line per image that
failed; exit 1 if any failed. ``--json-output`` gets the `LoadOutcome`.

``save --ref REF --out DIR`` writes the daemon's image REF as a new OCI layout folder DIR
(a ``ko.local/...`` base image) and prints its manifest digest.

When no daemon answers, one ``error: ...`` line and exit 1, before any image is tried. This
entry point is the only place where ``os.environ`` is read (``DOCKER_HOST``, ``DOCKER_CERT_PATH``,
``DOCKER_TLS_VERIFY``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pants_backend_ko.oci.daemon.archive import ArchiveError
from pants_backend_ko.oci.daemon.client import DaemonClient, DaemonError
from pants_backend_ko.oci.daemon.host import DaemonAddressError, daemon_address
from pants_backend_ko.oci.daemon.image import save_image
from pants_backend_ko.oci.daemon.local import publish_local
from pants_backend_ko.oci.daemon.plan import LoadFailure, LoadOutcome, LoadRequest

_EXPECTED = (DaemonError, DaemonAddressError, ArchiveError, ValueError, OSError)


def _client() -> DaemonClient:
    return DaemonClient(daemon_address(os.environ))


def _load(args: argparse.Namespace) -> int:
    path = Path(args.request)
    try:
        request = LoadRequest.from_json(json.loads(path.read_text()), relative_to=path.parent)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"cannot read the load request {path}: {e}") from None
    client = _client()
    client.api_version()  # no daemon: one line now, not one per image
    results, failures = [], []
    for image in request.images:
        try:
            result = publish_local(client, image, request.goos, request.goarch)
        except _EXPECTED as e:
            failures.append(LoadFailure(image.what, str(e)))
            print(f"error: {e}", file=sys.stderr, flush=True)
            continue
        results.append(result)
        if result.loaded:
            print(f"Loaded {result.reference} ({result.platform})", file=sys.stderr, flush=True)
        else:
            print(f"{result.reference} is already in the daemon", file=sys.stderr, flush=True)
        print(result.reference, flush=True)
    if args.json_output:
        Path(args.json_output).write_text(json.dumps(LoadOutcome(tuple(results), tuple(failures)).to_json(), indent=2))
    return 1 if failures else 0


def _save(args: argparse.Namespace) -> int:
    saved = save_image(_client(), args.ref, Path(args.out))
    print(saved.descriptor.digest)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pants_backend_ko.oci.daemon")
    commands = parser.add_subparsers(dest="command", required=True)
    load = commands.add_parser("load", help="load the images of a request into the Docker daemon")
    load.add_argument("--request", required=True)
    load.add_argument("--json-output")
    save = commands.add_parser("save", help="write an image of the Docker daemon as an OCI layout")
    save.add_argument("--ref", required=True)
    save.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        return _load(args) if args.command == "load" else _save(args)
    except _EXPECTED as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
