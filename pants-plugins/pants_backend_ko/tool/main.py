"""``python -m pants_backend_ko.tool [-v] <verb> ...``: every process the backend runs with its
own code, behind one error wrapper. Requests and answers are the messages of `tool/messages.py`.

``push-plan --plan FILE`` pushes every image of a `PushPlan` in parallel, each skipping what
the registry already has, then attaches its SBOMs and, when the plan signs, signs it; one
``REPO@sha256:<hex>`` line per pushed image on stdout, one ``error: REPO: ...`` line per failed
image on stderr, exit 1 if any failed. Entries of kind ``daemon`` (ko.local) are loaded into the
Docker daemon at ``DOCKER_HOST`` instead (never signed): ``ko.local/<name>:<hex>`` on stdout,
what was done on stderr (loaded, or already there); when no daemon answers, one line and exit 1
before anything is pushed or loaded. `pants publish` runs it. A plan that signs names the key
(a path or ``env://NAME``); its password is ``$COSIGN_PASSWORD``. The key is loaded before
anything is pushed, so a wrong password pushes nothing.

``deploy --plan FILE [-- KUBECTL ARGS]`` pushes the images of a `DeployPlan`, then runs
``kubectl <verb> -f -`` with the rendered YAML on stdin (nothing is applied unless every push
succeeded); the exit code is kubectl's. `pants run`/`experimental-deploy` of ko_manifests run it.

``status --query FILE`` answers a `StatusQuery` with a `RegistryState` (JSON) on stdout: what
the registries hold and, for ko.local repositories, which tags the Docker daemon holds. It only
reads, and exits 0 when a registry or the daemon cannot answer (those tags are then absent). A
query that signs counts a registry image as complete only when it is signed by the query's
public key.

``base --request FILE --out DIR`` fetches the base image a `BaseFetch` names (from a registry,
a layout folder or the Docker daemon) into DIR: the `BaseDescription` as ``base.json`` and every
blob as ``blobs/sha256/<hex>``, verified.

``scan --request FILE --out DIR`` answers a `ManifestScan` with `ScannedManifests` (JSON) on
stdout: the ``ko://`` import paths a ko_manifests target's files refer to; and writes the
`SplicePlan` a render takes into DIR. ``render --request FILE --out DIR`` writes the files of a
`ManifestRender`'s plan with every ``ko://`` string replaced into DIR, and a
`RenderedManifestFiles` on stdout (`tool/manifests.py`). Neither reads the network.

For people (checking a registry, scripts): ``inspect REF [--raw]`` prints the digest a tag or
digest reference names (or, with ``--raw``, the manifest bytes); ``push --layout DIR
--repository REPO [--tag T]... [--mount-from DIGEST=REPO]... [--blob-source
DIGEST=REGISTRY/REPO]... [--ref-name NAME] [--sbom DIGEST=FILE]... [--jobs N] [--json-output
FILE]`` pushes one OCI layout and prints ``REPO@sha256:<hex>``.

Every registry exchange is bounded by a `TransportLimits` (`oci/remote/limits.py`): the
message's ``transport`` for the verbs that read a message (the rules fill it from
``[ko].registry_timeout``/``registry_min_speed``), ``--registry-timeout SECONDS`` and
``--registry-min-speed BYTES_PER_SECOND`` for ``inspect`` and ``push``.

Every verb takes ``--insecure-registry HOST`` (plain HTTP / unverified TLS, added to what a
message lists) and ``--ca-bundle PEM`` (default: ``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE``);
``-v`` logs each registry operation on stderr. Any error is one ``error: ...`` line on stderr
and exit status 1 (a usage error too), never a traceback; messages never hold a secret. This
module is the only place where the process environment feeds the keychain and names the Docker
daemon (``DOCKER_HOST``, ``DOCKER_CERT_PATH``, ``DOCKER_TLS_VERIFY``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import NoReturn, TypeVar

from pants_backend_ko.codec import Message, decode, encode
from pants_backend_ko.errors import KoError, one_line
from pants_backend_ko.oci.daemon.client import DaemonClient
from pants_backend_ko.oci.daemon.host import daemon_address
from pants_backend_ko.oci.daemon.local import loaded_tags
from pants_backend_ko.oci.digest import check_digest
from pants_backend_ko.oci.reference import parse_reference, parse_repository
from pants_backend_ko.oci.remote.credentials import Keychain
from pants_backend_ko.oci.remote.limits import TransportLimits
from pants_backend_ko.oci.remote.pull import get_manifest
from pants_backend_ko.oci.remote.push import push_layout
from pants_backend_ko.oci.remote.status import registry_state
from pants_backend_ko.oci.remote.transport import ClientPool, RegistryClient
from pants_backend_ko.sign.provenance import ProvenanceInputs
from pants_backend_ko.tool.base_fetch import fetch_base
from pants_backend_ko.tool.kubectl import deploy
from pants_backend_ko.tool.manifests import render_manifests, scan_manifests
from pants_backend_ko.tool.messages import (
    DAEMON,
    SBOM,
    Attachment,
    BaseFetch,
    DeployPlan,
    ManifestRender,
    ManifestScan,
    PushPlan,
    SigningOptions,
    StatusQuery,
    error_line,
)
from pants_backend_ko.tool.publish_plan import Destinations, Signer, attach, push_images

logger = logging.getLogger(__name__)
M = TypeVar("M", bound=Message)

PROG = "python -m pants_backend_ko.tool"


class UsageError(KoError):
    """The command line is wrong."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line like every other error, not argparse's usage block and exit status 2.
        raise UsageError(f"{self.prog}: {message}", fix=f"see `{PROG} --help`")


class _Environment:
    """What the verbs take from the process: credentials and TLS trust."""

    def __init__(self, args: argparse.Namespace, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.keychain = Keychain(environ)  # the one place the process environment is used
        self.insecure_registries = tuple(args.insecure_registry)
        self.ca_bundle = args.ca_bundle or environ.get("REQUESTS_CA_BUNDLE") or environ.get("SSL_CERT_FILE") or None

    def pool(self, limits: TransportLimits, insecure_registries: Sequence[str] = (), **options: object) -> ClientPool:
        return ClientPool(
            keychain=self.keychain,
            insecure_registries=[*insecure_registries, *self.insecure_registries],
            ca_bundle=self.ca_bundle,
            limits=limits,
            **options,
        )

    def daemon(self) -> DaemonClient:
        """The Docker daemon at DOCKER_HOST, reached now: without one, one line before anything is done."""
        client = DaemonClient(daemon_address(self.environ))
        client.api_version()
        return client

    @contextmanager
    def destinations(self, plan: PushPlan) -> Iterator[Destinations]:
        daemon = self.daemon() if any(image.kind == DAEMON for image in plan.images) else None
        with closing(self.pool(plan.transport, plan.insecure_registries)) as pool:
            yield Destinations(pool, daemon)


def _message(cls: type[M], path: str) -> M:
    return decode(cls, Path(path).read_bytes(), path)


def _digest_pairs(values: Sequence[str], flag: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        digest, sep, target = value.partition("=")
        if not sep or not target:
            raise UsageError(f"{flag} {value!r}: write it as sha256:<hex>=<repository>")
        check_digest(digest, flag)
        pairs.append((digest, target))
    return pairs


# --------------------------------------------------------------------------- signing
#
# cryptography and PyNaCl are imported here, only when a message signs: the tool's other verbs
# (the `base` fetch on a remote worker) run without them.


def signer_for(options: SigningOptions | None, environ: Mapping[str, str]) -> Signer | None:
    """The plan's key, loaded now (before anything is pushed: a wrong password pushes nothing),
    as a function that signs one pushed image; None when the plan does not sign."""
    if options is None:
        return None
    from pants_backend_ko.sign.keys import load_signing_key
    from pants_backend_ko.sign.publish import SignRequest, sign_published

    key = load_signing_key(options.key, environ=environ)
    if options.public_key and key.verifying_key.pem.decode() != options.public_key:
        raise KoError(
            f"the signing key {options.key} is not the one this publish checked the registry with "
            "(it changed during the run)",
            fix="run the command again",
        )

    signing: SigningOptions = options  # for the closure: not None here

    def sign(client: RegistryClient, repository: str, digest: str, provenance: ProvenanceInputs | None) -> str:
        report = sign_published(client, key, signing, SignRequest(repository, digest, provenance))
        new = sum(1 for s in report.signatures if s.signed)
        attested = report.attestation is not None and any(now for _, _, now in report.attestation.tags)
        done = f"{new} new signature{'s' if new != 1 else ''}" + (", provenance attested" if attested else "")
        return done if report.changed else "already signed"

    return sign


def signing_check(options: SigningOptions | None) -> Callable[[RegistryClient, str, str], str | None] | None:
    """For the read-only check: what signing would still add to an image, from the public key."""
    if options is None:
        return None
    from pants_backend_ko.sign.keys import load_verifying_key
    from pants_backend_ko.sign.publish import signing_missing

    if not options.public_key:
        return lambda client, repository, digest: "signatures (no public key to check them with)"
    key = load_verifying_key(options.public_key.encode(), f"the public half of {options.key}")
    signing: SigningOptions = options  # for the closure: not None here
    return lambda client, repository, digest: signing_missing(
        client, key, signing, repository, digest, provenance=signing.provenance
    )


# --------------------------------------------------------------------------- verbs


def run_push_plan(args: argparse.Namespace, env: _Environment) -> int:
    plan = _message(PushPlan, args.plan)
    signer = signer_for(plan.signing, env.environ)
    with env.destinations(plan) as to:
        outcomes = push_images(plan, Path(args.plan).parent, to, signer)
    for outcome in outcomes:
        if outcome.reference:
            print(outcome.reference)
            if outcome.kind == DAEMON:  # a registry push says nothing more unless -v
                print(f"{outcome.reference} {outcome.summary}", file=sys.stderr)
    for outcome in outcomes:
        if outcome.reference and outcome.signed:
            print(f"{outcome.reference}: {outcome.signed}", file=sys.stderr)
    for outcome in outcomes:
        if outcome.error:
            print(error_line(outcome.error), file=sys.stderr)
    return 1 if any(outcome.error for outcome in outcomes) else 0


def run_deploy(args: argparse.Namespace, env: _Environment) -> int:
    plan = _message(DeployPlan, args.plan)
    signer = signer_for(plan.push.signing, env.environ)
    with env.destinations(plan.push) as to:
        return deploy(plan, Path(args.plan).parent, to, args.kubectl_args, env.environ, signer)


def run_status(args: argparse.Namespace, env: _Environment) -> int:
    query = _message(StatusQuery, args.query)
    # A read-only question: one retry within 10 s, so an unreachable registry costs the publish
    # little; the push that follows reports it in its own words.
    with closing(env.pool(query.transport, query.insecure_registries, retries=1, retry_budget=10.0)) as pool:
        state = registry_state(
            query.repositories, sbom=query.sbom, pool=pool, jobs=query.jobs, extra_check=signing_check(query.signing)
        )
    if query.daemon_repositories:
        try:
            state = dataclasses.replace(state, daemon=loaded_tags(env.daemon(), query.daemon_repositories))
        except KoError as e:  # the load that follows reports it in its own one line
            logger.info("the Docker daemon cannot say which images it has: %s", e)
    sys.stdout.buffer.write(encode(state))
    return 0


def run_base(args: argparse.Namespace, env: _Environment) -> int:
    request = _message(BaseFetch, args.request)
    daemon = env.daemon() if request.daemon is not None else None
    with closing(env.pool(request.transport, request.insecure_registries)) as pool:
        fetch_base(request, Path(args.out), pool, daemon)
    return 0


def run_scan(args: argparse.Namespace, env: _Environment) -> int:
    request = _message(ManifestScan, args.request)
    sys.stdout.buffer.write(encode(scan_manifests(request, Path(args.request).parent, Path(args.out))))
    return 0


def run_render(args: argparse.Namespace, env: _Environment) -> int:
    request = _message(ManifestRender, args.request)
    sys.stdout.buffer.write(encode(render_manifests(request, Path(args.request).parent, Path(args.out))))
    return 0


def run_inspect(args: argparse.Namespace, env: _Environment) -> int:
    ref = parse_reference(args.reference)
    with closing(env.pool(TransportLimits.from_args(args))) as pool:
        fetched = get_manifest(pool.get(ref.registry), ref.repository, ref.identifier)
    if args.raw:
        sys.stdout.buffer.write(fetched.data)
        sys.stdout.buffer.flush()
    else:
        print(fetched.digest)
    return 0


def run_push(args: argparse.Namespace, env: _Environment) -> int:
    target = parse_repository(args.repository)
    mounts = dict(_digest_pairs(args.mount_from, "--mount-from"))
    blob_sources = {}
    for digest, name in _digest_pairs(args.blob_source, "--blob-source"):
        parsed = parse_repository(name)
        blob_sources[digest] = (parsed.registry, parsed.repository)
    attachments = [Attachment(SBOM, digest, path) for digest, path in _digest_pairs(args.sbom, "--sbom")]
    with closing(env.pool(TransportLimits.from_args(args))) as pool:
        client = pool.get(target.registry)
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
        attach(client, target.name, Path(args.layout), attachments, Path("."))
    logger.info(
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


# --------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log each registry operation on stderr")
    sub = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)

    def verb(name: str, run: Callable[[argparse.Namespace, _Environment], int], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(run=run)
        p.add_argument(
            "--insecure-registry", action="append", default=[], metavar="HOST", help="allow plain HTTP / unverified TLS"
        )
        p.add_argument("--ca-bundle", default=None, metavar="PEM", help="CA certificates to trust for registry TLS")
        return p

    p = verb("push-plan", run_push_plan, "push every image of a push plan, in parallel")
    p.add_argument("--plan", required=True, metavar="FILE", help="a PushPlan (JSON)")

    p = verb("deploy", run_deploy, "push the images of a deploy plan, then kubectl <verb> the rendered YAML")
    p.add_argument("--plan", required=True, metavar="FILE", help="a DeployPlan (JSON)")
    p.add_argument("kubectl_args", nargs="*", help="more kubectl arguments, after --")

    p = verb("status", run_status, "tell which images a registry already has (read-only)")
    p.add_argument("--query", required=True, metavar="FILE", help="a StatusQuery (JSON)")

    p = verb("base", run_base, "fetch a base image for a build")
    p.add_argument("--request", required=True, metavar="FILE", help="a BaseFetch (JSON)")
    p.add_argument("--out", required=True, metavar="DIR")

    p = verb("scan", run_scan, "list the ko:// references of Kubernetes YAML files")
    p.add_argument("--request", required=True, metavar="FILE", help="a ManifestScan (JSON)")
    p.add_argument("--out", required=True, metavar="DIR", help="where the SplicePlan is written")

    p = verb("render", run_render, "replace the ko:// references of Kubernetes YAML files")
    p.add_argument("--request", required=True, metavar="FILE", help="a ManifestRender (JSON)")
    p.add_argument("--out", required=True, metavar="DIR")

    p = verb("inspect", run_inspect, "print the digest of an image reference")
    p.add_argument("reference")
    p.add_argument("--raw", action="store_true", help="print the manifest bytes instead")
    TransportLimits.add_arguments(p)

    p = verb("push", run_push, "push one OCI layout to a repository")
    p.add_argument("--layout", required=True, metavar="DIR")
    p.add_argument("--repository", required=True, metavar="REPO", help="registry/repository")
    p.add_argument("--tag", action="append", default=[], metavar="T")
    p.add_argument("--mount-from", action="append", default=[], metavar="DIGEST=REPO")
    p.add_argument("--blob-source", action="append", default=[], metavar="DIGEST=REGISTRY/REPO")
    p.add_argument("--ref-name", default=None, help="the image of index.json to push, by ref name")
    p.add_argument("--jobs", type=int, default=4)
    p.add_argument(
        "--sbom",
        action="append",
        default=[],
        metavar="DIGEST=FILE",
        help="after the push, attach the SPDX SBOM in FILE to the manifest DIGEST of the layout "
        "(ko's sha256-<hex>.sbom tag and an OCI 1.1 referrer)",
    )
    p.add_argument("--json-output", default=None, metavar="FILE")
    TransportLimits.add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run one verb; any error ends as one `error: ...` line on stderr and exit status 1."""
    try:
        args = _parser().parse_args(argv)
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING,
            format="%(levelname)s %(message)s",
            stream=sys.stderr,
        )
        return args.run(args, _Environment(args, os.environ if environ is None else environ))
    except (KoError, ValueError, OSError) as e:
        print(error_line(str(e) or type(e).__name__), file=sys.stderr)
    except KeyboardInterrupt:
        print(error_line("interrupted"), file=sys.stderr)
    except Exception as e:  # anything unforeseen still ends in one line, never a traceback
        logger.debug("unexpected error", exc_info=True)
        print(error_line(f"{type(e).__name__}: {one_line(e, limit=300)}"), file=sys.stderr)
    return 1
