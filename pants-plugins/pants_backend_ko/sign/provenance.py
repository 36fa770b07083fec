"""SLSA v1 provenance of a ``ko_image``: what went into the build, as a typed message.

``ProvenanceInputs`` is what the Pants rules fill (they know the target, the Go toolchain, each
binary's flags and build info, the base image and the git revision) and what crosses into the
publish process: a typed message (`codec.Message`) in each `ImagePush` of the plan. ``slsa_predicate`` turns it into the predicate of
``https://slsa.dev/provenance/v1`` (in-toto-golang ``in_toto/slsa_provenance/v1/provenance.go``)
with the bytes ``cosign attest --type slsaprovenance1 --predicate <file>`` would sign for the
same file: cosign decodes the file into that Go struct and marshals it again, so struct fields
come in struct order (``metadata`` always present, empty fields omitted) and every free-form
map (``externalParameters``, ``internalParameters``, ``annotations``) with sorted keys.

The predicate:

- ``buildDefinition.buildType``: ``BUILD_TYPE``; ``externalParameters`` (what the user chose):
  the Pants target, the base image as written, each binary's import path, platform, ``go
  build`` flags and ldflags, the source repository and revision; ``internalParameters`` (what
  the backend chose): the Go version and each build's environment (``GOOS``, ``CGO_ENABLED``...).
- ``resolvedDependencies``: the source (``gitCommit``), the base image (``sha256`` of the
  manifest or index used) and every Go module compiled in (``pkg:golang`` purl, ``dirHash``:
  the go.sum ``h1:`` hash in hex, in-toto's ``DigestSet`` spec).
- ``runDetails.builder``: ``id`` ``pants-backend-ko <version>``, ``version`` of pants-backend-ko,
  Pants and Go.

No timestamps and no invocation id: the predicate is a function of the inputs, so publishing
the same build again finds its attestation already there. Git URLs lose any ``user:password@``
part before they are stored. No Pants imports.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pants_backend_ko import VERSION
from pants_backend_ko.codec import Message, MessageError
from pants_backend_ko.golang import gojson
from pants_backend_ko.golang.gobuildinfo import GoBuildInfo, GoModule
from pants_backend_ko.oci.digest import digest_hex, is_digest
from pants_backend_ko.oci.spdx import _go_purl, h1_to_sha256

__all__ = [
    "SLSA_PROVENANCE_V1",
    "BUILD_TYPE",
    "BUILDER_ID",
    "ModuleInput",
    "BinaryInput",
    "BaseImageInput",
    "SourceInput",
    "ProvenanceInputs",
    "slsa_predicate",
    "strip_url_credentials",
]

SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
# Names the shape of externalParameters/internalParameters above (SLSA's "build type").
BUILD_TYPE = "urn:pants-backend-ko:ko_image:v1"
BUILDER_ID = f"pants-backend-ko {VERSION}"
# The build settings of `go version -m` that describe the environment rather than flags.
_ENV_SETTINGS = re.compile(r"^(CGO_[A-Z]+|GO[A-Z0-9]+)$")


def strip_url_credentials(url: str) -> str:
    """``https://user:token@host/x.git`` -> ``https://host/x.git``; scp-like and plain forms unchanged."""
    parts = urlsplit(url)
    if parts.scheme and parts.netloc and "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
    return url


def _check(condition: bool, what: str) -> None:
    # A KoError, so that the codec says which file and field it came from.
    if not condition:
        raise MessageError(what)


@dataclass(frozen=True)
class ModuleInput(Message):
    """A Go module compiled into a binary: path, version and go.sum ``h1:`` hash ("" when none)."""

    path: str
    version: str
    sum: str = ""

    @classmethod
    def from_go_module(cls, module: GoModule) -> ModuleInput:
        """A build-info module line; a replacement (``=>``) is what was compiled, so it wins."""
        used = module.replace or module
        return cls(used.path, used.version, used.sum)


@dataclass(frozen=True)
class BinaryInput(Message):
    """One ``go build`` of the image: a main package for one platform."""

    import_path: str
    platform: str  # os/arch[/variant]
    flags: tuple[str, ...] = ()
    ldflags: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # the build environment the backend set (GOOS, GOARCH, CGO_ENABLED...)
    modules: tuple[ModuleInput, ...] = ()  # the modules compiled in (from the binary's build info)

    @classmethod
    def from_build_info(
        cls, info: GoBuildInfo, platform: str, *, flags: Sequence[str] = (), ldflags: Sequence[str] = ()
    ) -> BinaryInput:
        """From a binary's ``go version -m`` (what the SBOM is made of): its environment settings
        and modules; ``flags``/``ldflags`` as the rules expanded them."""
        return cls(
            import_path=info.path,
            platform=platform,
            flags=tuple(flags),
            ldflags=tuple(ldflags),
            env=tuple((k, v) for k, v in info.settings if _ENV_SETTINGS.match(k)),
            modules=tuple(ModuleInput.from_go_module(m) for m in info.deps),
        )


@dataclass(frozen=True)
class BaseImageInput(Message):
    """The base image as written (reference, ``scratch`` excluded, or ``./layout``) and the
    digest of the manifest or index the build used."""

    reference: str
    digest: str

    def __post_init__(self) -> None:
        _check(is_digest(self.digest), f"base image {self.reference}: {self.digest!r} is not a sha256 digest")


@dataclass(frozen=True)
class SourceInput(Message):
    """The git checkout the image was built from: remote URL ("" when none), commit, and whether
    the work tree had uncommitted changes."""

    repository: str
    revision: str
    dirty: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "repository", strip_url_credentials(self.repository))
        _check(
            bool(re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", self.revision)),
            f"source revision {self.revision!r} is not a full git commit hash",
        )


@dataclass(frozen=True)
class ProvenanceInputs(Message):
    """Everything the provenance of one ``ko_image`` says; filled by the Pants rules."""

    target: str  # the Pants address, e.g. "src/go/cmd/server:server"
    go_version: str  # "go1.26.8"
    binaries: tuple[BinaryInput, ...]
    base_image: BaseImageInput | None = None  # None for scratch
    source: SourceInput | None = None  # None outside git
    pants_version: str = ""

    def __post_init__(self) -> None:
        _check(bool(self.binaries), "binaries: a provenance names at least one binary")


def _sorted_deep(value: Any) -> Any:
    """A free-form value as Go marshals an ``interface{}`` decoded from JSON: maps sorted, all levels."""
    if isinstance(value, Mapping):
        return gojson.sorted_map({k: _sorted_deep(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return [_sorted_deep(v) for v in value]
    return value


def _resource(
    *,
    uri: str = "",
    digest: Mapping[str, str] | None = None,
    name: str = "",
    annotations: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    # in-toto-golang's v1 ResourceDescriptor, struct order, every field omitempty.
    out: dict[str, Any] = {}
    if uri:
        out["uri"] = uri
    if digest:
        out["digest"] = gojson.sorted_map(digest)
    if name:
        out["name"] = name
    if annotations:
        out["annotations"] = _sorted_deep(annotations)
    return out


def _module_dependencies(binaries: Iterable[BinaryInput]) -> list[dict[str, Any]]:
    seen: dict[tuple[str, str], ModuleInput] = {}
    for binary in binaries:
        for module in binary.modules:
            seen.setdefault((module.path, module.version), module)
    out = []
    for (path, version), module in sorted(seen.items()):
        dir_hash = h1_to_sha256(module.sum)
        out.append(
            _resource(
                uri=_go_purl(GoModule(path, version)),
                digest={"dirHash": dir_hash} if dir_hash else None,
                name=path,
            )
        )
    return out


def slsa_predicate(inputs: ProvenanceInputs) -> dict[str, Any]:
    """The SLSA v1 provenance predicate of ``inputs`` (module docstring), ready for ``gojson``."""
    external: dict[str, Any] = {
        "target": inputs.target,
        "builds": [
            {"importPath": b.import_path, "platform": b.platform, "flags": list(b.flags), "ldflags": list(b.ldflags)}
            for b in inputs.binaries
        ],
    }
    dependencies: list[dict[str, Any]] = []
    if inputs.base_image is not None:
        external["baseImage"] = inputs.base_image.reference
        dependencies.append(
            _resource(digest={"sha256": digest_hex(inputs.base_image.digest)}, name=inputs.base_image.reference)
        )
    if inputs.source is not None:
        source = inputs.source
        external["source"] = {"repository": source.repository, "revision": source.revision, "dirty": source.dirty}
        dependencies.append(
            _resource(
                uri=f"git+{source.repository}" if source.repository else "",
                digest={"gitCommit": source.revision},
                name="source",
                annotations={"dirty": True} if source.dirty else None,
            )
        )
    dependencies += _module_dependencies(inputs.binaries)
    internal = {
        "goVersion": inputs.go_version,
        "env": [{"platform": b.platform, "importPath": b.import_path, "env": dict(b.env)} for b in inputs.binaries],
    }
    versions = {"pants-backend-ko": VERSION, "go": inputs.go_version}
    if inputs.pants_version:
        versions["pants"] = inputs.pants_version
    definition: dict[str, Any] = {
        "buildType": BUILD_TYPE,
        "externalParameters": _sorted_deep(external),
        "internalParameters": _sorted_deep(internal),
    }
    if dependencies:  # omitempty
        definition["resolvedDependencies"] = dependencies
    return {
        "buildDefinition": definition,
        "runDetails": {
            "builder": {"id": BUILDER_ID, "version": gojson.sorted_map(versions)},
            "metadata": {},
        },
    }
