"""What the Go layer writer (`pants_backend_ko/_golayer/main.go`) is asked and answers.

The writer makes every byte of ko's layers in Go, as ko does (Go's archive/tar, and
go-containerregistry's gzip: `compress/gzip` at `BestSpeed`), so blobs and digests are ko's
when the same Go version builds both; it also writes the docker archive of `pants package`.
The rules only exchange these small messages with it:

- `LayersRequest` (the entries of each layer, in order: a name, `dir` or `file`, the file
  whose bytes it holds, mode, mtime, extra PAX records, Linux capabilities) -> `LayersWritten` (digest, diffID and
  size of each blob, written to `<out>/<hex>`; `go version -m` text of the binaries asked for);
- `ArchiveRequest` (the entries of a docker archive, in order) -> a tar file.

`kodata_layer` and `app_layer` give ko's two layers as entry lists (ko's `tarKoData` and
`tarBinary`, `pkg/build/gobuild.go`), with the same order and checks as the in-memory writer
of `layers.py`. A layer is a list of entries, and an entry may carry PAX records: an extra
layer (a debugger) is one more entry; ko's `linux_capabilities` are a field of the binary's
entry that the writer turns into the `SCHILY.xattr.security.capability` record (its value is
binary, so the bytes are made in Go, as ko's `caps.XattrBytes`).

Each message is a `codec.Message` (a frozen dataclass with its JSON codec, `encode`/`decode`);
the Go side has the same fields and refuses unknown ones. No Pants imports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pants_backend_ko.codec import Message, check_kind
from pants_backend_ko.golang.frozendict import FrozenDict
from pants_backend_ko.oci.capabilities import FileCapabilities
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
    "kodata_layer",
    "app_layer",
]

LAYER_MODE = 0o555  # ko's fixed mode for every entry of its layers
ENTRY_TYPES = ("dir", "file")


@dataclass(frozen=True)
class LayerEntry(Message):
    name: str  # the path in the tar, as ko writes it (`/var/run/ko/x`, `ko-app`)
    type: str  # one of ENTRY_TYPES
    source: str = ""  # the sandbox file holding a "file" entry's bytes
    mode: int = LAYER_MODE
    mtime: int | None = None  # seconds since 1970; None is Go's zero time (ko's default)
    pax: Mapping[str, str] = field(default_factory=FrozenDict)  # extra PAX records (text values)
    # The file's Linux capabilities: the writer encodes them (binary bytes JSON cannot carry
    # as a string) as the PAX record SCHILY.xattr.security.capability, as ko does.
    capabilities: FileCapabilities | None = None

    def __post_init__(self) -> None:
        check_kind(self.type, ENTRY_TYPES, "entry type")
        if (self.type == "file") != bool(self.source):
            raise ValueError(f"layer entry {self.name!r}: a file needs a source, a directory none")
        object.__setattr__(self, "pax", FrozenDict(self.pax))


@dataclass(frozen=True)
class Layer(Message):
    entries: tuple[LayerEntry, ...]


@dataclass(frozen=True)
class BuildInfoRequest(Message):
    name: str  # how the `go version -m` header names the binary (its path in the image)
    source: str  # the sandbox file


@dataclass(frozen=True)
class LayersRequest(Message):
    """What `golayer layers` reads."""

    out: str  # the folder blobs are written to, as `<hex>`
    layers: tuple[Layer, ...]
    buildinfo: tuple[BuildInfoRequest, ...] = ()


@dataclass(frozen=True)
class WrittenLayer(Message):
    digest: str  # sha256 of the gzip'd blob
    diff_id: str  # sha256 of the tar
    size: int  # bytes of the blob

    def __post_init__(self) -> None:
        check_digest(self.digest, "layer digest")
        check_digest(self.diff_id, "layer diff_id")
        if self.size < 0:
            raise ValueError(f"layer size {self.size} is negative")


@dataclass(frozen=True)
class LayersWritten(Message):
    """What `golayer layers` prints."""

    layers: tuple[WrittenLayer, ...]
    buildinfo: tuple[str, ...]  # `go version -m` output, one per BuildInfoRequest


@dataclass(frozen=True)
class ArchiveEntry(Message):
    name: str
    dir: bool
    source: str = ""  # the sandbox file holding a file entry's bytes


@dataclass(frozen=True)
class ArchiveRequest(Message):
    """What `golayer archive` reads."""

    out: str
    entries: tuple[ArchiveEntry, ...]


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


def app_layer(binaries: Sequence[tuple[str, str]], capabilities: FileCapabilities | None = None) -> Layer:
    """ko's app layer (`tarBinary`): the `ko-app` directory, then `/ko-app/<name>` for each
    (name, sandbox file) pair, in the order given (several binaries: beyond ko).

    `capabilities` (ko's `linux_capabilities`) go on the first binary, the entrypoint: ko's
    one binary; the others of `binaries` (beyond ko) get none."""
    check_binary_names([name for name, _ in binaries])
    entries = [LayerEntry("ko-app", "dir")]  # no leading or trailing slash, as in ko
    entries.extend(
        LayerEntry(f"{APP_DIR}/{name}", "file", source, capabilities=capabilities if i == 0 else None)
        for i, (name, source) in enumerate(binaries)
    )
    return Layer(tuple(entries))
