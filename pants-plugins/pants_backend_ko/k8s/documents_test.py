"""Tests for label-selector document selection and `render_file` (pure, no peers needed)."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
import yaml

from pants_backend_ko.k8s.documents import parse_selected, render_file, select_documents, selected_ranges
from pants_backend_ko.k8s.resolve import ManifestError, find_references
from pants_backend_ko.k8s.resolve_test import RESOLVED, assert_changed_only_within, scanner_spans
from pants_backend_ko.k8s.scan import parse_stream
from pants_backend_ko.k8s.selector import parse_selector

WEB_DEPLOYMENT = """\
# The web tier.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web   # keep this comment
  labels:
    app: web
    tier: frontend
spec:
  template:
    spec:
      containers:
      - image: ko://a
"""
DB_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, labels: {app: db, tier: backend}}
spec: {template: {spec: {containers: [{image: 'ko://./cmd/b'}]}}}
"""
UNLABELLED_SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: plain
"""


def stream(*documents: str) -> str:
    return "---\n".join(documents)


# ---------------------------------------------------------------------------------------
# Whole documents
# ---------------------------------------------------------------------------------------


def test_matching_documents_are_kept_byte_for_byte() -> None:
    text = stream(WEB_DEPLOYMENT, DB_DEPLOYMENT, UNLABELLED_SERVICE)
    assert select_documents(text, "m.yaml", "app=web") == WEB_DEPLOYMENT
    assert select_documents(text, "m.yaml", "app=db") == "---\n" + DB_DEPLOYMENT
    assert select_documents(text, "m.yaml", "tier") == WEB_DEPLOYMENT + "---\n" + DB_DEPLOYMENT
    assert select_documents(text, "m.yaml", "app!=web") == "---\n" + DB_DEPLOYMENT + "---\n" + UNLABELLED_SERVICE
    assert select_documents(text, "m.yaml", "") == text


def test_nothing_matching_gives_empty_output() -> None:
    text = stream(WEB_DEPLOYMENT, DB_DEPLOYMENT)
    assert select_documents(text, "m.yaml", "app=nothing") == ""
    assert select_documents("", "m.yaml", "app=web") == ""
    assert select_documents("# just a comment\n", "m.yaml", "app=web") == ""


def test_object_without_labels_matches_as_an_empty_label_set() -> None:
    # Deliberate (documented) difference from ko, which never selects an unlabelled object.
    text = stream(WEB_DEPLOYMENT, UNLABELLED_SERVICE)
    assert select_documents(text, "m.yaml", "!app") == "---\n" + UNLABELLED_SERVICE
    assert select_documents(text, "m.yaml", "app notin (web)") == "---\n" + UNLABELLED_SERVICE
    assert select_documents(text, "m.yaml", "app") == WEB_DEPLOYMENT


def test_label_values_are_compared_as_written() -> None:
    text = "apiVersion: v1\nkind: A\nmetadata:\n  labels: {version: 1, enabled: true, q: '007', n: }\n"
    for selector in ("version=1", "enabled=true", "q=007", "n=", "version>0"):
        assert select_documents(text, "m.yaml", selector) == text, selector
    assert select_documents(text, "m.yaml", "q=7") == ""


def test_comments_and_markers_travel_with_their_documents() -> None:
    text = (
        "%YAML 1.1\n---\n# first\napiVersion: v1\nkind: A\nmetadata: {labels: {app: x}}\n...\n"
        "# comment after the end marker belongs to the next document\n"
        "--- # second\napiVersion: v1\nkind: B\nmetadata: {labels: {app: y}}\n"
        "# above the third marker: belongs to the second document\n"
        "---\napiVersion: v1\nkind: C\nmetadata: {labels: {app: x}}\n# trailing comment\n"
    )
    first = "%YAML 1.1\n---\n# first\napiVersion: v1\nkind: A\nmetadata: {labels: {app: x}}\n...\n"
    second = (
        "# comment after the end marker belongs to the next document\n"
        "--- # second\napiVersion: v1\nkind: B\nmetadata: {labels: {app: y}}\n"
        "# above the third marker: belongs to the second document\n"
    )
    third = "---\napiVersion: v1\nkind: C\nmetadata: {labels: {app: x}}\n# trailing comment\n"
    assert first + second + third == text
    assert select_documents(text, "m.yaml", "app=x") == first + third
    assert select_documents(text, "m.yaml", "app=y") == second


def test_null_documents_are_dropped() -> None:
    text = "---\n---\n# only a comment\n---\nnull\n---\n~\n---\n" + DB_DEPLOYMENT + "---\n"
    assert select_documents(text, "m.yaml", "app=db") == "---\n" + DB_DEPLOYMENT
    assert select_documents(text, "m.yaml", "!nothing") == "---\n" + DB_DEPLOYMENT


def test_crlf_stream() -> None:
    text = stream(WEB_DEPLOYMENT, DB_DEPLOYMENT).replace("\n", "\r\n")
    assert select_documents(text, "m.yaml", "app=db") == ("---\n" + DB_DEPLOYMENT).replace("\n", "\r\n")


@pytest.mark.parametrize(
    "document, line",
    [
        ("hello\n", 3),
        ("- a\n- b\n", 3),
        ("metadata: {labels: {app: web}}\n", 3),
        ("apiVersion: v1\nmetadata: {}\n", 3),
        ("kind: Pod\n", 3),
        ("apiVersion: 1\nkind: Pod\n", 3),  # ko needs a string apiVersion
        ("apiVersion: v1\nkind: [Pod]\n", 3),
    ],
)
def test_document_that_is_not_an_object_is_an_error(document: str, line: int) -> None:
    text = "# head\n---\n" + document
    with pytest.raises(ManifestError) as info:
        select_documents(text, "deploy/x.yaml", "app=web")
    assert str(info.value) == (
        f"deploy/x.yaml:{line}:1: document is not a Kubernetes object (it needs string apiVersion"
        " and kind), so the label selector cannot be applied to it; add apiVersion and kind,"
        " or render this file without a selector"
    )


def test_invalid_selector_is_a_value_error() -> None:
    with pytest.raises(
        ValueError, match=r"^invalid label selector 'app in' at column 7: found end of string, expected '\('$"
    ):
        select_documents(WEB_DEPLOYMENT, "m.yaml", "app in")


# ---------------------------------------------------------------------------------------
# kind: List
# ---------------------------------------------------------------------------------------

BLOCK_LIST = """\
apiVersion: v1
kind: List
items:
# before the first item
- apiVersion: v1
  kind: Pod
  metadata:
    labels: {app: web}
  spec: {image: ko://a}
- apiVersion: v1   # second
  kind: Pod
  metadata:
    labels: {app: db}
# between the second and the third
- apiVersion: v1
  kind: Pod
  metadata: {labels: {app: web, extra: "yes"}}
  spec:
    image: |
      ko://./cmd/b
# after the items
metadata: {name: the-list}
"""


def test_block_list_drops_a_middle_item_with_its_lines() -> None:
    output = select_documents(BLOCK_LIST, "m.yaml", "app=web")
    assert output == BLOCK_LIST.replace(
        "- apiVersion: v1   # second\n  kind: Pod\n  metadata:\n    labels: {app: db}\n"
        "# between the second and the third\n",
        "",
    )
    items = yaml.safe_load(output)["items"]
    assert [i["metadata"]["labels"]["app"] for i in items] == ["web", "web"]


def test_block_list_drops_the_first_and_last_items() -> None:
    output = select_documents(BLOCK_LIST, "m.yaml", "app=db")
    assert output == (
        "apiVersion: v1\nkind: List\nitems:\n# before the first item\n"
        "- apiVersion: v1   # second\n  kind: Pod\n  metadata:\n    labels: {app: db}\n"
        "# between the second and the third\n"
        "metadata: {name: the-list}\n"
    )
    assert yaml.safe_load(output)["metadata"] == {"name": "the-list"}


def test_block_list_keeps_only_the_last_item() -> None:
    output = select_documents(BLOCK_LIST, "m.yaml", "extra")
    assert output == (
        "apiVersion: v1\nkind: List\nitems:\n# before the first item\n"
        '- apiVersion: v1\n  kind: Pod\n  metadata: {labels: {app: web, extra: "yes"}}\n'
        "  spec:\n    image: |\n      ko://./cmd/b\n# after the items\nmetadata: {name: the-list}\n"
    )


def test_indented_block_list_at_end_of_file_without_newline() -> None:
    text = (
        "apiVersion: v1\nkind: List\nitems:\n  - {apiVersion: v1, kind: A, metadata: {labels: {k: a}}}\n"
        "  - {apiVersion: v1, kind: B, metadata: {labels: {k: b}}}"
    )
    assert select_documents(text, "m.yaml", "k=a") == (
        "apiVersion: v1\nkind: List\nitems:\n  - {apiVersion: v1, kind: A, metadata: {labels: {k: a}}}\n"
    )
    assert select_documents(text, "m.yaml", "k=b") == (
        "apiVersion: v1\nkind: List\nitems:\n  - {apiVersion: v1, kind: B, metadata: {labels: {k: b}}}"
    )


FLOW_ITEMS = [
    "{apiVersion: v1, kind: A, metadata: {labels: {k: a}}}",
    "{apiVersion: v1, kind: B, metadata: {labels: {k: b}}}",
    "{apiVersion: v1, kind: C, metadata: {labels: {k: c}}}",
]


@pytest.mark.parametrize(
    "selector, kept",
    [
        ("k=a", [0]),
        ("k=b", [1]),
        ("k=c", [2]),
        ("k in (a,c)", [0, 2]),
        ("k in (a,b)", [0, 1]),
        ("k in (b,c)", [1, 2]),
        ("k", [0, 1, 2]),
    ],
)
@pytest.mark.parametrize("trailing_comma", ["", ","])
def test_flow_list_items_are_filtered(selector: str, kept: list[int], trailing_comma: str) -> None:
    text = f"apiVersion: v1\nkind: List\nitems: [{', '.join(FLOW_ITEMS)}{trailing_comma}]  # c\n"
    output = select_documents(text, "m.yaml", selector)
    expected = f"apiVersion: v1\nkind: List\nitems: [{', '.join(FLOW_ITEMS[i] for i in kept)}{trailing_comma}]  # c\n"
    assert output == expected


def test_json_list_stays_json() -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"app": "web"}}, "image": "ko://a"},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"app": "db"}}, "image": "ko://./cmd/b"},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"app": "web"}}},
        ],
    }
    for indent in (None, 2):
        text = json.dumps(manifest, indent=indent)
        output = render_file(text, "m.json", RESOLVED, selector="app=web")
        loaded = json.loads(output)
        assert [i["metadata"]["labels"]["app"] for i in loaded["items"]] == ["web", "web"]
        assert loaded["items"][0]["image"] == RESOLVED["a"]


def test_list_where_nothing_matches_is_dropped_and_all_matching_is_unchanged() -> None:
    text = stream(BLOCK_LIST, DB_DEPLOYMENT)
    assert select_documents(text, "m.yaml", "app=nothing") == ""
    assert select_documents(text, "m.yaml", "app") == text
    assert select_documents("apiVersion: v1\nkind: List\nitems: []\n", "m.yaml", "") == ""


def test_null_list_items_are_dropped() -> None:
    text = "apiVersion: v1\nkind: List\nitems:\n-\n- {apiVersion: v1, kind: A}\n- ~\n"
    assert select_documents(text, "m.yaml", "") == ("apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: A}\n")


def test_list_item_that_is_not_an_object_is_an_error() -> None:
    text = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: A}\n- {kind: B}\n"
    with pytest.raises(ManifestError) as info:
        select_documents(text, "m.yaml", "a")
    assert str(info.value) == (
        "m.yaml:5:3: item 1 of this kind: List is not a Kubernetes object (it needs string"
        " apiVersion and kind), so the label selector cannot be applied to it; fix the item or"
        " render without a selector"
    )


@pytest.mark.parametrize("items", ["", "items: {a: 1}\n", "items: x\n"])
def test_list_without_an_items_sequence_is_an_error(items: str) -> None:
    text = "---\napiVersion: v1\nkind: List\n" + items
    with pytest.raises(ManifestError) as info:
        select_documents(text, "m.yaml", "a")
    assert str(info.value) == (
        "m.yaml:2:1: this kind: List has no items sequence, so the label selector cannot be"
        " applied to it; add items: [...] or render without a selector"
    )


def test_alias_into_a_dropped_item_is_reported() -> None:
    text = (
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: v1, kind: A, metadata: {labels: {k: a}}, spec: &shared {x: 1}}\n"
        "- {apiVersion: v1, kind: B, metadata: {labels: {k: b}}, spec: *shared}\n"
    )
    with pytest.raises(
        ManifestError,
        match=r"^m.yaml:1:1: dropping the List items that do not match the selector leaves invalid YAML \(.*found undefined alias 'shared'\); probably",
    ):
        select_documents(text, "m.yaml", "k=b")
    assert select_documents(text, "m.yaml", "k=a").count("&shared") == 1


def test_aliased_list_item_is_filtered_on_the_anchored_object() -> None:
    text = (
        "base: &pod {apiVersion: v1, kind: Pod, metadata: {labels: {k: a}}}\n"
        "apiVersion: v1\nkind: List\nitems:\n- *pod\n- {apiVersion: v1, kind: B, metadata: {labels: {k: b}}}\n"
    )
    assert select_documents(text, "m.yaml", "k=a") == (
        "base: &pod {apiVersion: v1, kind: Pod, metadata: {labels: {k: a}}}\n"
        "apiVersion: v1\nkind: List\nitems:\n- *pod\n"
    )


# ---------------------------------------------------------------------------------------
# render_file: select, then resolve
# ---------------------------------------------------------------------------------------


def test_render_selects_before_resolving() -> None:
    broken = (
        "apiVersion: v1\nkind: Pod\nmetadata: {labels: {app: old}}\nspec: {image: 'ko://x:tag', other: ko://unknown}\n"
    )
    text = stream(broken, WEB_DEPLOYMENT)
    output = render_file(text, "m.yaml", RESOLVED, selector="app=web")
    assert output == "---\n" + WEB_DEPLOYMENT.replace("ko://a", RESOLVED["a"])
    with pytest.raises(ManifestError, match="ko://x:tag carries a tag"):
        render_file(text, "m.yaml", RESOLVED)


def test_render_errors_point_at_the_original_lines() -> None:
    text = stream(DB_DEPLOYMENT, WEB_DEPLOYMENT.replace("ko://a", "ko://example.com/cmd/ap"))
    with pytest.raises(ManifestError) as info:
        render_file(text, "deploy/all.yaml", {}, selector="app=web", known=["example.com/cmd/app"])
    assert str(info.value) == (
        "deploy/all.yaml:18:16: ko://example.com/cmd/ap is not a ko_image target;" " did you mean: example.com/cmd/app"
    )
    assert text.splitlines()[17].index("ko://") == 15


def test_render_without_selector_keeps_everything() -> None:
    text = "just: data\nimage: ko://a\n---\n---\n"
    for selector in (None, "", "  "):
        output = render_file(text, "m.yaml", RESOLVED, selector=selector)
        assert output == f"just: data\nimage: {RESOLVED['a']}\n---\n---\n"


def test_render_with_selector_object() -> None:
    text = stream(WEB_DEPLOYMENT, DB_DEPLOYMENT)
    output = render_file(text, "m.yaml", RESOLVED, selector=parse_selector("tier=backend"))
    assert output == "---\n" + DB_DEPLOYMENT.replace("ko://./cmd/b", RESOLVED["./cmd/b"])


def test_render_list_resolves_only_kept_items() -> None:
    output = render_file(BLOCK_LIST, "m.yaml", {"./cmd/b": RESOLVED["./cmd/b"]}, selector="extra=yes")
    assert "ko://" not in output
    assert yaml.safe_load(output)["items"][0]["spec"]["image"] == RESOLVED["./cmd/b"]


# ---------------------------------------------------------------------------------------
# Property: random Kubernetes streams, random selectors
# ---------------------------------------------------------------------------------------

APPS = ["web", "db", "cache"]


def _random_object(rng: random.Random, kind: str) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "metadata": {"name": f"n{rng.randint(0, 999)}"}}
    if rng.random() < 0.8:
        obj["metadata"]["labels"] = {"app": rng.choice(APPS)}
    obj["spec"] = {"image": f"ko://{rng.choice(sorted(RESOLVED))}", "note": "has ko:// inside"}
    return obj


def _dump(rng: random.Random, obj: Any) -> str:
    style = rng.choice(["block", "flow", "json"])
    if style == "json":
        return json.dumps(obj) + "\n"
    text = yaml.safe_dump(obj, default_flow_style=(style == "flow"), sort_keys=rng.random() < 0.5)
    return f"# {obj['kind']} ü\n" + text


def _independent_filter(documents: list[Any], app: str) -> list[Any]:
    kept = []
    for doc in documents:
        if doc is None:
            continue
        if doc["kind"] == "List":
            items = [i for i in doc["items"] if i.get("metadata", {}).get("labels", {}).get("app") == app]
            if items:
                kept.append({**doc, "items": items})
        elif doc.get("metadata", {}).get("labels", {}).get("app") == app:
            kept.append(doc)
    return kept


@pytest.mark.parametrize("seed", range(60))
def test_random_streams_select_like_an_independent_filter(seed: int) -> None:
    rng = random.Random(seed)
    pieces = []
    for _ in range(rng.randint(1, 5)):
        if rng.random() < 0.25:
            obj = {"apiVersion": "v1", "kind": "List",
                   "items": [_random_object(rng, "Pod") for _ in range(rng.randint(1, 4))]}  # fmt: skip
        elif rng.random() < 0.1:
            pieces.append("# nothing here\n")
            continue
        else:
            obj = _random_object(rng, rng.choice(["Deployment", "Service", "ConfigMap"]))
        pieces.append(_dump(rng, obj))
    text = "---\n".join(pieces)
    app = rng.choice(APPS)

    selected = select_documents(text, "r.yaml", f"app={app}")
    assert list(yaml.safe_load_all(selected)) == _independent_filter(list(yaml.safe_load_all(text)), app)
    # The one-pass selection that drops each document's nodes decides the same ranges.
    selector = parse_selector(f"app={app}")
    ranges = selected_ranges(parse_stream(text, "r.yaml", structure=True), selector)
    stream, one_pass = parse_selected(text, "r.yaml", selector)
    assert one_pass == ranges and all(document.root is None for document in stream.documents)
    # Every surviving non-List document is there byte-for-byte.
    for piece in pieces:
        doc = yaml.safe_load(piece)
        if doc and doc["kind"] != "List" and doc.get("metadata", {}).get("labels", {}).get("app") == app:
            assert piece in selected

    rendered = render_file(text, "r.yaml", RESOLVED, selector=f"app={app}")
    assert find_references(rendered, "r.yaml") == ()
    assert_changed_only_within(selected, rendered, scanner_spans(selected))
