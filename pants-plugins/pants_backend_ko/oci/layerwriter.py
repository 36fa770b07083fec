"""What the Go layer writer (`pants_backend_ko/_golayer/main.go`) is asked and answers.

The writer makes every byte of ko's layers in Go, as ko does (Go's archive/tar, and
go-containerregistry's gzip: `compress/gzip` at `BestSpeed`), so blobs and digests are ko's
when the same Go version builds both; it also writes the docker archive of `pants package`.
The rules only exchange these small messages with it:

- `LayersRequest` (the entries of each layer, in order: a name, `dir` or `file`, the file
  whose bytes it holds, mode, mtime, extra PAX records) -> `LayersWritten` (digest, diffID and
  size of each blob, written to `<out>/<hex>`; `go version -m` text of the binaries asked for);
- `ArchiveRequest` (the entries of a docker archive, in order) -> a tar file.

`kodata_layer` and `app_layer` give ko's two layers as entry lists (ko's `tarKoData` and
`tarBinary`, `pkg/build/gobuild.go`), with the same order and checks as the in-memory writer
of `layers.py`. A layer is a list of entries, and an entry may carry PAX records: an extra
layer (a debugger) or an xattr (`SCHILY.xattr.security.capability`, ko's `linux_capabilities`)
is one more entry or record, not a new code path.

Each message is a frozen dataclass with its JSON codec; the Go side has the same fields.
No Pants imports.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pants_backend_ko.golang.frozendict import FrozenDict
from pants_backend_ko.oci.digest import check_digest
from pants_backend_ko.oci.layers import APP_DIR, KODATA_PARENTS, KODATA_ROOT, check_binary_names, kodata_tree

__all__ = [
    "LayerEntry",
    "Layer",
    "BuildInfoRequest",
    "LayersRequest",
    "WrittenLayer",
    "LayersWritten",
    "ArchiveEntry",
    "ArchiveRequest",
    "LayerWriterError",
    "kodata_layer",
    "app_layer",
]

LAYER_MODE = 0o555  # ko's fixed mode for every entry of its layers


class LayerWriterError(ValueError):
    """An answer of the layer writer that is not what it writes (a mismatched tool)."""


def _get(value: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(value, dict) or key not in value or not isinstance(value[key], kind):
        raise LayerWriterError(f"{where}: expected {key!r} of type {kind}, got {value!r:.200}")
    return value[key]


@dataclass(frozen=True)
class LayerEntry:
    name: str  # the path in the tar, as ko writes it (`/var/run/ko/x`, `ko-app`)
    type: str  # "dir" or "file"
    source: str = ""  # the sandbox file holding a "file" entry's bytes
    mode: int = LAYER_MODE
    mtime: int | None = None  # seconds since 1970; None is Go's zero time (ko's default)
    pax: FrozenDict[str, str] = field(default_factory=FrozenDict)

    def __post_init__(self) -> None:
        if self.type not in ("dir", "file"):
            raise ValueError(f"layer entry {self.name!r}: type must be 'dir' or 'file', got {self.type!r}")
        if (self.type == "file") != bool(self.source):
            raise ValueError(f"layer entry {self.name!r}: a file needs a source, a directory none")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "source": self.source,
            "mode": self.mode,
            "mtime": self.mtime,
            "pax": dict(self.pax),
        }


@dataclass(frozen=True)
class Layer:
    entries: tuple[LayerEntry, ...]

    def to_json(self) -> dict[str, Any]:
        return {"entries": [e.to_json() for e in self.entries]}


@dataclass(frozen=True)
class BuildInfoRequest:
    name: str  # how the `go version -m` header names the binary (its path in the image)
    source: str  # the sandbox file

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source}


@dataclass(frozen=True)
class LayersRequest:
    out: str  # the folder blobs are written to, as `<hex>`
    layers: tuple[Layer, ...]
    buildinfo: tuple[BuildInfoRequest, ...] = ()

    def to_bytes(self) -> bytes:
        value = {
            "out": self.out,
            "layers": [layer.to_json() for layer in self.layers],
            "buildinfo": [b.to_json() for b in self.buildinfo],
        }
        return json.dumps(value, sort_keys=True).encode()


@dataclass(frozen=True)
class WrittenLayer:
    digest: str  # sha256 of the gzip'd blob
    diff_id: str  # sha256 of the tar
    size: int  # bytes of the blob

    @classmethod
    def from_json(cls, value: Any, where: str) -> WrittenLayer:
        try:
            digest = check_digest(_get(value, "digest", str, where), f"{where} digest")
            diff_id = check_digest(_get(value, "diff_id", str, where), f"{where} diff_id")
        except ValueError as e:
            raise LayerWriterError(str(e)) from None
        size = _get(value, "size", int, where)
        if isinstance(size, bool) or size < 0:
            raise LayerWriterError(f"{where}: size {size!r} is not a byte count")
        return cls(digest, diff_id, size)


@dataclass(frozen=True)
class LayersWritten:
    layers: tuple[WrittenLayer, ...]
    buildinfo: tuple[str, ...]  # `go version -m` output, one per BuildInfoRequest

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> LayersWritten:
        try:
            value = json.loads(data)
        except ValueError as e:
            raise LayerWriterError(f"{where}: not JSON ({e})") from None
        layers = tuple(
            WrittenLayer.from_json(v, f"{where} layer {i}") for i, v in enumerate(_get(value, "layers", list, where))
        )
        buildinfo = _get(value, "buildinfo", list, where)
        if not all(isinstance(text, str) for text in buildinfo):
            raise LayerWriterError(f"{where}: buildinfo must be a list of strings")
        return cls(layers, tuple(buildinfo))


@dataclass(frozen=True)
class ArchiveEntry:
    name: str
    dir: bool
    source: str = ""  # the sandbox file holding a file entry's bytes

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dir": self.dir, "source": self.source}


@dataclass(frozen=True)
class ArchiveRequest:
    out: str
    entries: tuple[ArchiveEntry, ...]

    def to_bytes(self) -> bytes:
        return json.dumps({"out": self.out, "entries": [e.to_json() for e in self.entries]}, sort_keys=True).encode()


def kodata_layer(files: Mapping[str, str], dirs: Iterable[str] = (), epoch: int | None = None) -> Layer:
    """ko's kodata layer (`tarKoData`): `/var`, `/var/run`, `/var/run/ko`, then the kodata
    tree in `filepath.Walk` order. `files` maps paths relative to kodata/ to sandbox files."""
    entries = [LayerEntry(name, "dir", mtime=epoch) for name in KODATA_PARENTS]
    for path, is_dir in kodata_tree(files, dirs):
        name = f"{KODATA_ROOT}/{path}"
        entries.append(
            LayerEntry(name, "dir", mtime=epoch) if is_dir else LayerEntry(name, "file", files[path], mtime=epoch)
        )
    return Layer(tuple(entries))


def app_layer(binaries: Sequence[tuple[str, str]]) -> Layer:
    """ko's app layer (`tarBinary`): the `ko-app` directory, then `/ko-app/<name>` for each
    (name, sandbox file) pair, in the order given (several binaries: beyond ko)."""
    check_binary_names([name for name, _ in binaries])
    entries = [LayerEntry("ko-app", "dir")]  # no leading or trailing slash, as in ko
    entries.extend(LayerEntry(f"{APP_DIR}/{name}", "file", source) for name, source in binaries)
    return Layer(tuple(entries))
