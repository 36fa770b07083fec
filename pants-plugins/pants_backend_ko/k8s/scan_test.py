"""The single pass over YAML events: what it keeps, where it says things are, what it costs.

Selection and splicing are checked against independent PyYAML loads in documents_test.py and
resolve_property_test.py; these cases pin the parts those do not reach.
"""

from __future__ import annotations

import tracemalloc

import pytest
import yaml

from pants_backend_ko.k8s.documents import object_kind, object_labels, parse_selected, select_documents
from pants_backend_ko.k8s.resolve import ManifestError, find_references, resolve_text
from pants_backend_ko.k8s.scan import LIBYAML, MappingNode, ScalarNode, SequenceNode, parse_stream
from pants_backend_ko.k8s.selector import parse_selector

REF = "reg.local/app@sha256:" + "ab" * 32


def test_pyyaml_here_has_libyaml():
    # The Pants interpreter's PyYAML wheel carries libyaml; without it the pure-Python parser
    # gives the same events, ~20 times slower.
    assert LIBYAML


def test_a_document_keeps_only_what_a_selector_reads():
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels: {app: web, tier: '1'}\n"
        "data:\n  big: |\n    " + "x" * 1000 + "\n  k: ko://a\n"
    )
    (document,) = parse_stream(text, "m.yaml", structure=True).documents
    root = document.root
    assert isinstance(root, MappingNode)
    assert [key.value for key, _ in root.value] == ["apiVersion", "kind", "metadata"]
    assert object_kind(root) == "ConfigMap" and object_labels(root) == {"app": "web", "tier": "1"}
    assert root.start_mark is not None and (root.start_mark.line, root.start_mark.column) == (0, 0)


def test_anchors_defined_anywhere_can_be_aliased_where_a_selector_reads():
    text = (
        "x-defaults:\n  labels: &l {app: web}\n  meta: &m\n    labels: {app: api}\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata: {labels: *l}\n"
    )
    # Anchors are per document in YAML: the second document's alias is undefined.
    with pytest.raises(ManifestError, match=r"^m.yaml:8:20: invalid YAML: found undefined alias 'l'$"):
        parse_stream(text, "m.yaml", structure=True)
    text = (
        "apiVersion: v1\nkind: List\nx-defaults:\n  labels: &l {app: web}\n  meta: &m\n    labels: {app: api}\n"
        "items:\n- {apiVersion: v1, kind: Pod, metadata: {labels: *l}}\n- {apiVersion: v1, kind: Pod, metadata: *m}\n"
        "- &item {apiVersion: v1, kind: Pod}\n- *item\n"
    )
    stream = parse_stream(text, "m.yaml", structure=True)
    root = stream.documents[0].root
    assert isinstance(root, MappingNode)
    items = next(v for k, v in root.value if k.value == "items")
    assert isinstance(items, SequenceNode) and len(items.value) == 4
    assert all(isinstance(item, MappingNode) for item in items.value)
    assert [object_labels(item) for item in items.value if isinstance(item, MappingNode)] == [
        {"app": "web"},
        {"app": "api"},
        {},
        {},
    ]
    spans = stream.item_spans(items)
    assert [text[a:b] for a, b in spans][-1] == "*item"  # an alias's span is the alias as written
    assert select_documents(text, "m.yaml", "app=api").count("kind: Pod") == 1


def test_an_alias_can_be_a_key():
    text = "x: &k kind\napiVersion: v1\n*k : Pod\nmetadata: {labels: {a: b}}\n"
    (document,) = parse_stream(text, "m.yaml", structure=True).documents
    assert isinstance(document.root, MappingNode) and object_kind(document.root) == "Pod"


def test_collections_as_keys_are_walked_through():
    text = "? [kind]\n: List\napiVersion: v1\nkind: Pod\n? {a: 1}\n: {labels: {x: y}}\n"
    (document,) = parse_stream(text, "m.yaml", structure=True).documents
    assert isinstance(document.root, MappingNode)
    assert object_kind(document.root) == "Pod" and object_labels(document.root) == {}


def test_offsets_after_a_byte_order_mark_count_it_as_pyyaml_does():
    text = "\ufeffa: &x !!str ko://a\r\nb: 'ko://b'\r\n"
    refs = find_references(text, "m.yaml")
    # PyYAML's own (pure-Python) scanner, which counts the mark, says where the scalars are.
    tokens = [t for t in yaml.scan(text, Loader=yaml.SafeLoader) if isinstance(t, yaml.ScalarToken)]
    expected = [(t.start_mark.index, t.end_mark.index) for t in tokens if t.value.startswith("ko://")]
    assert [(r.start, r.end) for r in refs] == expected
    assert [(r.line, r.column) for r in refs] == [(1, 13), (2, 4)]
    assert [text[r.start : r.end] for r in refs] == ["ko://a", "'ko://b'"]
    assert resolve_text(text, "m.yaml", {"a": REF, "b": REF}).startswith("\ufeffa: &x !!str " + REF)


def test_properties_on_their_own_line_before_the_scalar():
    text = "a: &x # the anchor\n  !!str\n  ko://a\n"
    (ref,) = find_references(text, "m.yaml")
    assert (ref.line, ref.column, text[ref.start : ref.end]) == (3, 3, "ko://a")
    assert yaml.safe_load(resolve_text(text, "m.yaml", {"a": REF})) == {"a": REF}


@pytest.mark.parametrize(
    "text, message",
    [
        ("a: [b, c\n", "m.yaml:2:1: invalid YAML: did not find expected ',' or ']', but found the end of the file"
                       " (while parsing a flow sequence)"),
        ("a:\n  - b\n c: d\n", "m.yaml:3:2: invalid YAML: did not find expected key, but found 'c'"
                               " (while parsing a block mapping)"),
        ("\ufeffa: `x\n", "m.yaml:1:4: invalid YAML: found character '`' that cannot start any token"
                          " (while scanning for the next token)"),
    ],
)  # fmt: skip
def test_libyaml_messages_say_what_was_found(text, message):
    with pytest.raises(ManifestError) as info:
        parse_stream(text, "m.yaml")
    assert str(info.value) == message


def _many_documents(count: int) -> str:
    document = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  labels: {{app: web, n: '{i}'}}\n"
        "spec:\n  template:\n    spec:\n      containers:\n      - name: c\n        image: ko://example.com/app\n"
        "        args: [--port, '8080', --flag-{i}]\n"
    )
    return "---\n".join(document.format(i=i) for i in range(count))


def test_memory_follows_what_is_kept_not_the_file():
    text = _many_documents(8000)  # ~2.4 MB
    tracemalloc.start()
    try:
        references = len(parse_stream(text, "m.yaml").ko_scalars)
        _, plain_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        with_structure = parse_stream(text, "m.yaml", structure=True)
        _, structure_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert references == len(with_structure.documents) == 8000
    # Python objects (libyaml's own buffers are C): the UTF-8 copy libyaml reads, a reference and
    # a document each, and the few nodes a selector reads — here 6 pairs per 240-byte document,
    # about as dense as Kubernetes YAML gets. PyYAML's composer kept ~100 bytes per byte.
    assert plain_peak < 4 * len(text), plain_peak
    assert structure_peak < 10 * len(text), structure_peak
    root = with_structure.documents[0].root
    assert root is not None and isinstance(root.value[0][0], ScalarNode)
    # Selecting while reading keeps no document's nodes: as little as the plain pass.
    del with_structure
    tracemalloc.start()
    try:
        stream, kept = parse_selected(text, "m.yaml", parse_selector("app=web"))
        _, selected_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(b - a for a, b in kept) == len(text) and len(stream.ko_scalars) == 8000
    assert selected_peak < 4 * len(text), selected_peak
