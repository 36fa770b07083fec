"""`{pants.hash}`: a hash of a `ko_image`'s inputs, for tags, as Pants' docker backend has one.

Pants' `docker_image` defines `{pants.hash}` as a SHA-256 of the build's inputs: its build
arguments, environment and the digest of the build context
(`pants/backend/docker/util_rules/docker_build_context.py`: `stable_hash((build_args, build_env,
snapshot.digest))`). It is known before `docker build` runs, which gives no reproducible image ID.

A `ko_image`'s digest is reproducible and known at package time, but naming (the registry check
of `publish` runs on names alone, while binaries compile) comes before the build, so here too it
is an input hash, with Pants' `stable_hash` (64 hex digits) over:

- the Pants digest of every file the image is built from (its transitive dependencies' sources:
  Go packages, module files, kodata, embedded files);
- the image's settings after precedence (import path, platforms, base image as written,
  flags and ldflags templates, `.ko.yaml` env, cgo, kodata folder, extra binaries, file
  capabilities, debug) and its config fields (env, labels, annotations, user, workdir,
  entrypoint, args, ports, volumes);
- the digest the base image resolved to (so a moved base tag is a new hash), `go version`'s
  fingerprint, `SOURCE_DATE_EPOCH`/`KO_DATA_DATE_EPOCH`, and this backend's version.

Equal hashes mean equal inputs; it does not change when only a tag, a registry or the naming
does.
"""

from __future__ import annotations

from dataclasses import fields

from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.logging import LogLevel
from pants.util.strutil import stable_hash

from pants_backend_ko import VERSION
from pants_backend_ko.util_rules.base_image import BaseImageRequest, ResolvedBaseImage
from pants_backend_ko.util_rules.destinations import ImageInputHash, ImageInputHashRequest
from pants_backend_ko.util_rules.go_build import DependencySources, DependencySourcesRequest, GoToolchain
from pants_backend_ko.util_rules.ko_build import KoImageSettings, KoImageSettingsRequest

# The ko_image fields that only say where and how it is published: not inputs of the image.
_PUBLISHING_FIELDS = {"repository", "registries", "tags", "skip_push", "output_path"}


@rule(desc="Hash a ko_image's inputs", level=LogLevel.DEBUG)
async def image_input_hash(request: ImageInputHashRequest, go: GoToolchain) -> ImageInputHash:
    field_set = request.field_set
    settings = await Get(KoImageSettings, KoImageSettingsRequest(field_set))
    sources, base, epochs = await MultiGet(
        Get(DependencySources, DependencySourcesRequest((settings.address,))),
        Get(ResolvedBaseImage, BaseImageRequest, BaseImageRequest.of(settings)),
        Get(EnvironmentVars, EnvironmentVarsRequest(["SOURCE_DATE_EPOCH", "KO_DATA_DATE_EPOCH"])),
    )
    digest = sources.snapshot.digest
    image_fields = {
        f.name: getattr(field_set, f.name).value
        for f in fields(field_set)
        if f.name not in _PUBLISHING_FIELDS and f.name != "address"
    }
    value = {
        "backend": VERSION,
        "files": [digest.fingerprint, digest.serialized_bytes_length],
        "settings": {
            "import_path": settings.import_path,
            "platforms": [str(p) for p in settings.platforms],
            "all_platforms": settings.all_platforms,
            "base_image": settings.base_image,
            "flags": list(settings.flags),
            "ldflags": list(settings.ldflags),
            "build_env": list(settings.build_env),
            "cgo": settings.cgo,
            "kodata": settings.kodata_dir,
            "binaries": [list(b) for b in settings.extra_binaries],
            "capabilities": settings.capabilities.to_json() if settings.capabilities else None,
            "debug": settings.debug,
        },
        "fields": {
            k: (dict(v) if hasattr(v, "items") else list(v) if isinstance(v, tuple) else v)
            for k, v in image_fields.items()
        },
        "base": base.digest,
        "go": go.fingerprint,
        "epochs": [epochs.get("SOURCE_DATE_EPOCH"), epochs.get("KO_DATA_DATE_EPOCH")],
    }
    return ImageInputHash(stable_hash(value))


def rules():
    return collect_rules()
