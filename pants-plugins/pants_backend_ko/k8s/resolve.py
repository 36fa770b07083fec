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

What is inserted, by scalar style (PyYAML's `ScalarNode.style`; chomping as the YAML 1.2 spec,
8.1.1.2 "Block Chomping Indicator", defines it): plain -> the bare
reference; quoted -> the same quotes around it; block (`|`, `>`) -> the header with `-`
chomping and the body replaced by one line holding the reference, so the loaded value is
exactly the reference (as ko assigns it), with no trailing newline.

Offsets are character offsets into the decoded `str` (as `scan.py` counts them): decode
with `utf-8` (not `utf-8-sig`, which would drop a BOM), call these functions, and encode the
result the same way. Parsing is `scan.py`'s single pass; checking a splice is a second pass
over the output that records only the replaced scalars.
"""

from __future__ import annotations

import bisect
import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pants_backend_ko.k8s.scan import (
    LINE_BREAK_CHARS,
    STR_TAG,
    KoScalar,
    ManifestError,
    ParsedStream,
    Range,
    parse_stream,
    plain_scalar_tag,
)
from pants_backend_ko.oci.naming import KO_SCHEME, strip_ko_scheme

# A published reference looks like `registry[:port]/repo@sha256:<hex>` (or `name:tag@sha256:…`):
# these characters never need escaping in a plain, quoted or block scalar, in YAML or JSON.
_SAFE_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@+-]*\Z")
_BLOCK_HEADER = re.compile(r"(?P<indicator>[|>])(?P<flags>[0-9+-]*)(?P<rest>.*)\Z", re.DOTALL)

__all__ = ["KoReference", "ManifestError", "find_references", "references_in", "render_ranges", "resolve_text"]


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


def _reference(path: str, scalar: KoScalar) -> KoReference:
    line, column = scalar.start.line + 1, scalar.start.column + 1
    import_path = strip_ko_scheme(scalar.value).strip()
    _check_import_path(scalar.value, import_path, f"{path}:{line}:{column}")
    return KoReference(
        import_path=import_path,
        path=path,
        line=line,
        column=column,
        start=scalar.start.index,
        end=scalar.end,
        style=scalar.style,
    )


def references_in(stream: ParsedStream, kept: Sequence[Range]) -> tuple[KoReference, ...]:
    """The references lying inside the `kept` ranges (sorted, disjoint), in file order.

    References elsewhere are ignored entirely, invalid ones included: selection happens
    before resolution, as in ko.
    """
    starts = [a for a, _ in kept]
    refs = []
    for scalar in stream.ko_scalars:
        start = scalar.start.index
        i = bisect.bisect_right(starts, start) - 1
        if i >= 0 and scalar.end <= kept[i][1]:
            refs.append(_reference(stream.path, scalar))
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
        if ch in LINE_BREAK_CHARS:
            if ch == "\r" and text[i + 1 : i + 2] == "\n":
                return i, "\r\n"
            return i, ch
    return -1, ""


def _block_replacement(original: str, new_value: str) -> str:
    """Rewrite a block scalar (`|…` or `>…`) so that it loads as exactly `new_value`.

    `original` runs from the indicator through the body's last line break and may end with
    the following line's indentation (where PyYAML's `end_mark` puts it; `resolve_test.py`'s
    `test_block_scalar_span_covers_header_and_body`). Keep the header (its
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


def _needs_rereading(reference: KoReference, new_value: str) -> bool:
    """Whether a replacement must be checked by reading the output again.

    Quoted and plain replacements are checked here, exactly: the new text is `_SAFE_REFERENCE`
    characters (no quote, backslash, `#`, `: `, flow indicator or line break), so between the
    same quotes it is the same string, and as a plain scalar it ends where the old one did
    (which also held `:` followed by a non-blank) and loads as whatever the resolver makes of it
    — a string unless it looks like a number, a date or a boolean. Block scalars are rewritten
    (`_block_replacement`), so their output is read again.
    """
    if reference.style in ("'", '"'):
        return False
    if reference.style is None:
        if plain_scalar_tag(new_value) != STR_TAG:
            raise _unchanged_error(reference)
        return False
    return True


def _unchanged_error(reference: KoReference) -> ManifestError:
    return ManifestError(
        f"{reference.location}: internal error: {reference.reference} could not be"
        f" replaced without changing the YAML; please report this with the manifest"
    )


def _verify_splice(output: str, path: str, placed: Sequence[tuple[KoReference, int, str]]) -> None:
    """Check each replaced scalar now loads as its new value; read the output again only for
    the replacements that cannot be checked otherwise (block scalars).

    A guard, not a formality: it turns any splice that would change the YAML structure
    (a case the style rules above do not foresee) into a clear error instead of a manifest
    that silently means something else.
    """
    reread = [entry for entry in placed if _needs_rereading(entry[0], entry[2])]
    if not reread:
        return
    try:
        stream = parse_stream(output, path, watch=frozenset(start for _, start, _ in reread))
    except ManifestError as e:
        raise ManifestError(
            f"{reread[0][0].location}: internal error: replacing ko:// references produced"
            f" invalid YAML ({e}); please report this with the manifest"
        ) from None
    for reference, new_start, new_value in reread:
        if stream.watched.get(new_start) != (STR_TAG, new_value):
            raise _unchanged_error(reference)


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
