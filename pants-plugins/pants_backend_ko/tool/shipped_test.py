"""What the rules ship into sandboxes (`util_rules/tool.py: tool_source_files`) runs on its own.

The shipped tree is written to a folder and run in a fresh interpreter with only that folder on
`PYTHONPATH`: every module imports, Pants is refused (the interpreter that runs Pants has it, so
a stray import would otherwise pass here and fail in the sandbox), and every verb answers
`--help`. PyYAML is allowed: the tool runs with that interpreter, and Pants requires PyYAML.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pants_backend_ko.tool.main import _parser
from pants_backend_ko.util_rules.tool import TOOL_MODULE, tool_source_files

FORBIDDEN = ("pants",)

CHECK_IMPORTS = """
import importlib, sys

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {forbidden!r}:
            raise ImportError(f"the shipped tool imports {{name}}, which is not shipped")
        return None

sys.meta_path.insert(0, Refuse())
for module in {modules!r}:
    importlib.import_module(module)
import pants_backend_ko
assert pants_backend_ko.__file__.startswith({root!r}), pants_backend_ko.__file__
print(len({modules!r}))
"""


@pytest.fixture(scope="module")
def shipped(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("shipped")
    for path, data in tool_source_files():
        target = root / "pants_backend_ko" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def _module(path: str) -> str:
    parts = path[: -len(".py")].split("/")
    return ".".join(["pants_backend_ko", *(parts[:-1] if parts[-1] == "__init__" else parts)])


def _run(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-s", *args],
        cwd=root,
        env={"PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_shipped_tree_is_the_tool_and_nothing_else() -> None:
    paths = [path for path, _ in tool_source_files()]
    assert "tool/main.py" in paths and "tool/__main__.py" in paths and "oci/remote/push.py" in paths
    assert "k8s/scan.py" in paths  # the scan and render verbs
    assert not [p for p in paths if p.endswith("_test.py")]
    assert not [p for p in paths if p.startswith(("util_rules/", "goals/", "koconfig/"))]


def test_every_shipped_module_imports_from_the_shipped_tree_alone(shipped: Path) -> None:
    modules = sorted(_module(path) for path, _ in tool_source_files() if not path.endswith("__main__.py"))
    script = CHECK_IMPORTS.format(forbidden=FORBIDDEN, modules=modules, root=str(shipped))
    result = _run(shipped, "-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(len(modules))


def test_every_verb_answers_help_from_the_shipped_tree(shipped: Path) -> None:
    (verbs,) = (a.choices for a in _parser()._subparsers._group_actions)  # type: ignore[union-attr]
    assert verbs is not None
    assert set(verbs) == {"push-plan", "deploy", "status", "base", "scan", "render", "inspect", "push"}
    for args in ([], *([verb] for verb in verbs)):
        result = _run(shipped, "-m", TOOL_MODULE, *args, "--help")
        assert result.returncode == 0, (args, result.stderr)
        assert result.stdout.startswith(f"usage: python -m {TOOL_MODULE} {' '.join(args)}".rstrip()), result.stdout


def test_errors_are_one_line_from_the_shipped_tree(shipped: Path) -> None:
    bad = _run(shipped, "-m", TOOL_MODULE, "status", "--query", "missing.json")
    assert (bad.returncode, bad.stdout) == (1, "")
    assert bad.stderr == "error: [Errno 2] No such file or directory: 'missing.json'\n"
    usage = _run(shipped, "-m", TOOL_MODULE, "base", "--out", "x")
    assert usage.returncode == 1
    assert usage.stderr == (
        f"error: python -m {TOOL_MODULE} base: the following arguments are required: --request; "
        f"see `python -m {TOOL_MODULE} --help`\n"
    )
