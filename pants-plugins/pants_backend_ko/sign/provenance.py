"""SLSA v1 provenance of a ``ko_image``: what went into the build, as a typed message.

``ProvenanceInputs`` is what the Pants rules fill (they know the target, the Go toolchain, each
binary's flags and build info, the base image and the git revision) and what crosses into the
publish process, with its JSON codec. ``slsa_predicate`` turns it into the predicate of
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
from pants_backend_ko.golang import gojson
from pants_backend_ko.golang.gobuildinfo import GoBuildInfo, GoModule
from pants_backend_ko.oci.digest import check_digest, digest_hex
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


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where}: expected a list of strings")
    return tuple(value)


def _string(value: Any, where: str, *, optional: bool = False) -> str:
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a string")
    return value


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected a JSON object")
    return value


@dataclass(frozen=True)
class ModuleInput:
    """A Go module compiled into a binary: path, version and go.sum ``h1:`` hash ("" when none)."""

    path: str
    version: str
    sum: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "version": self.version, "sum": self.sum}

    @classmethod
    def from_json(cls, value: Any, where: str) -> ModuleInput:
        doc = _object(value, where)
        return cls(
            _string(doc.get("path"), f"{where}.path"),
            _string(doc.get("version"), f"{where}.version"),
            _string(doc.get("sum"), f"{where}.sum", optional=True),
        )

    @classmethod
    def from_go_module(cls, module: GoModule) -> ModuleInput:
        """A build-info module line; a replacement (``=>``) is what was compiled, so it wins."""
        used = module.replace or module
        return cls(used.path, used.version, used.sum)


@dataclass(frozen=True)
class BinaryInput:
    """One ``go build`` of the image: a main package for one platform."""

    import_path: str
    platform: str  # os/arch[/variant]
    flags: tuple[str, ...] = ()
    ldflags: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # the build environment the backend set (GOOS, GOARCH, CGO_ENABLED...)
    modules: tuple[ModuleInput, ...] = ()  # the modules compiled in (from the binary's build info)

    def to_json(self) -> dict[str, Any]:
        return {
            "import_path": self.import_path,
            "platform": self.platform,
            "flags": list(self.flags),
            "ldflags": list(self.ldflags),
            "env": [list(kv) for kv in self.env],
            "modules": [m.to_json() for m in self.modules],
        }

    @classmethod
    def from_json(cls, value: Any, where: str) -> BinaryInput:
        doc = _object(value, where)
        env = doc.get("env") or []
        if not isinstance(env, list) or not all(
            isinstance(kv, list) and len(kv) == 2 and all(isinstance(x, str) for x in kv) for kv in env
        ):
            raise ValueError(f"{where}.env: expected a list of [name, value] pairs")
        modules = doc.get("modules") or []
        if not isinstance(modules, list):
            raise ValueError(f"{where}.modules: expected a list")
        return cls(
            import_path=_string(doc.get("import_path"), f"{where}.import_path"),
            platform=_string(doc.get("platform"), f"{where}.platform"),
            flags=_strings(doc.get("flags") or [], f"{where}.flags"),
            ldflags=_strings(doc.get("ldflags") or [], f"{where}.ldflags"),
            env=tuple((k, v) for k, v in env),
            modules=tuple(ModuleInput.from_json(m, f"{where}.modules[{i}]") for i, m in enumerate(modules)),
        )

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
class BaseImageInput:
    """The base image as written (reference, ``scratch`` excluded, or ``./layout``) and the
    digest of the manifest or index the build used."""

    reference: str
    digest: str

    def __post_init__(self) -> None:
        check_digest(self.digest, f"base image {self.reference}")

    def to_json(self) -> dict[str, Any]:
        return {"reference": self.reference, "digest": self.digest}

    @classmethod
    def from_json(cls, value: Any, where: str) -> BaseImageInput:
        doc = _object(value, where)
        return cls(_string(doc.get("reference"), f"{where}.reference"), _string(doc.get("digest"), f"{where}.digest"))


@dataclass(frozen=True)
class SourceInput:
    """The git checkout the image was built from: remote URL ("" when none), commit, and whether
    the work tree had uncommitted changes."""

    repository: str
    revision: str
    dirty: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "repository", strip_url_credentials(self.repository))
        if not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", self.revision):
            raise ValueError(f"source revision {self.revision!r} is not a full git commit hash")

    def to_json(self) -> dict[str, Any]:
        return {"repository": self.repository, "revision": self.revision, "dirty": self.dirty}

    @classmethod
    def from_json(cls, value: Any, where: str) -> SourceInput:
        doc = _object(value, where)
        dirty = doc.get("dirty", False)
        if not isinstance(dirty, bool):
            raise ValueError(f"{where}.dirty: expected true or false")
        return cls(
            _string(doc.get("repository"), f"{where}.repository", optional=True),
            _string(doc.get("revision"), f"{where}.revision"),
            dirty,
        )


@dataclass(frozen=True)
class ProvenanceInputs:
    """Everything the provenance of one ``ko_image`` says; filled by the Pants rules."""

    target: str  # the Pants address, e.g. "src/go/cmd/server:server"
    go_version: str  # "go1.26.8"
    binaries: tuple[BinaryInput, ...]
    base_image: BaseImageInput | None = None  # None for scratch
    source: SourceInput | None = None  # None outside git
    pants_version: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "go_version": self.go_version,
            "binaries": [b.to_json() for b in self.binaries],
            "base_image": self.base_image.to_json() if self.base_image else None,
            "source": self.source.to_json() if self.source else None,
            "pants_version": self.pants_version,
        }

    @classmethod
    def from_json(cls, value: Any, where: str = "provenance inputs") -> ProvenanceInputs:
        doc = _object(value, where)
        binaries = doc.get("binaries")
        if not isinstance(binaries, list) or not binaries:
            raise ValueError(f"{where}.binaries: expected a non-empty list")
        base, source = doc.get("base_image"), doc.get("source")
        return cls(
            target=_string(doc.get("target"), f"{where}.target"),
            go_version=_string(doc.get("go_version"), f"{where}.go_version"),
            binaries=tuple(BinaryInput.from_json(b, f"{where}.binaries[{i}]") for i, b in enumerate(binaries)),
            base_image=BaseImageInput.from_json(base, f"{where}.base_image") if base is not None else None,
            source=SourceInput.from_json(source, f"{where}.source") if source is not None else None,
            pants_version=_string(doc.get("pants_version"), f"{where}.pants_version", optional=True),
        )


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
