"""The `scan` and `render` verbs: a ko_manifests target's YAML, read outside Pants' own process.

`scan` parses the files once (libyaml, `k8s/scan.py`) and answers which `ko://` import paths
they refer to, in every document and in those a label selector keeps (dependency inference, and
the images a render needs); it also writes a `SplicePlan`: the ranges the selector keeps and
where each `ko://` scalar in them is. `render` splices each image reference into the text from
that plan (`k8s/resolve.py`, byte for byte) without parsing YAML again, and writes the files one
by one and as one stream. The rules run both as cached Processes: Pants hands the files to a
sandbox and captures the results from disk, so its own memory never holds the YAML (a 50 MB
file cost Pants ~11 bytes per byte it was handed), and a later run takes both from the cache.

Bad YAML, a bad reference or a file that is not UTF-8 is the answer's `ManifestProblem` (the
verb succeeds: the problem is as deterministic as the files, and is cached with them).
"""

from __future__ import annotations

from pathlib import Path

from pants_backend_ko.codec import decode, encode
from pants_backend_ko.errors import KoError
from pants_backend_ko.k8s.documents import parse_selected
from pants_backend_ko.k8s.resolve import references_in, render_ranges
from pants_backend_ko.k8s.scan import KoScalar, Mark, ParsedStream, parse_stream
from pants_backend_ko.k8s.selector import parse_selector
from pants_backend_ko.tool.messages import (
    COMBINED_MANIFEST,
    RENDERED_FILES_DIR,
    SPLICE_PLAN,
    FileSplices,
    ManifestProblem,
    ManifestRender,
    ManifestScan,
    ReferenceSite,
    RenderedManifestFiles,
    ScannedManifests,
    SplicePlan,
)


def _problem(error: Exception) -> ManifestProblem:
    if isinstance(error, KoError):  # ManifestError too: its `where` is `path:line:col`
        return ManifestProblem(error.what, error.where, error.fix)
    return ManifestProblem(str(error) or type(error).__name__)


def _read_text(folder: Path, path: str) -> str:
    data = (folder / path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise KoError(f"not UTF-8 text (byte {e.start})", where=path, fix="Kubernetes YAML must be UTF-8.") from None


def scan_manifests(request: ManifestScan, folder: Path, out: Path) -> ScannedManifests:
    """The first site of each import path, in every document and in the selected ones; the
    `SplicePlan` of the selected ones in `out/SPLICE_PLAN` (not written on a problem)."""
    selector = parse_selector(request.selector) if request.selector.strip() else None
    every: dict[str, ReferenceSite] = {}
    selected: dict[str, ReferenceSite] = {}
    plan = []
    try:
        for path in request.files:
            text = _read_text(folder, path)
            # Ranges of the file itself, not a cut-down copy: lines stay the file's lines.
            if selector is None:
                stream, kept = parse_stream(text, path), [(0, len(text))]
            else:
                stream, kept = parse_selected(text, path, selector)
            del text
            for ref in references_in(stream, [(0, len(stream.text))]):
                every.setdefault(ref.import_path, ReferenceSite(ref.import_path, stream.path, ref.line))
            if selector is not None:
                for ref in references_in(stream, kept):
                    selected.setdefault(ref.import_path, ReferenceSite(ref.import_path, stream.path, ref.line))
            plan.append(FileSplices(stream.path, tuple(kept), _scalars_in(stream, kept)))
            del stream  # before the next file is parsed
    except (KoError, ValueError) as e:
        return ScannedManifests(problem=_problem(e))
    out.mkdir(parents=True, exist_ok=True)
    (out / SPLICE_PLAN).write_bytes(encode(SplicePlan(tuple(plan)), compact=True))
    return ScannedManifests(tuple(every.values()), tuple((selected if selector is not None else every).values()))


def _scalars_in(stream: ParsedStream, kept: list[tuple[int, int]]) -> tuple[tuple[int, int, int, int, str, str], ...]:
    """The `ko://` scalars inside the `kept` ranges (sorted, disjoint), as `FileSplices` holds them."""
    scalars = []
    ranges = iter(kept)
    current = next(ranges, None)
    for scalar in stream.ko_scalars:  # in file order
        index = scalar.start.index
        while current is not None and current[1] <= index:
            current = next(ranges, None)
        if current is None:
            break
        if current[0] <= index:
            start = scalar.start
            scalars.append((index, start.line, start.column, scalar.end, scalar.style or "", scalar.value))
    return tuple(scalars)


def _stream_of(text: str, splices: FileSplices) -> ParsedStream:
    scalars = tuple(
        KoScalar(value, Mark(index, line, column), end, style or None)
        for index, line, column, end, style, value in splices.scalars
    )
    return ParsedStream.of_scalars(text, splices.path, scalars)


def render_manifests(request: ManifestRender, folder: Path, out: Path) -> RenderedManifestFiles:
    """Each file of the plan rendered to `out/RENDERED_FILES_DIR/<path>`, and all of them, in
    order, to `out/COMBINED_MANIFEST` (files with no document left are skipped there, the others
    joined by `---` lines). On a problem nothing is left in `out`."""
    plan = decode(SplicePlan, (folder / request.plan).read_bytes(), request.plan)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        with open(out / COMBINED_MANIFEST, "w", encoding="utf-8", newline="") as combined:
            written.append(out / COMBINED_MANIFEST)
            first = True
            for splices in plan.files:
                text = _read_text(folder, splices.path)
                if request.resolve:
                    text = render_ranges(_stream_of(text, splices), splices.kept, request.resolved, request.known)
                else:
                    text = "".join(text[a:b] for a, b in splices.kept)
                rendered = out / RENDERED_FILES_DIR / splices.path
                rendered.parent.mkdir(parents=True, exist_ok=True)
                with open(rendered, "w", encoding="utf-8", newline="") as f:
                    written.append(rendered)
                    f.write(text)
                if text.strip():
                    combined.write("" if first else "---\n")
                    combined.write(text if text.endswith("\n") else text + "\n")
                    first = False
    except (KoError, ValueError) as e:
        for path in written:
            path.unlink()
        return RenderedManifestFiles(problem=_problem(e))
    return RenderedManifestFiles()
