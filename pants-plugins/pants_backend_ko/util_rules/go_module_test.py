"""Module discovery: the nearest go.mod, local `replace`s, go.work, and what is refused."""

from __future__ import annotations

import pytest
from pants.engine.internals.scheduler import ExecutionError
from pants.testutil.rule_runner import RuleRunner

from pants_backend_ko.testutil import hello_main, ko_error_message, ko_rule_runner, set_ko_options
from pants_backend_ko.util_rules.go_module import GoModule, GoModuleRequest


@pytest.fixture(scope="module")
def rule_runner() -> RuleRunner:
    return ko_rule_runner()


def module_of(rule_runner: RuleRunner, folder: str) -> GoModule:
    return rule_runner.request(GoModule, [GoModuleRequest(folder)])


def test_find_go_module_picks_the_nearest_go_mod(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {
            "nest/go.mod": "module example.com/outer\n\ngo 1.21\n",
            "nest/inner/go.mod": "module example.com/inner // the nested one\n\ngo 1.21\n",
            "nest/inner/cmd/x/main.go": hello_main(),
            "nest/cmd/y/main.go": hello_main(),
        }
    )
    inner = module_of(rule_runner, "nest/inner/cmd/x")
    assert (inner.root, inner.module_path, inner.vendored) == ("nest/inner", "example.com/inner", False)
    assert inner.import_path_of("nest/inner/cmd/x") == "example.com/inner/cmd/x"
    outer = module_of(rule_runner, "nest/cmd/y")
    assert (outer.root, outer.module_path) == ("nest", "example.com/outer")
    assert outer.import_path_of("nest") == "example.com/outer"
    # The nested module's folder is not a package of the outer one: `go` would look for
    # example.com/outer/inner in the module graph, not in the folder.
    assert outer.nested_roots == ("nest/inner",)
    assert outer.resolve("example.com/outer/cmd/y") == "nest/cmd/y"
    assert outer.resolve("example.com/outer/inner/cmd/x") is None
    assert outer.resolve("fmt") is None and outer.resolve("example.com/outerx") is None


def test_find_go_module_without_go_mod(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"nomod/cmd/z/main.go": hello_main()})
    with pytest.raises(ExecutionError) as excinfo:
        module_of(rule_runner, "nomod/cmd/z")
    assert ko_error_message(excinfo) == (
        "no go.mod in nomod/cmd/z or any folder above it; a ko_image builds a package of a Go "
        "module: run `go mod init <module path>` at the module root."
    )


def test_go_mod_without_module_line(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"nomodline/go.mod": "go 1.21\n", "nomodline/main.go": hello_main()})
    with pytest.raises(ExecutionError) as excinfo:
        module_of(rule_runner, "nomodline")
    assert ko_error_message(excinfo) == "nomodline/go.mod: no `module` line; run `go mod init <module path>` there."


def test_replace_to_a_sibling_module_puts_it_in_the_context(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {
            "mm/app/go.mod": (
                "module example.com/app\n\ngo 1.21\n\nrequire example.com/lib v0.0.0\n\n"
                "replace example.com/lib => ../lib\n"
            ),
            "mm/lib/go.mod": "module example.com/lib\n\ngo 1.21\n",
        }
    )
    app = module_of(rule_runner, "mm/app/cmd/x")
    assert app.local_modules == (("example.com/app", "mm/app"), ("example.com/lib", "mm/lib"))
    assert app.replaced_dirs == ("mm/lib",)
    assert app.resolve("example.com/lib/greet") == "mm/lib/greet"
    assert app.module_files == ("mm/app/go.mod", "mm/app/go.sum", "mm/lib/go.mod", "mm/lib/go.sum")
    # The library's own builds do not see the app.
    assert module_of(rule_runner, "mm/lib").local_modules == (("example.com/lib", "mm/lib"),)


def test_go_work_makes_every_used_module_local(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {
            "ws/go.work": "go 1.22\n\nuse (\n\t./svc\n\t./shared\n)\n",
            "ws/svc/go.mod": "module example.com/svc\n\ngo 1.22\n",
            "ws/shared/go.mod": "module example.com/shared\n\ngo 1.22\n",
            "ws/other/go.mod": "module example.com/other\n\ngo 1.22\n",
        }
    )
    svc = module_of(rule_runner, "ws/svc")
    assert svc.work_file == "ws/go.work"
    assert svc.local_modules == (("example.com/svc", "ws/svc"), ("example.com/shared", "ws/shared"))
    assert svc.resolve("example.com/shared/text") == "ws/shared/text"
    assert "ws/go.work" in svc.module_files and "ws/go.work.sum" in svc.module_files
    with pytest.raises(ExecutionError) as excinfo:
        module_of(rule_runner, "ws/other")
    assert ko_error_message(excinfo) == (
        "ws/other/go.mod is inside the workspace ws/go.work but not one of its `use` modules, so `go` "
        'refuses to build it: add it (`go work use other`) or set `GOWORK = "off"` in [ko].go_env.'
    )
    try:
        set_ko_options(rule_runner, ['--ko-go-env={"GOWORK": "off"}'])
        alone = module_of(rule_runner, "ws/other")
        assert alone.work_file is None and alone.local_modules == (("example.com/other", "ws/other"),)
    finally:
        set_ko_options(rule_runner)


@pytest.mark.parametrize(
    "replace,message",
    [
        (
            "example.com/x => /opt/src/x",
            "bad/go.mod:5: `replace example.com/x => /opt/src/x` points at /opt/src/x, an absolute path "
            "outside the repository: Pants cannot track it, so images would be built from whatever is "
            "there. Move that module into the repository and refer to it by a relative path, or depend "
            "on a published version.",
        ),
        (
            "example.com/x v1.0.0 => ../../outside",
            "bad/go.mod:5: `replace example.com/x v1.0.0 => ../../outside` points at ../../outside, outside "
            "the repository: Pants cannot track it, so images would be built from whatever is there. Move "
            "that module into the repository, or depend on a published version.",
        ),
        (
            "example.com/x => ../nomodule",
            "bad/go.mod: example.com/x is replaced by the folder nomodule, which has no go.mod; point the "
            "`replace` at a Go module of the repository.",
        ),
    ],
)
def test_replace_leaving_the_repository_is_refused(rule_runner: RuleRunner, replace: str, message: str) -> None:
    rule_runner.write_files({"bad/go.mod": f"module example.com/bad\n\ngo 1.21\n\nreplace {replace}\n"})
    with pytest.raises(ExecutionError) as excinfo:
        module_of(rule_runner, "bad")
    assert ko_error_message(excinfo) == message
