"""Tests for `ko://` discovery and byte-preserving splicing (pure, no peers needed).

Every successful case is checked two ways that do not use the code under test:
1. loading the output with PyYAML equals loading the input with each `ko://` string
   replaced by its image reference (`expected_documents`);
2. the output equals the input outside the reference scalars, whose spans come from
   PyYAML's scanner tokens (`scanner_spans`) and are compared with difflib opcodes.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
import yaml

from pants_backend_ko.k8s.resolve import (
    KoReference,
    ManifestError,
    find_references,
    resolve_text,
    unique_import_paths,
)
from pants_backend_ko.k8s.scan import line_and_column

DIGEST_A = "sha256:" + "a1" * 32
DIGEST_B = "sha256:" + "b2" * 32
DIGEST_C = "sha256:" + "c3" * 32
RESOLVED = {
    "a": f"127.0.0.1:5000/a-0cc175b9c0f1b6a831c399e269772661@{DIGEST_A}",
    "example.com/cmd/app": f"registry.local/app@{DIGEST_B}",
    "./cmd/b": f"localhost:5000/b@{DIGEST_C}",
    "github.com/x/y/cmd/c-d": f"ghcr.io/x/c-d@{DIGEST_A}",
}


# ---------------------------------------------------------------------------------------
# Independent checkers (shared with documents_test.py and resolve_property_test.py)
# ---------------------------------------------------------------------------------------


def replace_references(value: Any, resolved: Mapping[str, str]) -> Any:
    """A loaded YAML value with every string starting with ko:// replaced (keys included)."""
    if isinstance(value, str):
        if value.startswith("ko://"):
            return resolved[value[len("ko://") :].strip()]
        return value
    if isinstance(value, list):
        return [replace_references(v, resolved) for v in value]
    if isinstance(value, dict):
        return {replace_references(k, resolved): replace_references(v, resolved) for k, v in value.items()}
    return value


def expected_documents(text: str, resolved: Mapping[str, str]) -> list[Any]:
    return [replace_references(d, resolved) for d in yaml.safe_load_all(text)]


def scanner_spans(text: str) -> list[tuple[int, int]]:
    """Source spans of scalar tokens whose value starts with ko:// (PyYAML's scanner)."""
    return [
        (token.start_mark.index, token.end_mark.index)
        for token in yaml.scan(text, Loader=yaml.SafeLoader)
        if isinstance(token, yaml.ScalarToken) and token.value.startswith("ko://")
    ]


def assert_changed_only_within(before: str, after: str, spans: Sequence[tuple[int, int]]):
    """Every difference between `before` and `after` lies inside one of `spans` of `before`."""
    merged: list[tuple[int, int]] = []  # touching spans may show up as one difflib opcode
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        inside = any(start <= i1 and i2 <= end for start, end in merged)
        assert inside, (
            f"{tag} outside the reference spans: input[{i1}:{i2}]={before[i1:i2]!r}"
            f" -> output[{j1}:{j2}]={after[j1:j2]!r}; spans={spans}"
        )


def reference_styles(text: str, is_reference) -> list[Any]:
    """Styles of the distinct !!str scalars whose value satisfies `is_reference`, in order."""
    seen, found = set(), []
    documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))  # keep ids alive
    for document in documents:
        stack = [document]
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, yaml.MappingNode):
                stack.extend(n for pair in node.value for n in pair)
            elif isinstance(node, yaml.SequenceNode):
                stack.extend(node.value)
            elif node.tag == "tag:yaml.org,2002:str" and is_reference(node.value):
                found.append((node.start_mark.index, node.style))
    return [style for _, style in sorted(found)]


def assert_styles_kept(before: str, after: str, resolved: Mapping[str, str]) -> None:
    values = set(resolved.values())
    assert reference_styles(after, values.__contains__) == reference_styles(before, lambda v: v.startswith("ko://"))


def check_resolution(text: str, resolved: Mapping[str, str] = RESOLVED) -> str:
    """Resolve `text` and run both independent checks; return the output."""
    output = resolve_text(text, "manifest.yaml", resolved)
    assert list(yaml.safe_load_all(output)) == expected_documents(text, resolved)
    assert_changed_only_within(text, output, scanner_spans(text))
    assert_styles_kept(text, output, resolved)
    return output


# ---------------------------------------------------------------------------------------
# Styles and positions
# ---------------------------------------------------------------------------------------

STYLE_CASES = {
    "plain": "image: ko://a\n",
    "plain-with-comment": "image: ko://a   # the app\nx: 1\n",
    "single-quoted": "image: 'ko://a'\n",
    "double-quoted": 'image: "ko://example.com/cmd/app"\n',
    "double-quoted-escape": 'image: "ko://\\x61"\n',
    "trailing-space-in-quotes": "image: 'ko://a  '\n",
    "flow-map": "{image: ko://a}\n",
    "flow-map-nested": "spec: {containers: [{name: app, image: ko://a}, {name: b, image: 'ko://./cmd/b'}]}\n",
    "flow-seq": "[ko://a, x]\n",
    "flow-seq-mixed": "args: [ko://a, x, \"ko://./cmd/b\", 'ko://a']\n",
    "block-seq": "- ko://a\n- 'ko://./cmd/b'\n- x\n",
    "literal": "image: |\n  ko://a\nnext: 1\n",
    "literal-strip": "image: |-\n  ko://a\nnext: 1\n",
    "literal-keep": "image: |+\n  ko://a\n\n\nnext: 1\n",
    "folded": "image: >\n  ko://a\nnext: 1\n",
    "folded-strip": "image: >-\n  ko://a\nnext: 1\n",
    "folded-keep-indented-next": "spec:\n  image: >+\n    ko://a\n\n  next: 1\n",
    "literal-indented-next": "spec:\n  containers:\n  - image: |\n      ko://a\n    name: app\n  other: 2\n",
    "literal-indent-indicator": "spec:\n  image: |2\n    ko://a\n  next: 1\n",
    "literal-indicator-then-chomp": "image: |2+\n  ko://a\n\nnext: 1\n",
    "literal-header-comment": "image: | # pinned at deploy time\n  ko://a\nnext: 1\n",
    "literal-whitespace-only-line": "image: |\n  ko://a\n      \nnext: 1\n",
    "literal-at-eof-without-newline": "image: |\n  ko://a",
    "literal-in-sequence": "- |\n  ko://a\n- >-\n  ko://./cmd/b\n- x\n",
    "literal-comment-after": "image: |\n  ko://a\n# not part of the scalar\nnext: 1\n",
    "key-plain": "ko://a: 1\nb: 2\n",
    "key-quoted": '"ko://a": 1\n',
    "key-flow": "{ko://a: x, y: ko://./cmd/b}\n",
    "key-explicit": "? ko://a\n: value\n",
    "explicit-str-tag": "image: !!str ko://a\n",
    "non-specific-tag": "image: ! ko://a\n",
    "anchor-and-tag": "image: &img !!str 'ko://a'\nalso: *img\n",
    "merge-key": "base: &base {image: ko://a, pull: Always}\nderived:\n  <<: *base\n  name: d\n",
    "directive": "%YAML 1.1\n---\nimage: ko://a\n",
    "multi-document": "a: ko://a\n---\nb: ko://./cmd/b\n...\n---\n# c\nc: 'ko://a'\n---\n",
    "document-start-with-content": "--- ko://a\n--- 'ko://./cmd/b'\n",
    "empty-document-between": "a: ko://a\n---\n---\nb: ko://a\n",
}


@pytest.mark.parametrize("name", sorted(STYLE_CASES))
def test_style_is_resolved_and_everything_else_is_kept(name: str) -> None:
    text = STYLE_CASES[name]
    references = find_references(text, "manifest.yaml")
    assert references, "every style case contains a reference"
    output = check_resolution(text)
    assert "ko://" not in output


def test_plain_scalar_replacement_is_exact() -> None:
    output = check_resolution("image: ko://a # c\n")
    assert output == f"image: {RESOLVED['a']} # c\n"


def test_quotes_are_kept() -> None:
    assert check_resolution("a: 'ko://a'\n") == f"a: '{RESOLVED['a']}'\n"
    assert check_resolution('a: "ko://a"\n') == f'a: "{RESOLVED["a"]}"\n'


@pytest.mark.parametrize(
    "header, new_header",
    [("|", "|-"), ("|-", "|-"), ("|+", "|-"), (">", ">-"), (">+", ">-"), ("|2", "|-2"),
     ("|2+", "|2-"), ("| # c", "|- # c")],
)  # fmt: skip
def test_block_scalar_gets_strip_chomping_and_one_body_line(header: str, new_header: str) -> None:
    text = f"spec:\n  image: {header}\n    ko://a\n\n  next: 1\n"
    output = check_resolution(text)
    assert output == f"spec:\n  image: {new_header}\n    {RESOLVED['a']}\n  next: 1\n"
    assert yaml.safe_load(output)["spec"]["image"] == RESOLVED["a"]  # no trailing newline


def test_block_scalar_value_equals_bare_reference_for_every_style() -> None:
    for header in ("|", "|-", "|+", ">", ">-", ">+"):
        output = check_resolution(f"image: {header}\n  ko://a\n")
        assert yaml.safe_load(output) == {"image": RESOLVED["a"]}, header


def test_flow_collections_keep_their_layout() -> None:
    text = "spec: {containers: [{name: app, image: ko://a}, {name: b,  image:  'ko://./cmd/b' }]}\n"
    output = check_resolution(text)
    assert output == (
        f"spec: {{containers: [{{name: app, image: {RESOLVED['a']}}}, "
        f"{{name: b,  image:  '{RESOLVED['./cmd/b']}' }}]}}\n"
    )


def test_reference_positions_are_one_based_and_exclude_anchor_and_tag() -> None:
    text = "a: 1\nimage: &img !!str 'ko://a'\nlist:\n- *img\n- \"ko://./cmd/b\"\n"
    refs = find_references(text, "deploy/app.yaml")
    assert refs == (
        KoReference("a", "deploy/app.yaml", 2, 19, 23, 31, "'"),
        KoReference("./cmd/b", "deploy/app.yaml", 5, 3, 47, 61, '"'),
    )
    assert text[refs[0].start : refs[0].end] == "'ko://a'"
    assert refs[0].reference == "ko://a"
    assert refs[0].location == "deploy/app.yaml:2:19"


def test_block_scalar_span_covers_header_and_body() -> None:
    text = "x: 1\nimage: |-\n  ko://a\nnext: 2\n"
    (ref,) = find_references(text, "m.yaml")
    assert (ref.line, ref.column, ref.style) == (2, 8, "|")
    assert text[ref.start : ref.end] == "|-\n  ko://a\n"


# ---------------------------------------------------------------------------------------
# Anchors, aliases, repetition
# ---------------------------------------------------------------------------------------


def test_anchored_node_is_replaced_once_and_aliases_see_it() -> None:
    text = "a: &img ko://a\nb: *img\nc: [*img, *img]\nd: {x: *img}\n"
    refs = find_references(text, "m.yaml")
    assert len(refs) == 1
    output = check_resolution(text)
    assert output.count("*img") == 4
    assert output.count(RESOLVED["a"]) == 1
    loaded = yaml.safe_load(output)
    assert loaded["b"] == loaded["c"][1] == loaded["d"]["x"] == RESOLVED["a"]


def test_recursive_anchor_is_walked_once() -> None:
    text = "a: &loop [ko://a, *loop]\n"
    assert len(find_references(text, "m.yaml")) == 1
    output = resolve_text(text, "m.yaml", RESOLVED)
    assert output == f"a: &loop [{RESOLVED['a']}, *loop]\n"
    loaded = yaml.safe_load(output)["a"]
    assert loaded[0] == RESOLVED["a"] and loaded[1] is loaded


def test_same_reference_used_many_times() -> None:
    text = "".join(f"c{i}: {'ko://a' if i % 2 else repr('ko://a')}\n" for i in range(60))
    refs = find_references(text, "m.yaml")
    assert len(refs) == 60
    assert unique_import_paths(refs) == ("a",)
    output = check_resolution(text)
    assert output.count(RESOLVED["a"]) == 60


def test_unique_import_paths_keeps_first_use_order() -> None:
    text = "- ko://./cmd/b\n- ko://a\n- ko://./cmd/b\n- ko://example.com/cmd/app\n"
    refs = find_references(text, "m.yaml")
    assert unique_import_paths(refs) == ("./cmd/b", "a", "example.com/cmd/app")


# ---------------------------------------------------------------------------------------
# What is not a reference
# ---------------------------------------------------------------------------------------

NOT_REFERENCES = {
    "prefix-not-at-start": 'args: ["--image=ko://a", "see ko://a"]\nb: x ko://a\n',
    "leading-space": 'image: " ko://a"\nb: "\\tko://a"\n',
    "in-comment": "# image: ko://a\nimage: nginx # ko://a\n",
    "uppercase-scheme": "image: KO://a\n",
    "other-scheme": "image: docker://a\n",
    "block-with-leading-blank-line": "image: |\n\n  ko://a\n",
}


@pytest.mark.parametrize("name", sorted(NOT_REFERENCES))
def test_strings_that_are_not_references_are_untouched(name: str) -> None:
    text = NOT_REFERENCES[name]
    assert find_references(text, "m.yaml") == ()
    assert resolve_text(text, "m.yaml", RESOLVED) == text


@pytest.mark.parametrize(
    "text",
    [
        "data: !!binary ko://a\n",
        "image: !custom ko://a\n",
        "image: !<tag:example.com,2024:img> 'ko://a'\n",
        "image: !!python/str ko://a\n",
    ],
)
def test_scalars_with_a_non_string_tag_are_not_references(text: str) -> None:
    # Rule (ko's yit.StringValue): only scalars whose tag resolves to !!str count; an explicit
    # other tag opts out. Composing (not constructing) accepts unknown tags.
    assert find_references(text, "m.yaml") == ()
    assert resolve_text(text, "m.yaml", {}) == text


def test_non_str_tag_next_to_a_reference_only_the_reference_changes() -> None:
    text = "a: !custom ko://a\nb: ko://a\n"
    output = resolve_text(text, "m.yaml", RESOLVED)
    assert output == f"a: !custom ko://a\nb: {RESOLVED['a']}\n"


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "---\n", "a: 1\n"])
def test_files_without_references_are_returned_unchanged(text: str) -> None:
    assert find_references(text, "m.yaml") == ()
    assert resolve_text(text, "m.yaml", {}) == text


# ---------------------------------------------------------------------------------------
# Encodings and line endings
# ---------------------------------------------------------------------------------------


def test_crlf_line_endings_are_kept() -> None:
    text = (
        "# héader\r\napiVersion: v1\r\nimage: ko://a\r\nblock: |\r\n  ko://./cmd/b\r\n"
        "next: 'ko://a'\r\n---\r\nflow: [ko://a]\r\n"
    )
    output = check_resolution(text)
    assert output.count("\r\n") == text.count("\r\n")
    assert "\n" not in output.replace("\r\n", "")
    assert f"block: |-\r\n  {RESOLVED['./cmd/b']}\r\nnext:" in output


def test_non_ascii_before_references_uses_character_offsets() -> None:
    text = "# héllo wörld 日本語 🚀\nname: ünïcödé\nimage: ko://a\nx: 'ko://./cmd/b'\n"
    refs = find_references(text, "m.yaml")
    assert [text[r.start : r.end] for r in refs] == ["ko://a", "'ko://./cmd/b'"]
    assert [(r.line, r.column) for r in refs] == [(3, 8), (4, 4)]
    output = check_resolution(text)
    assert output.startswith("# héllo wörld 日本語 🚀\nname: ünïcödé\n")
    assert output.encode("utf-8").count(RESOLVED["a"].encode()) == 1


def test_byte_order_mark_is_kept() -> None:
    text = "\ufeffimage: ko://a\n"
    (ref,) = find_references(text, "m.yaml")
    assert (ref.line, ref.column) == (1, 8)  # the BOM takes no column
    output = check_resolution(text)
    assert output == f"\ufeffimage: {RESOLVED['a']}\n"


def test_line_and_column_counts_like_pyyaml() -> None:
    text = "\ufeffa\r\nbc\nd\u2028e"
    assert line_and_column(text, 1) == (1, 1)
    assert line_and_column(text, 5) == (2, 2)
    assert line_and_column(text, 8) == (3, 2)
    assert line_and_column(text, 9) == (4, 1)


# ---------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------

JSON_MANIFEST = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "app", "labels": {"app": "web"}},
    "spec": {
        "template": {
            "spec": {
                "containers": [
                    {"name": "a", "image": "ko://a", "args": ["--x=ko://a"]},
                    {"name": "b", "image": "ko://./cmd/b"},
                ]
            }
        }
    },
    "ko://a": "keys too",
}


@pytest.mark.parametrize("indent", [None, 2, 4])
def test_json_stays_json(indent: Any) -> None:
    text = json.dumps(JSON_MANIFEST, indent=indent) + "\n"
    output = check_resolution(text)
    assert json.loads(output) == replace_references(JSON_MANIFEST, RESOLVED)
    assert json.loads(output)["spec"]["template"]["spec"]["containers"][0]["args"] == ["--x=ko://a"]
    if indent:
        assert output.count("\n") == text.count("\n")


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


def test_unknown_reference_names_file_line_column_and_suggestions() -> None:
    text = "kind: Pod\nspec:\n  image: ko://example.com/cmd/ap\n"
    known = ["example.com/cmd/app", "example.com/cmd/api", "other.org/tool"]
    with pytest.raises(ManifestError) as info:
        resolve_text(text, "deploy/pod.yaml", {}, known=known)
    assert str(info.value) == (
        "deploy/pod.yaml:3:10: ko://example.com/cmd/ap is not a ko_image target;"
        " did you mean: example.com/cmd/app, example.com/cmd/api"
    )


def test_unknown_reference_suggests_from_resolved_keys_too() -> None:
    with pytest.raises(
        ManifestError, match=r"^m.yaml:1:4: ko://\./cmd/bb is not a ko_image target; did you mean: \./cmd/b$"
    ):
        resolve_text("a: ko://./cmd/bb\n", "m.yaml", RESOLVED)


def test_unknown_reference_without_similar_paths() -> None:
    with pytest.raises(ManifestError) as info:
        resolve_text("a: 1\nb: 'ko://zzz/qqq'\n", "m.yaml", {}, known=["example.com/cmd/app"])
    assert str(info.value) == (
        "m.yaml:2:4: ko://zzz/qqq is not a ko_image target; no known import path is similar;"
        " add a ko_image target for it or fix the reference"
    )
    with pytest.raises(ManifestError, match="no ko_image targets are known"):
        resolve_text("a: ko://zzz\n", "m.yaml", {})


def test_first_unknown_reference_in_file_order_is_reported() -> None:
    text = "a: ko://a\nb: ko://nope1\nc: ko://nope2\n"
    with pytest.raises(ManifestError, match=r"^m.yaml:2:4: ko://nope1 "):
        resolve_text(text, "m.yaml", RESOLVED)


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "spec:\n  image: ko://example.com/cmd/app:v1\n",
            "m.yaml:2:10: ko://example.com/cmd/app:v1 carries a tag or digest, which ko://"
            " references do not accept (ko issue 1528); write ko://<import path> and set tags"
            " on the ko_image target",
        ),
        (
            f"image: 'ko://example.com/cmd/app@{DIGEST_A}'\n",
            f"m.yaml:1:8: ko://example.com/cmd/app@{DIGEST_A} carries a tag or digest, which"
            " ko:// references do not accept (ko issue 1528); write ko://<import path> and set"
            " tags on the ko_image target",
        ),
        (
            "image: 'ko://  '\n",
            "m.yaml:1:8: 'ko://' has no import path; write ko://<import path of a Go main package>",
        ),
        (
            "image: ko://a\n  b\n",
            "m.yaml:1:8: 'ko://a b' contains whitespace, so it is not a Go import path; write the"
            " reference on one line as ko://<import path>",
        ),
        (
            "image: |\n  ko://a\n  ko://b\n",
            "m.yaml:1:8: 'ko://a\\nko://b' contains whitespace, so it is not a Go import path;"
            " write the reference on one line as ko://<import path>",
        ),
    ],
)
def test_invalid_references_are_rejected_with_one_line(text: str, message: str) -> None:
    with pytest.raises(ManifestError) as info:
        find_references(text, "m.yaml")
    assert str(info.value) == message
    assert "\n" not in str(info.value)
    with pytest.raises(ManifestError):
        resolve_text(text, "m.yaml", RESOLVED)


@pytest.mark.parametrize(
    "text, message",
    [
        # libyaml's wording (the parser that reads manifests, see scan.py).
        ("a: b\n  c: d\n", "m.yaml:2:4: invalid YAML: mapping values are not allowed in this context"),
        (
            "a: [1, 2\n",
            "m.yaml:2:1: invalid YAML: did not find expected ',' or ']', but found the end of the file"
            " (while parsing a flow sequence)",
        ),
        ("a: ok\nb: *nope\n", "m.yaml:2:4: invalid YAML: found undefined alias 'nope'"),
        (
            "a:\n\tb: 1\n",
            "m.yaml:2:1: invalid YAML: found character '\\t' that cannot start any token"
            " (while scanning for the next token)",
        ),
        (
            "a: ok\nb: x\x07y\n",
            "m.yaml:2:5: invalid YAML: character U+0007 is not allowed (YAML text must be"
            " printable Unicode); remove it or escape it in a quoted string",
        ),
    ],
)
def test_malformed_yaml_is_one_line_with_position(text: str, message: str) -> None:
    for call in (lambda: find_references(text, "m.yaml"), lambda: resolve_text(text, "m.yaml", {})):
        with pytest.raises(ManifestError) as info:
            call()
        assert str(info.value) == message


def test_absurdly_deep_nesting_resolves_like_any_other_file() -> None:
    # One pass over events with an explicit stack: no recursion, so no depth limit (ko's
    # go-yaml reads this too). PyYAML's own loader cannot, so the output is checked by text.
    text = "a: " + "[" * 20000 + "ko://a" + "]" * 20000 + "\n"
    assert resolve_text(text, "m.yaml", RESOLVED) == text.replace("ko://a", RESOLVED["a"])
    text = "".join("  " * i + f"k{i}:\n" for i in range(3000)) + "  " * 3000 + "ko://a\n"
    assert resolve_text(text, "m.yaml", RESOLVED) == text.replace("ko://a", RESOLVED["a"])
    text = "a: " + "[" * 50 + "ko://a" + "]" * 50 + "\n"
    assert check_resolution(text).count(RESOLVED["a"]) == 1


def test_resolved_value_that_needs_quoting_is_refused() -> None:
    with pytest.raises(ValueError, match=r"resolved image reference for ko://a is 'bad value'"):
        resolve_text("a: ko://a\n", "m.yaml", {"a": "bad value"})


def test_splice_that_would_change_the_yaml_type_is_caught() -> None:
    # A plain `123` would load as an int: the post-splice check refuses to emit it.
    with pytest.raises(ManifestError, match=r"^m.yaml:1:4: internal error: ko://a could not be"):
        resolve_text("a: ko://a\n", "m.yaml", {"a": "123"})
    # Quoted, the same value is a string, so it is accepted.
    assert resolve_text("a: 'ko://a'\n", "m.yaml", {"a": "123"}) == "a: '123'\n"


def test_unused_resolved_entries_are_ignored() -> None:
    assert resolve_text("a: ko://a\n", "m.yaml", {**RESOLVED, "x": "not checked"}) == (f"a: {RESOLVED['a']}\n")
