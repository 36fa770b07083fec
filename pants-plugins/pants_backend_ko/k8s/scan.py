"""One streaming pass over a YAML file: what resolution and selection need, and nothing more.

PyYAML's pure-Python loader composed every node of a file with two `Mark`s each: ~10 s and
~100 MB per MB of YAML, and the file was composed four times per run. Here libyaml (PyYAML's
`CSafeLoader` parser, when PyYAML was built with it; the pure-Python parser otherwise) turns
the text into events, and one loop over them, with an explicit stack (no recursion, so no
depth limit), keeps:

- every `ko://` scalar: `tag:yaml.org,2002:str` (untagged plain or quoted, `!!str`, or the
  non-specific `!`) whose raw value starts with `ko://`, keys included, each node once (an
  alias is not a second one), with the offset of the scalar itself after any anchor or tag;
- each document's start and end (explicit or not);
- with `structure=True`, for label selection, a node tree reduced to what a selector reads:
  mappings keep only `apiVersion`, `kind`, `metadata`, `labels` and `items` (all pairs under
  `labels`, and in anchored mappings, which may be aliased anywhere), sequences keep their
  items with the span of each as written (an alias at the `*alias`). Anything else is seen
  and dropped, so memory follows what the selector needs, not the file.

Offsets are character offsets into the `str` (libyaml counts characters too; it skips a
leading byte-order mark, which is added back). Positions of `-` entry indicators, needed only
to cut block-sequence items, come from a token scan on first use.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from yaml.nodes import ScalarNode as _YamlScalarNode
from yaml.tokens import BlockEntryToken

from pants_backend_ko.errors import KoError
from pants_backend_ko.oci.naming import KO_SCHEME

try:  # libyaml: the same events, ~20 times faster
    from yaml import CSafeLoader as _EventSource

    LIBYAML = True
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _EventSource  # type: ignore[assignment]

    LIBYAML = False

STR_TAG = "tag:yaml.org,2002:str"
NULL_TAG = "tag:yaml.org,2002:null"
MAP_TAG = "tag:yaml.org,2002:map"
SEQ_TAG = "tag:yaml.org,2002:seq"
# Characters PyYAML and libyaml (YAML 1.1) treat as line breaks; `\r\n` counts as one break.
LINE_BREAK_CHARS = "\n\r\x85\u2028\u2029"
_SEPARATION = " \t" + LINE_BREAK_CHARS
Range = tuple[int, int]  # [start, end) character offsets into a manifest's text

# The keys a label selector reads (documents.py); under `labels`, every pair.
SELECTOR_KEYS = frozenset({"apiVersion", "kind", "metadata", "labels", "items"})
_RESOLVER = yaml.resolver.Resolver()
_SHARED_SCALARS = 4096


class ManifestError(KoError, ValueError):
    """A manifest cannot be resolved; the message is one line starting `<path>:<line>:<col>: `,
    which is also its `where`."""

    def __init__(self, message: str) -> None:
        where, _, what = message.partition(": ")
        super().__init__(what, where=where)


class Mark:
    """A position: character offset, 0-based line and column (as PyYAML's `Mark`)."""

    __slots__ = ("index", "line", "column")

    def __init__(self, index: int, line: int, column: int) -> None:
        self.index, self.line, self.column = index, line, column

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mark) and (self.index, self.line, self.column) == (
            other.index,
            other.line,
            other.column,
        )

    def __hash__(self) -> int:
        return hash((self.index, self.line, self.column))


# The reduced nodes of `structure`: PyYAML's attribute names, without a dict per node. Marks
# are kept where messages or cuts need them: the start of document roots and sequence items,
# both ends of sequences.


class Node:
    __slots__ = ("tag", "value", "start_mark", "end_mark")
    tag: str
    value: Any
    start_mark: Mark | None  # None where no message or cut needs it (see above)
    end_mark: Mark | None


class ScalarNode(Node):
    __slots__ = ("style",)

    def __init__(self, tag: str, value: str, start_mark: Mark | None, end_mark: Mark | None, style: str | None):
        self.tag, self.value, self.start_mark, self.end_mark, self.style = tag, value, start_mark, end_mark, style


class MappingNode(Node):
    __slots__ = ("flow_style",)

    def __init__(self, tag: str, start_mark: Mark | None, flow_style: bool | None) -> None:
        self.tag, self.start_mark, self.end_mark, self.flow_style = tag, start_mark, start_mark, flow_style
        self.value: list[tuple[ScalarNode, Node]] = []


class SequenceNode(Node):
    __slots__ = ("flow_style",)

    def __init__(self, tag: str, start_mark: Mark | None, flow_style: bool | None) -> None:
        self.tag, self.start_mark, self.end_mark, self.flow_style = tag, start_mark, start_mark, flow_style
        self.value: list[Node] = []


class KoScalar:
    """A `ko://` scalar: `start`/`end` of the scalar itself (quotes and block header included,
    anchor and tag excluded), `style` as PyYAML's (None, "'", '"', "|", ">")."""

    __slots__ = ("value", "start", "end", "style")

    def __init__(self, value: str, start: Mark, end: int, style: str | None) -> None:
        self.value, self.start, self.end, self.style = value, start, end, style


class ParsedDocument:
    """One YAML document: its root (with `structure`, else None) and where its markers are.

    `start`: the `%`/`---` line or, if implicit, the first token; `end`: after `...` if
    explicit, else the next token's start (PyYAML's document event marks).
    """

    __slots__ = ("root", "start", "start_explicit", "end", "end_explicit")

    def __init__(self, root: Node | None, start: int, start_explicit: bool, end: int, end_explicit: bool) -> None:
        self.root, self.start, self.start_explicit, self.end, self.end_explicit = (
            root,
            start,
            start_explicit,
            end,
            end_explicit,
        )


@dataclass(frozen=True)
class ParsedStream:
    """What one pass over a file found (see the module doc)."""

    text: str
    path: str
    documents: tuple[ParsedDocument, ...]
    ko_scalars: tuple[KoScalar, ...]  # in file order
    sequence_item_spans: Mapping[int, tuple[Range, ...]]  # id(SequenceNode) -> item spans
    watched: Mapping[int, tuple[str, str]] = field(default_factory=dict)  # start -> (tag, value)
    _block_entries: list[int] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def of_scalars(cls, text: str, path: str, ko_scalars: tuple[KoScalar, ...]) -> ParsedStream:
        """What splicing (`resolve.render_ranges`) needs of a parse, kept from an earlier one:
        the text and its `ko://` scalars; no documents or structure."""
        return cls(text, path, (), ko_scalars, {})

    def item_spans(self, sequence: SequenceNode) -> tuple[Range, ...]:
        """(start, end) of each item of `sequence` as written (aliases at the `*alias`)."""
        return self.sequence_item_spans.get(id(sequence), ())

    def block_entry_before(self, offset: int) -> int:
        """Offset of the last `-` indicator that starts before `offset`."""
        if not self._block_entries:
            self._block_entries.extend(_block_entry_starts(self.text))
        i = bisect.bisect_left(self._block_entries, offset)
        if i == 0:
            raise AssertionError(f"no '-' before offset {offset}")  # the parser guarantees one
        return self._block_entries[i - 1]


def line_and_column(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset, counted as PyYAML's Reader does.

    Line breaks include `\x85`, U+2028 and U+2029 (YAML 1.1), `\r\n` is one break, and a
    byte-order mark takes no column.
    """
    line, column, i = 1, 1, 0
    while i < offset:
        ch = text[i]
        if ch in LINE_BREAK_CHARS:
            if ch == "\r" and i + 1 < len(text) and text[i + 1] == "\n":
                i += 1
            line, column = line + 1, 1
        elif ch != "\ufeff":
            column += 1
        i += 1
    return line, column


def _after_properties(text: str, mark: Mark) -> Mark:
    """Where a node's content starts after its anchor and tag (`&a !!str ko://x`), which its
    event's start includes; only separation (blanks, breaks, comments) can come between."""
    i, n = mark.index, len(text)
    while i < n:
        ch = text[i]
        if ch in _SEPARATION:
            i += 1
        elif ch == "#":
            while i < n and text[i] not in LINE_BREAK_CHARS:
                i += 1
        elif ch == "&" or (ch == "!" and text[i + 1 : i + 2] != "<"):
            while i < n and text[i] not in _SEPARATION:
                i += 1
        elif ch == "!":  # verbatim tag !<...>
            i = text.index(">", i) + 1
        else:
            break
    line, column = mark.line, mark.column
    for ch_index in range(mark.index, i):
        ch = text[ch_index]
        if ch in LINE_BREAK_CHARS:
            if not (ch == "\r" and text[ch_index + 1 : ch_index + 2] == "\n"):
                line, column = line + 1, 0
        elif ch != "\ufeff":
            column += 1
    return Mark(i, line, column)


def _block_entry_starts(text: str) -> list[int]:
    shift = 1 if LIBYAML and text.startswith("\ufeff") else 0
    loader = _EventSource(text)
    try:
        starts: list[int] = []
        while True:
            token = loader.get_token()
            if token is None:
                return starts
            if isinstance(token, BlockEntryToken):
                starts.append(token.start_mark.index + shift)
    finally:
        loader.dispose()


class _Frame:
    """A collection read into a node; collections only walked through share `_WALKED`."""

    __slots__ = ("node", "is_map", "all_keys", "items", "start", "parent", "count", "key", "keep", "spans")

    def __init__(self, node: Node | None, all_keys: bool, items: bool, start: int, parent: _Frame | None) -> None:
        self.node = node
        self.is_map = isinstance(node, MappingNode)
        self.all_keys = all_keys  # a mapping keeps every pair (under `labels`, or anchored), else SELECTOR_KEYS
        self.items = items  # a sequence keeps its items (not when it is a document's root)
        self.start = start
        self.parent = parent  # the built collection the node goes into; None for roots and anchors
        self.count = 0  # nodes read at this level: a mapping's keys are the even ones
        self.key: ScalarNode | None = None  # a mapping's current key
        self.keep = False  # whether the current key's value is kept
        self.spans: list[Range] = []  # a sequence's items as written


_WALKED = _Frame(None, False, False, 0, None)


def plain_scalar_tag(value: str) -> str:
    """The tag an untagged plain scalar with this value loads as (`123` is an int)."""
    return _RESOLVER.resolve(_YamlScalarNode, value, (True, False))


def _scalar_tag(event: ScalarEvent) -> str:
    tag = event.tag
    if tag is None or tag == "!":
        return _RESOLVER.resolve(_YamlScalarNode, event.value, event.implicit)
    return tag


def _error(path: str, text: str, e: Exception) -> ManifestError:
    if isinstance(e, yaml.MarkedYAMLError):
        mark = e.problem_mark or e.context_mark
        problem = str(e.problem or "")
        index = mark.index + (1 if LIBYAML and text.startswith("\ufeff") else 0) if mark is not None else -1
        # libyaml's wording leaves out what it found; say it, as PyYAML does.
        if problem == "found character that cannot start any token" and index >= 0:
            problem = f"found character {text[index : index + 1]!r} that cannot start any token"
        elif problem.startswith("did not find expected") and index >= 0:
            found = repr(text[index]) if index < len(text) else "the end of the file"
            problem = f"{problem}, but found {found}"
        problem = " ".join(p for p in (problem, e.context and f"({e.context})") if p)
        problem = " ".join(problem.split())  # one line, whatever the parser put in the message
        where = f"{mark.line + 1}:{mark.column + 1}" if mark is not None else "1:1"
        return ManifestError(f"{path}:{where}: invalid YAML: {problem or 'cannot parse'}")
    assert isinstance(e, yaml.reader.ReaderError)
    position = e.position + (1 if LIBYAML and text.startswith("\ufeff") else 0)
    line, column = line_and_column(text, position)
    return ManifestError(
        f"{path}:{line}:{column}: invalid YAML: character U+{e.character:04X} is not allowed"
        " (YAML text must be printable Unicode); remove it or escape it in a quoted string"
    )


# Called with the stream being read (its text, path and the current document's item spans; no
# documents or scalars yet) and each document as soon as it is read.
DocumentHook = Callable[["ParsedStream", ParsedDocument], None]


def parse_stream(
    text: str,
    path: str,
    *,
    structure: bool = False,
    watch: frozenset[int] = frozenset(),
    on_document: DocumentHook | None = None,
) -> ParsedStream:
    """One pass over `text` (see the module doc); malformed YAML raises a one-line ManifestError.

    `structure` builds the reduced node trees label selection reads; `watch` lists scalar
    start offsets whose (tag, value) to record (to check a splice). With `on_document`, each
    document is handed to it once read, and then kept without its nodes (`root` None): what
    the stream holds then does not grow with the nodes of the file.
    """
    shift = 1 if LIBYAML and text.startswith("\ufeff") else 0
    loader = _EventSource(text)
    try:
        return _scan(loader, text, path, shift, structure, watch, on_document)
    except (yaml.MarkedYAMLError, yaml.reader.ReaderError) as e:
        raise _error(path, text, e) from None
    finally:
        loader.dispose()


def _mark(m: yaml.Mark, shift: int) -> Mark:
    return Mark(m.index + shift, m.line, m.column)


def _scan(
    loader, text: str, path: str, shift: int, structure: bool, watch: frozenset[int], on_document: DocumentHook | None
) -> ParsedStream:
    get_event = loader.get_event
    documents: list[ParsedDocument] = []
    ko_scalars: list[KoScalar] = []
    spans: dict[int, tuple[Range, ...]] = {}
    watched: dict[int, tuple[str, str]] = {}
    # What a hook sees: one object for the whole pass (its block-entry index is built once).
    reading = ParsedStream(text, path, (), (), spans, watched)
    stack: list[_Frame] = []
    anchors: dict[str, Node | None] = {}
    root: list[Node] = []  # the current document's root, once read
    document_start = None
    # Scalars without a position (keys, mapping values) are shared: `kind: Deployment` a
    # thousand times is one pair of nodes.
    shared: dict[tuple[str, str | None, object], ScalarNode] = {}

    def unplaced_scalar(event: ScalarEvent) -> ScalarNode:
        key = (event.value, event.tag, event.implicit)
        node = shared.get(key)
        if node is None:
            node = ScalarNode(_scalar_tag(event), event.value, None, None, event.style or None)
            if len(shared) < _SHARED_SCALARS:  # keys and kinds repeat; label values mostly do not
                shared[key] = node
        return node

    def place(anchored: bool) -> tuple[bool, _Frame | None, bool]:
        """For a node (not a mapping key) that starts now: (build it, the collection it goes
        into, whether it keeps every key)."""
        if not stack:
            return True, None, anchored  # a document's root
        top = stack[-1]
        if top.node is not None:
            top.count += 1
            if top.is_map and top.keep:  # a kept value
                return True, top, anchored or (top.key is not None and top.key.value == "labels")
            if not top.is_map and top.items:  # a kept item
                return True, top, anchored
        return anchored, None, True  # walked through; an anchored node may be aliased anywhere

    def deliver(node: Node, parent: _Frame | None, start: int, end: int) -> None:
        if parent is None:
            if not stack:
                root.append(node)
        elif parent.is_map:
            parent.node.value.append((parent.key, node))  # type: ignore[union-attr]
        else:
            parent.node.value.append(node)  # type: ignore[union-attr]
            parent.spans.append((start, end))

    def key_position() -> _Frame | None:
        """The built mapping whose key starts now, if any."""
        if stack:
            top = stack[-1]
            if top.is_map and top.count % 2 == 0:
                top.count += 1
                return top
        return None

    while True:
        event = get_event()
        if event is None:
            break
        cls = event.__class__
        if cls is ScalarEvent:
            value = event.value
            anchor = event.anchor
            if value.startswith(KO_SCHEME) and _scalar_tag(event) == STR_TAG:
                start = _mark(event.start_mark, shift)
                if anchor is not None or event.tag is not None:
                    start = _after_properties(text, start)
                ko_scalars.append(KoScalar(value, start, event.end_mark.index + shift, event.style or None))
            if watch:
                index = event.start_mark.index + shift
                if anchor is not None or event.tag is not None:
                    index = _after_properties(text, _mark(event.start_mark, shift)).index
                if index in watch:
                    watched[index] = (_scalar_tag(event), value)
            if not structure:
                if anchor is not None:
                    anchors[anchor] = None
                continue
            if anchor is None and stack and stack[-1].node is None:
                continue  # walked through
            mapping = key_position()
            if mapping is not None:
                mapping.keep = mapping.all_keys or value in SELECTOR_KEYS
                key = unplaced_scalar(event) if mapping.keep or anchor is not None else None
                mapping.key = key if mapping.keep else None
                if anchor is not None:
                    anchors[anchor] = key
                continue
            build, parent, _ = place(anchor is not None)
            node: Node | None = None
            if build:
                start_index, end_index = event.start_mark.index + shift, event.end_mark.index + shift
                if parent is not None and parent.is_map and anchor is None:
                    node = unplaced_scalar(event)
                else:  # roots and items appear in messages: they keep their positions
                    node = ScalarNode(
                        _scalar_tag(event),
                        value,
                        _mark(event.start_mark, shift),
                        _mark(event.end_mark, shift),
                        event.style or None,
                    )
                deliver(node, parent, start_index, end_index)
            if anchor is not None:
                anchors[anchor] = node
        elif cls is MappingStartEvent or cls is SequenceStartEvent:
            anchor = event.anchor
            if not structure:
                if anchor is not None:
                    anchors[anchor] = None
                continue
            if anchor is None and stack and stack[-1].node is None:
                stack.append(_WALKED)
                continue
            mapping = key_position()
            if mapping is not None:  # a collection as a key: no selector reads it, nor its value
                mapping.keep, mapping.key = False, None
                build, parent, all_keys = anchor is not None, None, True
            else:
                build, parent, all_keys = place(anchor is not None)
            if not build:
                stack.append(_WALKED)
                continue
            is_map = cls is MappingStartEvent
            # Roots, items and sequences appear in messages or cuts; a mapping's mappings do not.
            placed = not is_map or parent is None or not parent.is_map or anchor is not None
            mark = _mark(event.start_mark, shift) if placed else None
            tag = event.tag if event.tag not in (None, "!") else (MAP_TAG if is_map else SEQ_TAG)
            node = MappingNode(tag, mark, event.flow_style) if is_map else SequenceNode(tag, mark, event.flow_style)
            if anchor is not None:
                anchors[anchor] = node
            items = bool(stack) or anchor is not None  # a document that is a sequence is no object
            stack.append(_Frame(node, all_keys, items, event.start_mark.index + shift, parent))
        elif cls is MappingEndEvent or cls is SequenceEndEvent:
            if not structure:
                continue
            frame = stack.pop()
            if frame is _WALKED:
                continue
            node = frame.node
            assert node is not None
            end_index = event.end_mark.index + shift
            if not frame.is_map and node.start_mark is not None:  # where cut List items end
                node.end_mark = _mark(event.end_mark, shift)
            if not frame.is_map and frame.items:
                spans[id(node)] = tuple(frame.spans)
            deliver(node, frame.parent, frame.start, end_index)
        elif cls is AliasEvent:
            if event.anchor not in anchors:
                raise yaml.composer.ComposerError(
                    None, None, f"found undefined alias {event.anchor!r}", event.start_mark
                )
            if not structure or (stack and stack[-1].node is None):
                continue
            target = anchors[event.anchor]
            mapping = key_position()
            if mapping is not None:
                mapping.keep = isinstance(target, ScalarNode) and (mapping.all_keys or target.value in SELECTOR_KEYS)
                mapping.key = target if mapping.keep else None  # type: ignore[assignment]
                continue
            build, parent, _ = place(False)
            if build and target is not None:
                deliver(target, parent, event.start_mark.index + shift, event.end_mark.index + shift)
        elif cls is DocumentStartEvent:
            document_start = event
            anchors = {}
            root.clear()
        elif cls is DocumentEndEvent:
            assert document_start is not None
            document = ParsedDocument(
                root=root[0] if root else None,
                start=document_start.start_mark.index + shift,
                start_explicit=bool(document_start.explicit),
                end=event.end_mark.index + shift,
                end_explicit=bool(event.explicit),
            )
            if on_document is not None:
                on_document(reading, document)
                # Its nodes are done with. Spans are keyed by id(), which a later node may reuse;
                # aliases never reach across documents.
                document.root = None
                spans.clear()
            documents.append(document)
    return ParsedStream(text, path, tuple(documents), tuple(ko_scalars), spans, watched)


def iter_nodes(root: Node) -> Iterator[Node]:
    """Every node reachable from `root` once (aliases and recursive anchors visited once)."""
    seen = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        if isinstance(node, MappingNode):
            for key, value in reversed(node.value):
                stack.append(value)
                stack.append(key)
        elif isinstance(node, SequenceNode):
            stack.extend(reversed(node.value))
