"""Property test: ~200 random YAML streams with references in random styles (seeded).

The generator writes YAML text piece by piece and records, independently of the code under
test, where each reference scalar is. For every stream:
1. `find_references` finds exactly the generated reference nodes (aliases not counted), at
   the recorded start offsets;
2. the resolved output loads like the input with each reference replaced;
3. the output equals the input outside the recorded spans (checked with a regular
   expression built from the untouched text, and with difflib).
"""

from __future__ import annotations

import random
import re

import pytest
import yaml

from pants_backend_ko.k8s.resolve import find_references, resolve_text
from pants_backend_ko.k8s.resolve_test import (
    RESOLVED,
    assert_changed_only_within,
    assert_styles_kept,
    expected_documents,
)

IMPORT_PATHS = sorted(RESOLVED)
STREAMS = 200
COMMENTS = ["# note", "# ko://a in a comment", "# héllo wörld 日本語 🚀", "#"]
WORDS = ["web", "value", "x", "Always", "true", "42", "3.5", "null", "~", "nginx:1.25"]
NON_REFERENCES = [
    "'--image=ko://a'",
    '"see ko://a"',
    '" ko://a"',
    "'plain text'",
    '"tab\\tand ünïcode"',
]


class StreamWriter:
    """Writes one random YAML stream and remembers where its references are."""

    def __init__(self, rng: random.Random, newline: str) -> None:
        self.rng = rng
        self.nl = newline
        self.parts: list[str] = []
        self.size = 0
        self.spans: list[tuple[int, int]] = []
        self.reference_nodes = 0
        self.anchors: list[str] = []
        self.anchor_count = 0
        self.key_count = 0

    def write(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)

    def text(self) -> str:
        return "".join(self.parts)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    # -- scalars ------------------------------------------------------------------------

    def reference(self, allow_plain: bool = True) -> None:
        """A reference scalar in an inline style, with an optional anchor or !!str tag."""
        path = self.rng.choice(IMPORT_PATHS)
        if self.chance(0.15):
            name = f"a{self.anchor_count}"
            self.anchor_count += 1
            self.write(f"&{name} ")
            self.anchors.append(name)
        elif self.chance(0.1):
            self.write("!!str ")
        styles = ["plain", "single", "double"] if allow_plain else ["single", "double"]
        style = self.rng.choice(styles)
        trailing = " " if style != "plain" and self.chance(0.1) else ""
        value = f"ko://{path}{trailing}"
        source = {"plain": value, "single": f"'{value}'", "double": f'"{value}"'}[style]
        start = self.size
        self.write(source)
        self.spans.append((start, self.size))
        self.reference_nodes += 1

    def inline_scalar(self) -> None:
        roll = self.rng.random()
        if roll < 0.45:
            self.reference()
        elif roll < 0.55 and self.anchors:
            self.write("*" + self.rng.choice(self.anchors))
        elif roll < 0.75:
            self.write(self.rng.choice(NON_REFERENCES))
        else:
            self.write(self.rng.choice(WORDS))

    def block_scalar_reference(self, indent: int) -> None:
        start = self.size
        header = self.rng.choice(["|", "|-", "|+", ">", ">-", ">+", "|2", ">2-"])
        if "2" in header:
            # An explicit indentation indicator counts from the parent's indentation, `indent`.
            body_indent = indent + 2
        else:
            body_indent = indent + self.rng.choice([1, 2, 4])
        self.write(header)
        if self.chance(0.2):
            self.write(" # block comment é")
        self.write(self.nl)
        self.write(" " * body_indent + f"ko://{self.rng.choice(IMPORT_PATHS)}")
        if self.chance(0.2):
            self.write("  ")
        self.write(self.nl)
        for _ in range(self.rng.choice([0, 0, 1, 2])):
            self.write((" " * self.rng.choice([0, body_indent])) + self.nl)
        self.spans.append((start, self.size))
        self.reference_nodes += 1

    def block_scalar_text(self, indent: int) -> None:
        self.write(self.rng.choice(["|", ">"]) + self.nl)
        for line in ("some text with ko://a inside", "ko://a on a second line"):
            self.write(" " * (indent + 2) + line + self.nl)

    def comment_line(self, indent: int) -> None:
        if self.chance(0.25):
            self.write(" " * indent + self.rng.choice(COMMENTS) + self.nl)

    def line_end(self) -> None:
        if self.chance(0.15):
            self.write("  " + self.rng.choice(COMMENTS))
        self.write(self.nl)

    # -- keys -----------------------------------------------------------------------------

    def key(self, used: set, flow: bool) -> None:
        if self.chance(0.12):
            path = self.rng.choice(IMPORT_PATHS)
            if path not in used:
                used.add(path)
                style = self.rng.choice(["plain", "single", "double"])
                source = {"plain": f"ko://{path}", "single": f"'ko://{path}'",
                          "double": f'"ko://{path}"'}[style]  # fmt: skip
                start = self.size
                self.write(source)
                self.spans.append((start, self.size))
                self.reference_nodes += 1
                return
        self.key_count += 1
        self.write(f"k{self.key_count}")

    # -- collections ----------------------------------------------------------------------

    def flow(self, depth: int) -> None:
        if self.chance(0.5):
            self.write("[")
            for i in range(self.rng.randint(0, 4)):
                if i:
                    self.write(self.rng.choice([", ", ",", " , "]))
                self.flow_value(depth)
            self.write("]")
        else:
            self.write("{")
            used: set = set()
            for i in range(self.rng.randint(0, 3)):
                if i:
                    self.write(self.rng.choice([", ", ","]))
                self.key(used, flow=True)
                self.write(": ")
                self.flow_value(depth)
            self.write("}")

    def flow_value(self, depth: int) -> None:
        if depth < 3 and self.chance(0.2):
            self.flow(depth + 1)
        else:
            self.inline_scalar()

    def block_mapping(self, indent: int, depth: int) -> None:
        used: set = set()
        for _ in range(self.rng.randint(1, 4)):
            self.comment_line(indent)
            self.write(" " * indent)
            self.key(used, flow=False)
            self.write(":")
            self.block_value(indent, depth)

    def block_sequence(self, indent: int, depth: int) -> None:
        for _ in range(self.rng.randint(1, 3)):
            self.comment_line(indent)
            self.write(" " * indent + "-")
            roll = self.rng.random()
            if roll < 0.45:
                self.write(" ")
                self.inline_scalar()
                self.line_end()
            elif roll < 0.6:
                self.write(" ")
                self.block_scalar_reference(indent)
            elif roll < 0.8 and depth < 3:
                self.write(self.nl)
                self.block_mapping(indent + 2, depth + 1)
            else:
                self.write(" ")
                self.flow(depth + 1)
                self.line_end()

    def block_value(self, indent: int, depth: int) -> None:
        roll = self.rng.random()
        if roll < 0.35 or depth >= 3:
            self.write(" ")
            self.inline_scalar()
            self.line_end()
        elif roll < 0.5:
            self.write(" ")
            self.block_scalar_reference(indent)
        elif roll < 0.55:
            self.write(" ")
            self.block_scalar_text(indent)
        elif roll < 0.75:
            anchor = None
            if self.chance(0.2):
                anchor = f"a{self.anchor_count}"
                self.anchor_count += 1
                self.write(f" &{anchor}")
            self.line_end()
            self.block_mapping(indent + 2, depth + 1)
            if anchor:
                self.anchors.append(anchor)  # usable once the collection is complete
        elif roll < 0.9:
            self.write(self.nl)
            self.block_sequence(indent + self.rng.choice([0, 2]), depth + 1)
        else:
            self.write(" ")
            self.flow(depth + 1)
            self.line_end()

    def stream(self) -> None:
        for index in range(self.rng.randint(1, 3)):
            self.anchors = []  # anchors do not cross documents
            if index or self.chance(0.3):
                self.write("---" + self.nl)
            self.comment_line(0)
            roll = self.rng.random()
            if roll < 0.7:
                self.block_mapping(0, 0)
            elif roll < 0.85:
                self.block_sequence(0, 0)
            else:
                self.flow(0)
                self.write(self.nl)
            if self.chance(0.2):
                self.write("..." + self.nl)


def generate(seed: int) -> StreamWriter:
    rng = random.Random(seed)
    writer = StreamWriter(rng, "\r\n" if rng.random() < 0.3 else "\n")
    writer.stream()
    return writer


def assert_outside_spans_identical(before: str, after: str, spans: list[tuple[int, int]]) -> None:
    """`after` is `before` with only the span contents replaced, via one anchored regex."""
    pattern, cursor = [], 0
    for start, end in sorted(spans):
        pattern.append(re.escape(before[cursor:start]))
        pattern.append(r"([\s\S]*?)")
        cursor = end
    pattern.append(re.escape(before[cursor:]))
    assert re.fullmatch("".join(pattern), after), "text outside the references changed"


@pytest.mark.parametrize("seed", range(STREAMS))
def test_random_stream(seed: int) -> None:
    writer = generate(seed)
    text = writer.text()
    try:
        list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as e:  # a generator bug, not a finding about the code under test
        pytest.fail(f"generator produced invalid YAML for seed {seed}: {e}\n{text}")

    references = find_references(text, "random.yaml")
    assert len(references) == writer.reference_nodes
    recorded = sorted(writer.spans)
    assert [r.start for r in references] == [start for start, _ in recorded]
    for reference, (_start, end) in zip(references, recorded):
        assert reference.end <= end

    output = resolve_text(text, "random.yaml", RESOLVED)
    assert list(yaml.safe_load_all(output)) == expected_documents(text, RESOLVED)
    assert_outside_spans_identical(text, output, recorded)
    assert_changed_only_within(text, output, recorded)
    assert_styles_kept(text, output, RESOLVED)
    assert find_references(output, "random.yaml") == ()  # nothing left to resolve


def test_generator_covers_every_style() -> None:
    """The 200 streams exercise what they claim to (otherwise the property proves little)."""
    seen = set()
    for seed in range(STREAMS):
        writer = generate(seed)
        text = writer.text()
        for reference in find_references(text, "random.yaml"):
            source = text[reference.start : reference.end]
            seen.add(reference.style)
            if reference.style in ("|", ">"):
                seen.add(source.split("\n", 1)[0].split(" ")[0].rstrip("\r"))
        if "\r\n" in text:
            seen.add("crlf")
        if "*a" in text:
            seen.add("alias")
        if "..." in text:
            seen.add("document-end")
    for expected in (None, "'", '"', "|", ">", "|-", "|+", ">-", ">+", "|2", "crlf", "alias",
                     "document-end"):  # fmt: skip
        assert expected in seen, expected
