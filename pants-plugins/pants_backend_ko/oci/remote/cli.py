"""Command line of the registry client: ``python -m pants_backend_ko.oci.remote``.

``push --layout DIR --repository REPO [--tag T]... [--insecure-registry HOST]...
[--ca-bundle PEM] [--mount-from DIGEST=REPO]... [--blob-source DIGEST=REGISTRY/REPO]...
[--ref-name NAME] [--jobs N] [--json-output FILE]`` prints one line,
``REPO@sha256:<hex>``, on stdout; logs go to stderr.

``push-plan --plan FILE`` pushes every image a plan lists, in parallel:
``{"images": [{"layout", "repository", "tags", "blob_sources": [[DIGEST, REPO]],
"sboms": [[DIGEST, FILE]]}], "jobs": N, "insecure_registries": [...], "transport": {"timeout",
"min_speed"}}`` (paths relative to the plan's folder); one ``REPO@sha256:<hex>`` line per pushed image on stdout, one ``error: ...``
line per failed image on stderr, exit 1 if any failed.

``status --input FILE [--insecure-registry HOST]... [--ca-bundle PEM]`` reads
``{"sbom": bool, "repositories": [{"repository", "tags", "digests"}]}`` and prints, as JSON,
``{"tags": {"REPO:TAG": DIGEST|null}, "complete": {"REPO@DIGEST": ""|MISSING}}`` (read-only;
exit 0 even when a registry cannot answer: those tags are then absent).

``inspect REF [--insecure-registry HOST]... [--ca-bundle PEM] [--raw]`` prints
the digest of a tag or digest reference (or, with ``--raw``, the manifest bytes).

Every command takes ``--registry-timeout SECONDS`` and ``--registry-min-speed BYTES_PER_SECOND``
(:class:`~.limits.TransportLimits`; a plan's ``transport`` wins for ``push-plan``).
Any error prints one ``error: ...`` line on stderr and exits with status 1.
This entry point is the only place where ``os.environ`` feeds the keychain.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pants_backend_ko.oci.digest import check_digest
from pants_backend_ko.oci.reference import InvalidReferenceError, parse_reference, parse_repository
from pants_backend_ko.oci.remote.attach import attach_sbom
from pants_backend_ko.oci.remote.credentials import CredentialError, Keychain
from pants_backend_ko.oci.remote.errors import RegistryError
from pants_backend_ko.oci.remote.limits import TransportLimits
from pants_backend_ko.oci.remote.pull import get_manifest
from pants_backend_ko.oci.remote.push import push_layout
from pants_backend_ko.oci.remote.status import RepositoryQuery, registry_state
from pants_backend_ko.oci.remote.transport import ClientPool, RegistryClient


class UsageError(ValueError):
    pass


def env_ca_bundle(environ) -> str | None:
    """The CA bundle the environment names, as requests and OpenSSL read it (entry points only)."""
    return environ.get("REQUESTS_CA_BUNDLE") or environ.get("SSL_CERT_FILE") or None


def _digest_pairs(values: Sequence[str], flag: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        digest, sep, target = value.partition("=")
        if not sep or not target:
            raise UsageError(f"{flag} {value!r}: write it as sha256:<hex>=<repository>")
        check_digest(digest, flag)
        pairs.append((digest, target))
    return pairs


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pants_backend_ko.oci.remote", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log each registry operation on stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    def transport_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--insecure-registry", action="append", default=[], metavar="HOST", help="allow plain HTTP / unverified TLS"
        )
        p.add_argument("--ca-bundle", default=None, metavar="PEM", help="CA certificates to trust for registry TLS")
        TransportLimits.add_arguments(p)

    push = sub.add_parser("push", help="push an OCI layout to a repository")
    push.add_argument("--layout", required=True, metavar="DIR")
    push.add_argument("--repository", required=True, metavar="REPO", help="registry/repository")
    push.add_argument("--tag", action="append", default=[], metavar="T")
    push.add_argument("--mount-from", action="append", default=[], metavar="DIGEST=REPO")
    push.add_argument("--blob-source", action="append", default=[], metavar="DIGEST=REGISTRY/REPO")
    push.add_argument("--ref-name", default=None, help="the image of index.json to push, by ref name")
    push.add_argument("--jobs", type=int, default=4)
    push.add_argument(
        "--sbom",
        action="append",
        default=[],
        metavar="DIGEST=FILE",
        help="after the push, attach the SPDX SBOM in FILE to the manifest DIGEST of the layout "
        "(ko's sha256-<hex>.sbom tag and an OCI 1.1 referrer)",
    )
    push.add_argument("--json-output", default=None, metavar="FILE")
    transport_flags(push)

    plan = sub.add_parser("push-plan", help="push every image of a plan file, in parallel")
    plan.add_argument("--plan", required=True, metavar="FILE")
    transport_flags(plan)

    status = sub.add_parser("status", help="tell which images are already published (read-only)")
    status.add_argument("--input", required=True, metavar="FILE")
    status.add_argument("--jobs", type=int, default=8)
    transport_flags(status)

    inspect = sub.add_parser("inspect", help="print the digest of an image reference")
    inspect.add_argument("reference")
    inspect.add_argument("--raw", action="store_true", help="print the manifest bytes instead")
    transport_flags(inspect)
    return parser


def attach_sboms(
    client: RegistryClient, repository: str, layout: Path, sboms: Sequence[tuple[str, str]], base: Path = Path(".")
) -> None:
    """Attach each (manifest digest, SBOM file relative to `base`) pair; the manifests of
    `layout` were just pushed, so they exist in the registry."""
    for digest, path in sboms:
        manifest = layout / "blobs" / digest.replace(":", "/", 1)
        media_type = json.loads(manifest.read_bytes()).get("mediaType", "")
        attach_sbom(client, repository, digest, media_type, (base / path).read_bytes())


@dataclass(frozen=True)
class PlannedPush:
    repository: str
    reference: str | None = None  # REPO@sha256:<hex> once pushed
    error: str | None = None  # one line, when it failed
    summary: str = ""  # "(N uploaded, N mounted, N present)"


def push_plan(plan: dict, base: Path, pool: ClientPool) -> list[PlannedPush]:
    """Push the images of a plan (layouts, tags, base blob sources, SBOMs; paths relative to
    ``base``) in parallel, each skipping what the registry has. Every image is attempted; the
    outcomes come back in plan order."""
    jobs = int(plan.get("jobs", 4))

    def push(image: dict) -> PlannedPush:
        repository = image["repository"]
        try:
            client = pool.get(parse_repository(repository).registry)
            result = push_layout(
                base / image["layout"],
                repository,
                image.get("tags", ()),
                client=client,
                blob_sources={d: tuple(src.split("/", 1)) for d, src in image.get("blob_sources", ())},
                jobs=jobs,
            )
            attach_sboms(
                client, repository, base / image["layout"], [tuple(pair) for pair in image.get("sboms", ())], base
            )
        except (RegistryError, CredentialError, InvalidReferenceError, ValueError, OSError) as e:
            return PlannedPush(repository, error=f"{repository}: {' '.join(str(e).split()) or type(e).__name__}")
        summary = f"({result.blobs_uploaded} uploaded, {result.blobs_mounted} mounted, {result.blobs_skipped} present)"
        logging.getLogger(__name__).info("pushed %s %s", result.reference, summary)
        return PlannedPush(repository, reference=result.reference, summary=summary)

    images = plan.get("images", [])
    if len(images) <= 1:
        return [push(image) for image in images]
    with ThreadPoolExecutor(max_workers=min(4, len(images)), thread_name_prefix="oci-image") as executor:
        return list(executor.map(push, images))


def _run_push_plan(args: argparse.Namespace, keychain: Keychain) -> int:
    plan_path = Path(args.plan)
    plan = json.loads(plan_path.read_text(encoding="utf-8"))
    pool = ClientPool(
        keychain=keychain,
        insecure_registries=[*plan.get("insecure_registries", ()), *args.insecure_registry],
        ca_bundle=args.ca_bundle or env_ca_bundle(os.environ),
        limits=TransportLimits.from_json(plan["transport"]) if "transport" in plan else TransportLimits.from_args(args),
    )
    try:
        outcomes = push_plan(plan, plan_path.parent, pool)
    finally:
        pool.close()
    for outcome in outcomes:
        if outcome.reference:
            print(outcome.reference)
    for outcome in outcomes:
        if outcome.error:
            print(f"error: {outcome.error}", file=sys.stderr)
    return 1 if any(outcome.error for outcome in outcomes) else 0


def _run_push(args: argparse.Namespace, keychain: Keychain) -> int:
    target = parse_repository(args.repository)
    mounts: dict[str, str] = dict(_digest_pairs(args.mount_from, "--mount-from"))
    blob_sources: dict[str, tuple[str, str]] = {}
    for digest, name in _digest_pairs(args.blob_source, "--blob-source"):
        parsed = parse_repository(name)
        blob_sources[digest] = (parsed.registry, parsed.repository)
    with RegistryClient(
        target.registry,
        keychain=keychain,
        insecure_registries=args.insecure_registry,
        ca_bundle=args.ca_bundle or env_ca_bundle(os.environ),
        limits=TransportLimits.from_args(args),
    ) as client:
        result = push_layout(
            args.layout,
            target.name,
            args.tag,
            client=client,
            mount_sources=mounts,
            blob_sources=blob_sources,
            jobs=args.jobs,
            ref_name=args.ref_name,
        )
        attach_sboms(client, target.name, Path(args.layout), _digest_pairs(args.sbom, "--sbom"))
    logging.getLogger(__name__).info(
        "pushed %s: %d blobs uploaded, %d mounted, %d already present",
        result.reference,
        result.blobs_uploaded,
        result.blobs_mounted,
        result.blobs_skipped,
    )
    if args.json_output:
        tmp = f"{args.json_output}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(result.to_json(), f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp, args.json_output)
    print(result.reference)
    return 0


def _run_status(args: argparse.Namespace, keychain: Keychain) -> int:
    doc = json.loads(Path(args.input).read_text(encoding="utf-8"))
    queries = [
        RepositoryQuery(entry["repository"], tuple(entry.get("tags") or ()), tuple(entry.get("digests") or ()))
        for entry in doc["repositories"]
    ]
    state = registry_state(
        queries,
        sbom=bool(doc.get("sbom")),
        keychain=keychain,
        insecure_registries=args.insecure_registry,
        ca_bundle=args.ca_bundle or env_ca_bundle(os.environ),
        jobs=args.jobs,
        limits=TransportLimits.from_args(args),
    )
    print(json.dumps(state.to_json(), sort_keys=True))
    return 0


def _run_inspect(args: argparse.Namespace, keychain: Keychain) -> int:
    ref = parse_reference(args.reference)
    with RegistryClient(
        ref.registry,
        keychain=keychain,
        insecure_registries=args.insecure_registry,
        ca_bundle=args.ca_bundle or env_ca_bundle(os.environ),
        limits=TransportLimits.from_args(args),
    ) as client:
        fetched = get_manifest(client, ref.repository, ref.identifier)
    if args.raw:
        sys.stdout.buffer.write(fetched.data)
        sys.stdout.buffer.flush()
    else:
        print(fetched.digest)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s", stream=sys.stderr
    )
    keychain = Keychain(os.environ)  # the one place the process environment is used
    try:
        if args.command == "push":
            return _run_push(args, keychain)
        if args.command == "push-plan":
            return _run_push_plan(args, keychain)
        if args.command == "status":
            return _run_status(args, keychain)
        return _run_inspect(args, keychain)
    except (RegistryError, CredentialError, InvalidReferenceError, UsageError, ValueError, OSError) as e:
        message = " ".join(str(e).split()) or type(e).__name__
        print(f"error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 1
    except Exception as e:  # anything unforeseen still ends in one line, never a traceback
        logging.getLogger(__name__).debug("unexpected error", exc_info=True)
        print(f"error: {type(e).__name__}: {' '.join(str(e).split())[:300]}", file=sys.stderr)
        return 1
