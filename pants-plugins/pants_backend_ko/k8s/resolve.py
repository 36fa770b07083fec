"""Find `ko://<import path>` references in Kubernetes YAML and splice in image references.

This is ko's `resolve` step (ko-build/ko `pkg/resolve/resolve.go`) done by text splicing
instead of decode/re-encode, so every byte outside the replaced scalars survives:
comments, quoting, key order, indentation, `---`/`...`, CRLF, a BOM, and JSON stays JSON.

Which scalars are references (ko's rule, copied deliberately):
- every scalar whose resolved tag is `tag:yaml.org,2002:str` and whose *raw* value starts
  with `ko://`, anywhere in a document, mapping keys included;
- untagged plain, quoted and block scalars qualify, and so do `!!str` and the non-specific
  `!`; any other explicit tag (`!!binary`, `!custom`) opts the scalar out;
- the prefix is tested before trimming, so `" ko://x"` is not a reference;
- an alias is not a second reference: the anchored node is replaced once, where it is
  defined, and every alias then loads the new value.

What is inserted, by scalar style (see registry-protocol.md §10.2/§10.3): plain -> the bare
reference; quoted -> the same quotes around it; block (`|`, `>`) -> the header with `-`
chomping and the body replaced by one line holding the reference, so the loaded value is
exactly the reference (as ko assigns it), with no trailing newline.

Offsets are character offsets into the decoded `str` (PyYAML's `Mark.index` counts
characters, not bytes): decode with `utf-8` (not `utf-8-sig`, which would drop a BOM), call
these functions, and encode the result the same way.
"""

from __future__ import annotations

import bisect
import difflib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import yaml
from yaml.error import Mark
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.tokens import BlockEntryToken, ScalarToken

from pants_backend_ko.errors import KoError
from pants_backend_ko.oci.naming import KO_SCHEME, strip_ko_scheme

STR_TAG = "tag:yaml.org,2002:str"
NULL_TAG = "tag:yaml.org,2002:null"

# A published reference looks like `registry[:port]/repo@sha256:<hex>` (or `name:tag@sha256:…`):
# these characters never need escaping in a plain, quoted or block scalar, in YAML or JSON.
_SAFE_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@+-]*\Z")
# Characters PyYAML (YAML 1.1) treats as line breaks; `\r\n` counts as one break.
_LINE_BREAK_CHARS = "\n\r\x85\u2028\u2029"
Range = tuple[int, int]  # [start, end) character offsets into a manifest's text

_BLOCK_HEADER = re.compile(r"(?P<indicator>[|>])(?P<flags>[0-9+-]*)(?P<rest>.*)\Z", re.DOTALL)


class ManifestError(KoError, ValueError):
    """A manifest cannot be resolved; the message is one line starting `<path>:<line>:<col>: `,
    which is also its `where`."""

    def __init__(self, message: str) -> None:
        where, _, what = message.partition(": ")
        super().__init__(what, where=where)


@dataclass(frozen=True)
class KoReference:
    """One `ko://` scalar in a manifest.

    `start`/`end` are character offsets of the scalar itself (quotes included; for block
    scalars from the `|`/`>` header through the body's last line break), without any
    anchor or tag in front of it. `line`/`column` are 1-based and point at `start`.
    `style` is PyYAML's `ScalarNode.style`: None (plain), "'", '"', "|" or ">".
    """

    import_path: str
    path: str
    line: int
    column: int
    start: int
    end: int
    style: str | None

    @property
    def reference(self) -> str:
        """The reference as written, normalized: `ko://<import path>`."""
        return KO_SCHEME + self.import_path

    @property
    def location(self) -> str:
        """`<path>:<line>:<col>` for error messages."""
        return f"{self.path}:{self.line}:{self.column}"


# --------------------------------------------------------------------------------------
# Parsing with positions the node graph does not keep (shared with documents.py).
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedDocument:
    """One YAML document: its root node and where its markers are in the text."""

    root: Node
    start: int  # DocumentStartEvent.start_mark: the `%`/`---` line or, if implicit, the first token
    start_explicit: bool
    end: int  # DocumentEndEvent.end_mark: after `...` if explicit, else the next token's start
    end_explicit: bool


class _TrackingLoader(yaml.SafeLoader):
    """A SafeLoader that records positions which the composed node graph loses.

    - A node's `start_mark` includes its anchor and tag (`&a !!str ko://x`), so the scalar
      token's own start is remembered, keyed by its end offset (which the node shares).
    - An alias resolves to the anchored node, whose marks point at the anchor's definition;
      the span of every sequence item *as written* is remembered per sequence node.
    - `-` entry indicators, so a block sequence item can be removed with its whole lines.
    - Document start/end events, so whole documents can be removed.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.scalar_token_start: dict[int, Mark] = {}
        self.block_entry_starts: list[int] = []
        self.sequence_item_spans: dict[int, list[tuple[int, int]]] = {}
        self.parsed_documents: list[ParsedDocument] = []

    def get_token(self):  # type: ignore[override]
        token = super().get_token()
        if isinstance(token, ScalarToken):
            self.scalar_token_start[token.end_mark.index] = token.start_mark
        elif isinstance(token, BlockEntryToken):
            self.block_entry_starts.append(token.start_mark.index)
        return token

    def compose_node(self, parent, index):  # type: ignore[override]
        event = self.peek_event()
        node = super().compose_node(parent, index)
        if isinstance(parent, SequenceNode):
            end = event.end_mark.index if isinstance(event, AliasEvent) else node.end_mark.index
            self.sequence_item_spans.setdefault(id(parent), []).append((event.start_mark.index, end))
        return node

    def compose_document(self):  # type: ignore[override]
        start_event = self.get_event()
        node = self.compose_node(None, None)
        end_event = self.get_event()
        self.anchors = {}
        self.parsed_documents.append(
            ParsedDocument(
                root=node,
                start=start_event.start_mark.index,
                start_explicit=bool(start_event.explicit),
                end=end_event.end_mark.index,
                end_explicit=bool(end_event.explicit),
            )
        )
        return node


@dataclass(frozen=True)
class ParsedStream:
    """All documents of one file plus the recorded positions (internal to the k8s package)."""

    text: str
    path: str
    documents: tuple[ParsedDocument, ...]
    scalar_token_start: Mapping[int, Mark]  # scalar token end offset -> its start mark
    block_entry_starts: tuple[int, ...]  # ascending
    sequence_item_spans: Mapping[int, tuple[tuple[int, int], ...]]

    def scalar_start(self, node: ScalarNode) -> Mark:
        """Where the scalar itself starts, after any anchor or tag in front of it."""
        return self.scalar_token_start.get(node.end_mark.index, node.start_mark)

    def item_spans(self, sequence: SequenceNode) -> tuple[tuple[int, int], ...]:
        """(start, end) of each item of `sequence` as written (aliases at the `*alias`)."""
        return self.sequence_item_spans.get(id(sequence), ())

    def block_entry_before(self, offset: int) -> int:
        """Offset of the last `-` indicator that starts before `offset`."""
        i = bisect.bisect_left(self.block_entry_starts, offset)
        if i == 0:
            raise AssertionError(f"no '-' before offset {offset}")  # the parser guarantees one
        return self.block_entry_starts[i - 1]


def line_and_column(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset, counted as PyYAML's Reader does.

    Line breaks include `\x85`, U+2028 and U+2029 (YAML 1.1), `\r\n` is one break, and a
    byte-order mark takes no column.
    """
    line, column, i = 1, 1, 0
    while i < offset:
        ch = text[i]
        if ch in _LINE_BREAK_CHARS:
            if ch == "\r" and i + 1 < len(text) and text[i + 1] == "\n":
                i += 1
            line, column = line + 1, 1
        elif ch != "\ufeff":
            column += 1
        i += 1
    return line, column


def parse_stream(text: str, path: str) -> ParsedStream:
    """Compose every document of `text`; malformed YAML raises a one-line ManifestError."""
    loader: _TrackingLoader | None = None
    try:
        loader = _TrackingLoader(text)
        while loader.check_node():
            loader.get_node()  # compose_document records it
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = " ".join(str(p) for p in (e.problem, e.context and f"({e.context})") if p)
        problem = " ".join(problem.split())  # one line, whatever PyYAML put in the message
        where = f"{mark.line + 1}:{mark.column + 1}" if mark is not None else "1:1"
        raise ManifestError(f"{path}:{where}: invalid YAML: {problem or 'cannot parse'}") from None
    except yaml.reader.ReaderError as e:
        line, column = line_and_column(text, e.position)
        raise ManifestError(
            f"{path}:{line}:{column}: invalid YAML: character U+{e.character:04X} is not allowed"
            " (YAML text must be printable Unicode); remove it or escape it in a quoted string"
        ) from None
    except RecursionError:
        raise ManifestError(
            f"{path}:1:1: invalid YAML: collections are nested too deeply to parse;" " flatten the document"
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    return ParsedStream(
        text=text,
        path=path,
        documents=tuple(loader.parsed_documents),
        scalar_token_start=loader.scalar_token_start,
        block_entry_starts=tuple(sorted(loader.block_entry_starts)),
        sequence_item_spans={k: tuple(v) for k, v in loader.sequence_item_spans.items()},
    )


def iter_nodes(root: Node) -> Iterator[Node]:
    """Every node reachable from `root` once (aliases and recursive anchors visited once).

    Mapping keys are visited too (ko's go-yit `RecurseNodes` does the same). Iterative, so
    deeply nested documents cannot hit the recursion limit.
    """
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


def is_ko_scalar(node: Node) -> bool:
    """ko's `yit.StringValue` + `yit.WithPrefix("ko://")`: a !!str scalar starting with ko://."""
    return isinstance(node, ScalarNode) and node.tag == STR_TAG and node.value.startswith(KO_SCHEME)


# --------------------------------------------------------------------------------------
# Finding references
# --------------------------------------------------------------------------------------


def _check_import_path(raw_value: str, import_path: str, location: str) -> None:
    shown = KO_SCHEME + import_path
    if not import_path:
        raise ManifestError(
            f"{location}: {raw_value.strip()!r} has no import path;" " write ko://<import path of a Go main package>"
        )
    if any(ch.isspace() for ch in import_path):
        raise ManifestError(
            f"{location}: {shown!r} contains whitespace, so it is not a Go import path;"
            " write the reference on one line as ko://<import path>"
        )
    if ":" in import_path or "@" in import_path:
        raise ManifestError(
            f"{location}: {shown} carries a tag or digest, which ko:// references do not accept"
            " (ko issue 1528); write ko://<import path> and set tags on the ko_image target"
        )


def _candidates(stream: ParsedStream) -> list[tuple[int, ScalarNode]]:
    """(scalar start offset, node) of every `ko://` scalar, in file order, each node once."""
    found = []
    for document in stream.documents:
        for node in iter_nodes(document.root):
            if is_ko_scalar(node):
                found.append((stream.scalar_start(node).index, node))
    found.sort(key=lambda pair: pair[0])
    return found


def _reference(stream: ParsedStream, node: ScalarNode) -> KoReference:
    mark = stream.scalar_start(node)
    line, column = mark.line + 1, mark.column + 1
    import_path = strip_ko_scheme(node.value).strip()
    _check_import_path(node.value, import_path, f"{stream.path}:{line}:{column}")
    return KoReference(
        import_path=import_path,
        path=stream.path,
        line=line,
        column=column,
        start=mark.index,
        end=node.end_mark.index,
        style=node.style,
    )


def references_in(stream: ParsedStream, kept: Sequence[Range]) -> tuple[KoReference, ...]:
    """The references lying inside the `kept` ranges (sorted, disjoint), in file order.

    References elsewhere are ignored entirely, invalid ones included: selection happens
    before resolution, as in ko.
    """
    starts = [a for a, _ in kept]
    refs = []
    for start, node in _candidates(stream):
        i = bisect.bisect_right(starts, start) - 1
        if i >= 0 and node.end_mark.index <= kept[i][1]:
            refs.append(_reference(stream, node))
        elif i >= 0 and start < kept[i][1]:
            raise AssertionError("a kept range boundary splits a scalar")
    return tuple(refs)


def find_references(text: str, path: str) -> tuple[KoReference, ...]:
    """Every `ko://` scalar in `text`, in file order, one entry per node (not per import path).

    Raises ManifestError for malformed YAML and for references that cannot be import paths
    (a `:tag` or `@digest`, whitespace, nothing after `ko://`).
    """
    stream = parse_stream(text, path)
    return references_in(stream, [(0, len(text))])


def unique_import_paths(references: Sequence[KoReference]) -> tuple[str, ...]:
    """The distinct import paths, in order of first use (each is built once, as in ko)."""
    return tuple(dict.fromkeys(r.import_path for r in references))


# --------------------------------------------------------------------------------------
# Splicing
# --------------------------------------------------------------------------------------


def _first_line_break(text: str, start: int = 0) -> tuple[int, str]:
    """(index, the break itself) of the first line break at or after `start`, or (-1, "")."""
    for i in range(start, len(text)):
        ch = text[i]
        if ch in _LINE_BREAK_CHARS:
            if ch == "\r" and text[i + 1 : i + 2] == "\n":
                return i, "\r\n"
            return i, ch
    return -1, ""


def _block_replacement(original: str, new_value: str) -> str:
    """Rewrite a block scalar (`|…` or `>…`) so that it loads as exactly `new_value`.

    `original` runs from the indicator through the body's last line break and may end with
    the following line's indentation (registry-protocol.md §10.3). Keep the header (its
    indentation indicator and comment) but force `-` chomping, write the body as one line
    with the first body line's indentation, and keep whatever follows the last line break.
    """
    header_end, line_break = _first_line_break(original)
    if header_end < 0:
        raise AssertionError("a block scalar always has a line break after its header")
    header = original[:header_end]
    match = _BLOCK_HEADER.match(header)
    if match is None:
        raise AssertionError(f"unexpected block scalar header {header!r}")
    flags = match.group("flags")
    # Chomping `-` strips the final line break: the value is the bare reference, as in ko.
    flags = flags.replace("+", "-") if "+" in flags else flags if "-" in flags else "-" + flags
    new_header = match.group("indicator") + flags + match.group("rest")

    body = original[header_end + len(line_break) :]
    first_line = body
    first_break, _ = _first_line_break(body)
    if first_break >= 0:
        first_line = body[:first_break]
    indent = first_line[: len(first_line) - len(first_line.lstrip(" "))]

    # Everything after the body's last line break is the next line's indentation (or nothing).
    last_break_end = -1
    i = 0
    while True:
        j, brk = _first_line_break(body, i)
        if j < 0:
            break
        last_break_end = j + len(brk)
        i = last_break_end
    if last_break_end < 0:  # the body ends the file without a line break
        return f"{new_header}{line_break}{indent}{new_value}"
    trailing = body[last_break_end:]
    if trailing.strip(" "):
        raise AssertionError(f"unexpected text after a block scalar body: {trailing!r}")
    return f"{new_header}{line_break}{indent}{new_value}{line_break}{trailing}"


def replacement_text(reference: KoReference, original: str, new_value: str) -> str:
    """What to write over `original` (the reference's source text) so it loads as `new_value`."""
    if reference.style is None:
        return new_value
    if reference.style in ("'", '"'):
        return reference.style + new_value + reference.style
    if reference.style in ("|", ">"):
        return _block_replacement(original, new_value)
    raise AssertionError(f"unknown scalar style {reference.style!r}")


def _unknown_reference_error(reference: KoReference, candidates: Sequence[str]) -> ManifestError:
    suggestions = difflib.get_close_matches(reference.import_path, list(candidates), n=3)
    if suggestions:
        hint = "did you mean: " + ", ".join(suggestions)
    elif candidates:
        hint = "no known import path is similar; add a ko_image target for it or fix the reference"
    else:
        hint = "no ko_image targets are known; add one for this import path"
    return ManifestError(f"{reference.location}: {reference.reference} is not a ko_image target; {hint}")


def _verify_splice(output: str, path: str, placed: Sequence[tuple[KoReference, int, str]]) -> None:
    """Re-parse the output and check each replaced scalar now loads as its new value.

    A guard, not a formality: it turns any splice that would change the YAML structure
    (a case the style rules above do not foresee) into a clear error instead of a manifest
    that silently means something else.
    """
    try:
        stream = parse_stream(output, path)
    except ManifestError as e:
        raise ManifestError(
            f"{placed[0][0].location}: internal error: replacing ko:// references produced"
            f" invalid YAML ({e}); please report this with the manifest"
        ) from None
    by_start = {}
    for document in stream.documents:
        for node in iter_nodes(document.root):
            if isinstance(node, ScalarNode):
                by_start[stream.scalar_start(node).index] = node
    for reference, new_start, new_value in placed:
        node = by_start.get(new_start)
        if node is None or node.tag != STR_TAG or node.value != new_value:
            raise ManifestError(
                f"{reference.location}: internal error: {reference.reference} could not be"
                f" replaced without changing the YAML; please report this with the manifest"
            )


def render_ranges(
    stream: ParsedStream,
    kept: Sequence[Range],
    resolved: Mapping[str, str],
    known: Sequence[str] = (),
) -> str:
    """Concatenate the `kept` ranges of the text with every `ko://` reference in them replaced.

    `kept` is sorted and disjoint (whole text, or what a label selector left). Error
    locations refer to the original text.
    """
    text, path = stream.text, stream.path
    references = references_in(stream, kept)
    for reference in references:
        if reference.import_path not in resolved:
            candidates = list(dict.fromkeys([*known, *resolved]))
            raise _unknown_reference_error(reference, candidates)
    for import_path in unique_import_paths(references):
        value = resolved[import_path]
        if not _SAFE_REFERENCE.match(value):
            raise ValueError(
                f"resolved image reference for ko://{import_path} is {value!r}; expected"
                " <registry>/<repo>@sha256:<digest> (characters A-Z a-z 0-9 . _ / : @ + -)"
            )

    # Built front to back, which is equivalent to replacing from last to first: every
    # offset used is an offset into the untouched original text.
    pieces: list[str] = []
    placed: list[tuple[KoReference, int, str]] = []
    length = 0
    pending = list(references)
    pending.reverse()
    for range_start, range_end in kept:
        cursor = range_start
        while pending and pending[-1].start < range_end:
            reference = pending.pop()
            kept_text = text[cursor : reference.start]
            new_value = resolved[reference.import_path]
            replacement = replacement_text(reference, text[reference.start : reference.end], new_value)
            pieces.append(kept_text)
            placed.append((reference, length + len(kept_text), new_value))
            pieces.append(replacement)
            length += len(kept_text) + len(replacement)
            cursor = reference.end
        tail = text[cursor:range_end]
        pieces.append(tail)
        length += len(tail)
    output = "".join(pieces)
    if placed:
        _verify_splice(output, path, placed)
    return output


def resolve_text(text: str, path: str, resolved: Mapping[str, str], known: Sequence[str] = ()) -> str:
    """Replace every `ko://` reference in `text` by `resolved[import_path]`.

    Bytes outside the replaced scalars are untouched. A reference whose import path is not in
    `resolved` raises ManifestError naming the file, line and column and suggesting up to 3
    similar paths from `known` and `resolved`.
    """
    return render_ranges(parse_stream(text, path), [(0, len(text))], resolved, known)
