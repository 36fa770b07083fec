"""Select Kubernetes documents by label selector, keeping the survivors byte-for-byte.

ko's semantics (`ko resolve -l`, ko-build/ko `pkg/resolve/selector.go`):
- null documents (empty, `null`, `~`) are dropped;
- a document that is not a Kubernetes object (a mapping with string `apiVersion` and `kind`)
  is an error, because a selector can only be applied to objects;
- `kind: List`: the `items` are filtered and the document is kept if any item survives
  (null items are dropped, items that are not objects are an error);
- any other document is matched on `metadata.labels`.

One deliberate difference from ko: an object without `metadata.labels` is matched against an
empty label set (so `!canary` or `tier notin (web)` select it), as `kubectl get -l` does;
ko's `objMatchesSelector` never selects such an object.

ko decodes and re-encodes, which loses comments and layout; here whole documents (and
non-matching List items) are cut out of the text instead, so what survives is unchanged.
Each document owns the text from its `---` line (or the file start, or just after the
previous document's `...` line) up to the next document's, so comments above a `---` travel
with the document before it, and comments after the last document with the last one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Optional, TypeVar

from pants_backend_ko.k8s.resolve import render_ranges
from pants_backend_ko.k8s.scan import (
    LINE_BREAK_CHARS,
    NULL_TAG,
    STR_TAG,
    ManifestError,
    MappingNode,
    Node,
    ParsedDocument,
    ParsedStream,
    Range,
    ScalarNode,
    SequenceNode,
    parse_stream,
)
from pants_backend_ko.k8s.selector import Selector, parse_selector


def _line_start(text: str, offset: int) -> int:
    i = offset
    while i > 0 and text[i - 1] not in LINE_BREAK_CHARS:
        i -= 1
    return i


def _after_line(text: str, offset: int) -> int:
    """The offset just past the line break that ends the line containing `offset`."""
    for i in range(offset, len(text)):
        if text[i] in LINE_BREAK_CHARS:
            return i + 2 if text[i] == "\r" and text[i + 1 : i + 2] == "\n" else i + 1
    return len(text)


def _location(stream: ParsedStream, node: Node | None) -> str:
    mark = node.start_mark if node is not None else None
    if mark is None:  # only roots and sequence items keep their marks (scan.py)
        return stream.path
    return f"{stream.path}:{mark.line + 1}:{mark.column + 1}"


N = TypeVar("N", bound=Node)


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == NULL_TAG


def _first_value(node: MappingNode, key: str, kind: type[N]) -> N | None:
    """The value of the first `key:` whose value is a `kind` node (ko's ValuesForMap)."""
    for k, v in node.value:
        if isinstance(k, ScalarNode) and k.value == key and isinstance(v, kind):
            return v
    return None


def _string_value(node: MappingNode, key: str) -> str | None:
    for k, v in node.value:
        if isinstance(k, ScalarNode) and k.value == key:
            if isinstance(v, ScalarNode) and v.tag == STR_TAG:
                return v.value
    return None


def object_kind(node: Node) -> str | None:
    """`kind` of a Kubernetes object node, or None if it lacks string apiVersion and kind."""
    if not isinstance(node, MappingNode) or _string_value(node, "apiVersion") is None:
        return None
    return _string_value(node, "kind")


def object_labels(node: MappingNode) -> dict[str, str]:
    """`metadata.labels` as raw scalar text (`v: 1` gives "1"); first duplicate key wins."""
    labels: dict[str, str] = {}
    metadata = _first_value(node, "metadata", MappingNode)
    if metadata is None:
        return labels
    label_map = _first_value(metadata, "labels", MappingNode)
    if label_map is None:
        return labels
    for k, v in label_map.value:
        if isinstance(k, ScalarNode) and k.value not in labels:
            labels[k.value] = v.value if isinstance(v, ScalarNode) else ""
    return labels


def _block_item_removals(
    stream: ParsedStream, items: SequenceNode, spans: Sequence[Range], keep: Sequence[bool]
) -> list[Range]:
    """Whole-line ranges of the dropped items of a block sequence.

    An item owns the text from its `-` line up to the next item's `-` line; the last item
    owns up to the line of the token after the sequence (its trailing comments included).
    """
    text = stream.text
    starts = []
    for start, _ in spans:
        dash = stream.block_entry_before(start)
        line_start = _line_start(text, dash)
        starts.append(line_start if not text[line_start:dash].strip(" \t") else dash)
    assert items.end_mark is not None, "sequences keep both ends (scan.py)"
    seq_end = items.end_mark.index
    line_start = _line_start(text, seq_end)
    ends = starts[1:] + [line_start if not text[line_start:seq_end].strip(" \t") else seq_end]
    return [(starts[i], ends[i]) for i in range(len(spans)) if not keep[i]]


def _flow_item_removals(spans: Sequence[Range], keep: Sequence[bool]) -> list[Range]:
    """Ranges of the dropped items of a flow sequence `[a, b, c]`, commas included.

    A dropped item before the last kept one goes with the text up to the next item; the
    dropped items after it go as one range from the end of the last kept item, which takes
    their leading commas and keeps a trailing comma, if any, after the last kept item.
    """
    last_kept = max(i for i, k in enumerate(keep) if k)
    removals = [(spans[i][0], spans[i + 1][0]) for i in range(last_kept) if not keep[i]]
    if last_kept < len(spans) - 1:
        removals.append((spans[last_kept][1], spans[-1][1]))
    return removals


def _select_document(stream: ParsedStream, document: ParsedDocument, selector: Selector) -> list[Range] | None:
    """None to drop the document, else the ranges to cut out of it (List items)."""
    root = document.root
    assert root is not None, "selection needs a stream parsed with structure=True"
    if _is_null(root):
        return None
    kind = object_kind(root)
    if kind is None:
        raise ManifestError(
            f"{_location(stream, root)}: document is not a Kubernetes object (it needs string"
            " apiVersion and kind), so the label selector cannot be applied to it;"
            " add apiVersion and kind, or render this file without a selector"
        )
    assert isinstance(root, MappingNode)
    if kind != "List":
        return [] if selector.matches(object_labels(root)) else None

    items = _first_value(root, "items", SequenceNode)
    if items is None:
        raise ManifestError(
            f"{_location(stream, root)}: this kind: List has no items sequence, so the label"
            " selector cannot be applied to it; add items: [...] or render without a selector"
        )
    keep = []
    for index, item in enumerate(items.value):
        if _is_null(item):
            keep.append(False)
            continue
        if not isinstance(item, MappingNode) or object_kind(item) is None:
            raise ManifestError(
                f"{_location(stream, item)}: item {index} of this kind: List is not a Kubernetes"
                " object (it needs string apiVersion and kind), so the label selector cannot be"
                " applied to it; fix the item or render without a selector"
            )
        keep.append(selector.matches(object_labels(item)))
    if not any(keep):
        return None
    if all(keep):
        return []
    spans = stream.item_spans(items)
    if len(spans) != len(items.value):
        raise AssertionError("item spans were not recorded for every List item")
    if items.flow_style:
        return _flow_item_removals(spans, keep)
    return _block_item_removals(stream, items, spans, keep)


def _document_cuts(stream: ParsedStream) -> list[int]:
    """Offsets that split the text into one segment per document (see module doc)."""
    text, documents = stream.text, stream.documents
    cuts = [0]
    for previous, document in zip(documents, documents[1:]):
        if previous.end_explicit:
            cuts.append(_after_line(text, previous.end))  # just after the `...` line
        else:
            # PyYAML only allows an implicit start for the first document, so this is `---`.
            cuts.append(_line_start(text, document.start))
    cuts.append(len(text))
    return cuts


def _subtract(start: int, end: int, removals: Sequence[Range]) -> list[Range]:
    ranges = []
    cursor = start
    for a, b in sorted(removals):
        if a > cursor:
            ranges.append((cursor, a))
        cursor = max(cursor, b)
    if end > cursor:
        ranges.append((cursor, end))
    return ranges


def _check_list_still_parses(stream: ParsedStream, location: str, ranges: Sequence[Range]) -> None:
    """Cutting List items out must leave valid YAML (an alias into a dropped item would not)."""
    try:
        parse_stream("".join(stream.text[a:b] for a, b in ranges), stream.path)
    except ManifestError as e:
        raise ManifestError(
            f"{location}: dropping the List items that do not match the"
            f" selector leaves invalid YAML ({str(e).split(': ', 1)[-1]}); probably a kept item"
            " uses an alias to an anchor in a dropped item: inline the value or drop the selector"
        ) from None


# What selection decided for one document: None to drop it, else the ranges to cut out of it,
# and where the document is (for a message about the cut).
_Decision = tuple[Optional[list[Range]], str]


def _decide(stream: ParsedStream, document: ParsedDocument, selector: Selector) -> _Decision:
    removals = _select_document(stream, document, selector)
    return removals, _location(stream, document.root) if removals else ""


def _kept_ranges(stream: ParsedStream, decisions: Sequence[_Decision]) -> list[Range]:
    cuts = _document_cuts(stream)
    kept: list[Range] = []
    for index, (removals, location) in enumerate(decisions):
        if removals is None:
            continue
        ranges = _subtract(cuts[index], cuts[index + 1], removals)
        if removals:
            _check_list_still_parses(stream, location, ranges)
        kept.extend(ranges)
    return kept


def selected_ranges(stream: ParsedStream, selector: Selector) -> list[Range]:
    """The sorted, disjoint text ranges that survive `selector` (see module doc)."""
    return _kept_ranges(stream, [_decide(stream, document, selector) for document in stream.documents])


def parse_selected(text: str, path: str, selector: Selector) -> tuple[ParsedStream, list[Range]]:
    """`parse_stream(structure=True)` and `selected_ranges` in one pass that drops each
    document's nodes once its selection is decided: the memory a selection needs does not grow
    with the number of documents (a 50 MB file held ~150 MB of nodes otherwise). The stream
    returned has no nodes (`ParsedDocument.root` is None)."""
    decisions: list[_Decision] = []
    stream = parse_stream(
        text,
        path,
        structure=True,
        on_document=lambda reading, document: decisions.append(_decide(reading, document, selector)),
    )
    return stream, _kept_ranges(stream, decisions)


def _as_selector(selector: Selector | str) -> Selector:
    return parse_selector(selector) if isinstance(selector, str) else selector


def select_stream(stream: ParsedStream, selector: Selector | str) -> str:
    """The documents of a parsed file (`structure=True`) that match `selector`, byte-for-byte."""
    return "".join(stream.text[a:b] for a, b in selected_ranges(stream, _as_selector(selector)))


def select_documents(text: str, path: str, selector: Selector | str) -> str:
    """The documents of `text` that match `selector`, each byte-for-byte as written.

    `selector` is a Selector or a label-selector string (`app=web,tier notin (db)`). Returns
    "" when no document survives. Raises ManifestError for malformed YAML and for documents
    or List items that are not Kubernetes objects, ValueError for a malformed selector.
    """
    selector = _as_selector(selector)
    return select_stream(parse_stream(text, path, structure=True), selector)


def _selector_or_none(selector: Selector | str | None) -> Selector | None:
    if isinstance(selector, str) and not selector.strip():
        return None  # ko's `-l ""`
    return None if selector is None else _as_selector(selector)


def render_stream(
    stream: ParsedStream,
    resolved: Mapping[str, str],
    selector: Selector | str | None = None,
    known: Sequence[str] = (),
) -> str:
    """`render_file` for a file already parsed (with `structure=True` when there is a selector)."""
    parsed_selector = _selector_or_none(selector)
    kept = [(0, len(stream.text))] if parsed_selector is None else selected_ranges(stream, parsed_selector)
    return render_ranges(stream, kept, resolved, known)


def render_file(
    text: str,
    path: str,
    resolved: Mapping[str, str],
    selector: Selector | str | None = None,
    known: Sequence[str] = (),
) -> str:
    """Select documents (if a selector is given), then resolve `ko://` references.

    Selection comes first, as in ko, so references in dropped documents need no image: they
    are neither required in `resolved` nor checked. Error locations refer to `text` as given.
    An empty selector string means no selection (ko's `-l ""`).
    """
    structure = _selector_or_none(selector) is not None
    return render_stream(parse_stream(text, path, structure=structure), resolved, selector, known)
