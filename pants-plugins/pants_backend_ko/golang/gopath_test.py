"""gopath against Go's own `path` package (a stdlib Go program, built offline)."""

from __future__ import annotations

from tests.peers.go_reference import go_stdlib

from pants_backend_ko.golang import gopath

PATHS = [
    "",
    ".",
    "..",
    "/",
    "//",
    "///",
    "//a",
    "//a//b//",
    "a/",
    "a//",
    "/a/",
    "a/b/../c",
    "a/../..",
    "a/../../b",
    "../../a",
    "/../a",
    "/..",
    "/../..",
    "./a/./b/.",
    "a/./../.",
    "a/b/c/../../..",
    "a/b/c/../../../..",
    "...",
    ".../..",
    "a..b/../c",
    "ko-app/PaxHeaders.0/ünïcødé",
    "/var/run/ko/",
]

JOINS: list[list[str]] = [
    [],
    [""],
    ["", ""],
    ["a", ""],
    ["", "a"],
    ["a", "b"],
    ["a/", "/b"],
    ["/", "a"],
    ["registry.example.com/team", "app-0123"],
    ["registry.example.com/team/", "example.com/cmd/app"],
    ["ghcr.io/acme", ".."],
    ["ghcr.io/acme", "../../.."],
    ["a", "..", "..", "b"],
    ["//a", "b//"],
    ["ko-app/", "PaxHeaders.0", "app"],
    ["", "PaxHeaders.0", "name"],
]


def _go(op: str, calls: list[list[str]]) -> list[str]:
    answers = go_stdlib(op, calls)
    assert all(not err for _, err in answers)
    return [out.decode() for out, _ in answers]


def test_clean_matches_go() -> None:
    assert [gopath.clean(p) for p in PATHS] == _go("path.Clean", [[p] for p in PATHS])


def test_join_matches_go() -> None:
    assert [gopath.join(*parts) for parts in JOINS] == _go("path.Join", JOINS)


def test_base_matches_go() -> None:
    assert [gopath.base(p) for p in PATHS] == _go("path.Base", [[p] for p in PATHS])


def test_split_matches_go() -> None:
    expected = [tuple(out.split("\x00")) for out in _go("path.Split", [[p] for p in PATHS])]
    assert [gopath.split(p) for p in PATHS] == expected
