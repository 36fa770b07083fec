"""Tests for Kubernetes label-selector parsing and matching (apimachinery `labels.Parse`)."""

from __future__ import annotations

import pytest

from pants_backend_ko.k8s.selector import (
    DOES_NOT_EXIST,
    DOUBLE_EQUALS,
    EQUALS,
    EXISTS,
    GREATER_THAN,
    IN,
    LESS_THAN,
    NOT_EQUALS,
    NOT_IN,
    Requirement,
    Selector,
    label_key_problem,
    label_value_problem,
    parse_selector,
)

WEB = {"app": "web", "tier": "frontend", "example.com/team": "a", "version": "10"}
DB = {"app": "db", "tier": "backend"}
NONE: dict[str, str] = {}


@pytest.mark.parametrize(
    "text, requirements",
    [
        ("", ()),
        ("   ", ()),
        ("app=web", (Requirement("app", EQUALS, ("web",)),)),
        ("app==web", (Requirement("app", DOUBLE_EQUALS, ("web",)),)),
        ("app!=web", (Requirement("app", NOT_EQUALS, ("web",)),)),
        ("app", (Requirement("app", EXISTS, ()),)),
        ("!app", (Requirement("app", DOES_NOT_EXIST, ()),)),
        ("! app", (Requirement("app", DOES_NOT_EXIST, ()),)),
        ("app in (web,db)", (Requirement("app", IN, ("db", "web")),)),
        ("app notin (web)", (Requirement("app", NOT_IN, ("web",)),)),
        ("app in (web, web ,db)", (Requirement("app", IN, ("db", "web")),)),
        ("app in ()", (Requirement("app", IN, ("",)),)),
        ("app in (,web)", (Requirement("app", IN, ("", "web")),)),
        ("app in (web,)", (Requirement("app", IN, ("", "web")),)),
        ("app in (a,,b)", (Requirement("app", IN, ("", "a", "b")),)),
        ("app=", (Requirement("app", EQUALS, ("",)),)),
        ("app=,tier", (Requirement("app", EQUALS, ("",)), Requirement("tier", EXISTS, ()))),
        ("version>5", (Requirement("version", GREATER_THAN, ("5",)),)),
        ("version<5", (Requirement("version", LESS_THAN, ("5",)),)),
        ("example.com/team=a", (Requirement("example.com/team", EQUALS, ("a",)),)),
        ("in=notin", (Requirement("in", EQUALS, ("notin",)),)),
        ("notin in (in,notin)", (Requirement("notin", IN, ("in", "notin")),)),
        (
            " tier notin (db) ,\tapp in (web)\n, !canary",
            (
                Requirement("app", IN, ("web",)),
                Requirement("canary", DOES_NOT_EXIST, ()),
                Requirement("tier", NOT_IN, ("db",)),
            ),
        ),
        ("A.b_c-D=X.y_z-1", (Requirement("A.b_c-D", EQUALS, ("X.y_z-1",)),)),
    ],
)
def test_valid_selectors_parse(text: str, requirements) -> None:
    assert parse_selector(text) == Selector(requirements)


@pytest.mark.parametrize(
    "text, canonical",
    [
        ("tier notin (db) , app in (web,api)", "app in (api,web),tier notin (db)"),
        ("!b,a", "a,!b"),
        ("a==1,b!=2,c>3,d<4", "a==1,b!=2,c>3,d<4"),
        ("", ""),
    ],
)
def test_str_is_canonical_and_reparses(text: str, canonical: str) -> None:
    selector = parse_selector(text)
    assert str(selector) == canonical
    assert parse_selector(str(selector)) == selector


@pytest.mark.parametrize(
    "text, web, db, none",
    [
        ("", True, True, True),
        ("app=web", True, False, False),
        ("app==web", True, False, False),
        ("app!=web", False, True, True),
        ("app", True, True, False),
        ("!app", False, False, True),
        ("example.com/team", True, False, False),
        ("!example.com/team", False, True, True),
        ("app in (web,db)", True, True, False),
        ("app notin (web,db)", False, False, True),
        ("app notin (web)", False, True, True),
        ("app=web,tier=frontend", True, False, False),
        ("app=web,tier=backend", False, False, False),
        ("app in (web,db),tier!=backend", True, False, False),
        ("version>9", True, False, False),
        ("version>10", False, False, False),
        ("version<11", True, False, False),
        ("app>1", False, False, False),  # a non-integer value never compares
        ("app in ()", False, False, False),
        ("app notin ()", True, True, True),
        ("app=", False, False, False),
        ("app!=", True, True, True),
    ],
)
def test_matching(text: str, web: bool, db: bool, none: bool) -> None:
    selector = parse_selector(text)
    assert (selector.matches(WEB), selector.matches(DB), selector.matches(NONE)) == (web, db, none)


def test_empty_value_matches_an_empty_label() -> None:
    assert parse_selector("app=").matches({"app": ""})
    assert parse_selector("app in (,x)").matches({"app": ""})
    assert not parse_selector("app").matches({"other": ""})
    assert parse_selector("app").matches({"app": ""})


def test_integer_comparison_is_strict_int64() -> None:
    assert parse_selector("n<1").matches({"n": "+0"})
    assert parse_selector("n<1").matches({"n": "-7"})
    assert not parse_selector("n>0").matches({"n": "1_000"})
    assert not parse_selector("n>0").matches({"n": " 5"})
    assert not parse_selector("n>0").matches({"n": str(2**63)})
    assert parse_selector("n>0").matches({"n": str(2**63 - 1)})


@pytest.mark.parametrize(
    "text, message",
    [
        ("a,", "invalid label selector 'a,' at column 3: found end of string, expected a label key after ','"),
        (",a", "invalid label selector ',a' at column 1: found ',', expected '!', a label key or end of string"),
        ("a in (x", "invalid label selector 'a in (x' at column 8: found end of string, expected ',' or ')'"),
        ("a in x", "invalid label selector 'a in x' at column 6: found 'x', expected '('"),
        ("a in (x y)", "invalid label selector 'a in (x y)' at column 9: found 'y', expected ',' or ')'"),
        ("a in (=)", "invalid label selector 'a in (=)' at column 7: found '=', expected a value, ',' or ')'"),
        ("a b", "invalid label selector 'a b' at column 3: found 'b' after label key 'a', expected one of: in, notin, =, ==, !=, >, <, ',' or end of string"),
        ("a=b c", "invalid label selector 'a=b c' at column 5: found 'c', expected ',' or end of string"),
        ("a=(b)", "invalid label selector 'a=(b)' at column 3: found '(', expected a value"),
        ("!a=b", "invalid label selector '!a=b' at column 3: found '=', expected ',' or end of string"),
        ("!", "invalid label selector '!' at column 2: found end of string, expected a label key"),
        ("a!b", "invalid label selector 'a!b' at column 2: found '!' after label key 'a', expected one of: in, notin, =, ==, !=, >, <, ',' or end of string"),
        ("a===b", "invalid label selector 'a===b' at column 4: found '=', expected a value"),
        ("a>x", "invalid label selector 'a>x' at column 3: value 'x' for 'a' must be an integer for '>' and '<'"),
        ("a<", "invalid label selector 'a<' at column 3: value '' for 'a' must be an integer for '>' and '<'"),
        ("a<-5", "invalid label selector 'a<-5' at column 3: value '-5' for 'a' is invalid: a label value must be empty or consist of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"),
        ("-a", "invalid label selector '-a' at column 1: label key '-a' is invalid: the name must consist of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"),
        ("a/b/c", "invalid label selector 'a/b/c' at column 1: label key 'a/b/c' is invalid: it may contain at most one '/' (an optional DNS-subdomain prefix, e.g. 'example.com/name')"),
        ("/a", "invalid label selector '/a' at column 1: label key '/a' is invalid: the prefix before '/' must not be empty"),
        ("a/", "invalid label selector 'a/' at column 1: label key 'a/' is invalid: the name must not be empty"),
        ("Example.com/a", "invalid label selector 'Example.com/a' at column 1: label key 'Example.com/a' is invalid: the prefix before '/' must be a DNS subdomain: lowercase alphanumerics, '-' and '.', starting and ending with an alphanumeric (e.g. 'example.com')"),
        ("x, app=we b", "invalid label selector 'x, app=we b' at column 11: found 'b', expected ',' or end of string"),
        ("app=-web", "invalid label selector 'app=-web' at column 5: value '-web' for 'app' is invalid: a label value must be empty or consist of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"),
        ("app in (ok,bad!)", "invalid label selector 'app in (ok,bad!)' at column 15: found '!', expected ',' or ')'"),
        ("app in (ok,b@d)", "invalid label selector 'app in (ok,b@d)' at column 12: value 'b@d' for 'app' is invalid: a label value must be empty or consist of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"),
    ],
)  # fmt: skip
def test_invalid_selectors_name_the_selector_and_column(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_selector(text)
    assert str(info.value) == message


def test_length_limits() -> None:
    assert parse_selector("a" * 63 + "=" + "b" * 63)
    with pytest.raises(
        ValueError, match=r"at column 1: label key 'a{64}' is invalid: the name must be at most 63 characters$"
    ):
        parse_selector("a" * 64)
    with pytest.raises(
        ValueError, match=r"at column 3: value 'b{64}' for 'a' is invalid: a label value must be at most 63 characters$"
    ):
        parse_selector("a=" + "b" * 64)
    prefix = ".".join(["abcdefg"] * 31) + ".abcd"  # 252 characters
    assert len(prefix) == 252
    assert parse_selector(f"{prefix}/name")
    assert parse_selector(f"{prefix}x/name")  # 253
    with pytest.raises(ValueError, match="the prefix before '/' must be at most 253 characters"):
        parse_selector(f"{prefix}xy/name")


@pytest.mark.parametrize(
    "key, ok",
    [
        ("a", True),
        ("a-b_c.d", True),
        ("9", True),
        ("a-", False),
        ("_a", False),
        ("a b", False),
        ("app.kubernetes.io/name", True),
        ("k8s.io/a", True),
        ("-k8s.io/a", False),
        ("k8s..io/a", False),
        ("K8S.io/a", False),
        ("é", False),
    ],
)
def test_label_key_rules(key: str, ok: bool) -> None:
    assert (label_key_problem(key) is None) == ok


@pytest.mark.parametrize("value, ok", [("", True), ("a", True), ("a.b-c_D", True), ("a.", False),
                                       (".a", False), ("a b", False), ("x" * 63, True), ("x" * 64, False)])  # fmt: skip
def test_label_value_rules(value: str, ok: bool) -> None:
    assert (label_value_problem(value) is None) == ok


def test_selector_and_requirement_are_frozen() -> None:
    selector = parse_selector("a=b")
    with pytest.raises(AttributeError):
        selector.requirements = ()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        selector.requirements[0].key = "x"  # type: ignore[misc]
    assert hash(selector) == hash(parse_selector("a==b".replace("==", "=")))
    assert not selector.empty and parse_selector("").empty
