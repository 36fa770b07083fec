"""Fetch a base image for a build: ``python -m pants_backend_ko.oci.remote.base_tool``.

``--ref REF | --layout DIR``, ``--platform P``... (or ``all``), ``--out DIR``,
``--cache-dir DIR``, ``--insecure-registry HOST``..., ``--ca-bundle PEM``.

Writes ``DIR/base.json`` (what the base resolved to, per platform) and
``DIR/blobs/sha256/<hex>`` for every manifest, config and layer of the chosen
platforms, each verified against its digest. The Pants rules run this in a
Process: cached forever for a digest reference, once per run for a tag, so a
digest-pinned base never touches the network again. ``--cache-dir`` is a
content-addressed cache shared between runs (children and layers by digest).

Any error prints one ``error: ...`` line on stderr and exits with status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from pants_backend_ko.oci.remote.cli import env_ca_bundle
from pants_backend_ko.oci.remote.credentials import Keychain
from pants_backend_ko.oci.remote.limits import TransportLimits
from pants_backend_ko.oci.remote.pull import ResolvedBase, fetch_blob, resolve_base, resolve_base_from_layout
from pants_backend_ko.oci.remote.transport import ClientPool


def _blob_file(out: Path, digest: str) -> Path:
    algorithm, hex_digest = digest.split(":", 1)
    path = out / "blobs" / algorithm / hex_digest
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def describe(base: ResolvedBase) -> dict:
    return {
        "reference": base.reference,
        "name": base.name,
        "registry": base.registry,
        "repository": base.repository,
        "digest": base.digest,
        "media_type": base.media_type,
        "is_index": base.is_index,
        "images": [
            {
                "platform": str(image.platform),
                "manifest_digest": image.manifest_digest,
                "manifest_media_type": image.manifest_media_type,
                "config_digest": image.config_digest,
                "layers": [layer.digest for layer in image.layers],
            }
            for image in base.images
        ],
    }


IMAGE_CONFIG_TYPES = ("application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json")


def check_is_image(base: ResolvedBase) -> None:
    """A base must be a container image, not another OCI artifact (a Helm chart, an SBOM...)."""
    for image in base.images:
        if image.config_media_type not in IMAGE_CONFIG_TYPES:
            raise ValueError(
                f"base image {base.reference} is not a container image (its config is "
                f"{image.config_media_type}); choose an image as the base"
            )


def write_base(
    base: ResolvedBase, out: Path, pool: ClientPool | None, cache_dir: str | None, layers: bool = True
) -> None:
    check_is_image(base)
    out.mkdir(parents=True, exist_ok=True)
    if base.index_bytes is not None:
        _blob_file(out, base.digest).write_bytes(base.index_bytes)
    for image in base.images:
        _blob_file(out, image.manifest_digest).write_bytes(image.manifest_bytes)
        _blob_file(out, image.config_digest).write_bytes(image.config_bytes)
        for layer in image.layers if layers else ():
            dest = _blob_file(out, layer.digest)
            if dest.exists():
                continue
            if base.layout_dir:
                source = Path(base.layout_dir, "blobs", *layer.digest.split(":", 1))
                shutil.copyfile(source, dest)
            else:
                assert pool is not None
                fetch_blob(
                    pool.get(base.registry),
                    base.repository,
                    layer.digest,
                    dest,
                    expected_size=layer.size,
                    cache=cache_dir,
                )
    (out / "base.json").write_text(json.dumps(describe(base), indent=2, sort_keys=True) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pants_backend_ko.oci.remote.base_tool")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--ref")
    source.add_argument("--layout")
    parser.add_argument("--platform", action="append", default=[])
    parser.add_argument("--out", required=True)
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--insecure-registry", action="append", default=[])
    parser.add_argument("--ca-bundle", default=None)
    parser.add_argument("--no-layers", action="store_true", help="fetch manifests and configs only (shallow)")
    TransportLimits.add_arguments(parser)
    args = parser.parse_args(argv)
    pool: ClientPool | None = None
    try:
        if args.layout:
            base = resolve_base_from_layout(args.layout, args.platform)
        else:
            pool = ClientPool(
                keychain=Keychain(dict(os.environ)),
                insecure_registries=args.insecure_registry,
                ca_bundle=args.ca_bundle or env_ca_bundle(os.environ),
                limits=TransportLimits.from_args(args),
            )
            base = resolve_base(args.ref, args.platform, clients=pool, cache_dir=args.cache_dir)
        write_base(base, Path(args.out), pool, args.cache_dir, layers=not args.no_layers)
    except Exception as e:  # one line, never a traceback: the message names what and where
        print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return 1
    finally:
        if pool is not None:
            pool.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
