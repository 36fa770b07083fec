"""In-process tests of the Go build rules: `go list` parsing, module discovery, hermetic builds.

Every build here is a real `go build` Process run by the engine with the `go` on PATH; the
modules are written by the tests and use the standard library only (no network).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pants.engine.addresses import Address
from pants.engine.fs import Digest, DigestContents, DigestSubset, Snapshot
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.process import FallibleProcessResult, Process
from pants.engine.rules import QueryRule
from pants.testutil.option_util import create_subsystem
from pants.testutil.rule_runner import MockGet, RuleRunner, run_rule_with_mocks

from pants_backend_ko.oci.platform import Platform
from pants_backend_ko.subsystems import KoSubsystem
from pants_backend_ko.testutil import (
    go_module_files,
    hello_main,
    ko_error_message,
    ko_rule_runner,
    run_go,
    set_ko_options,
    with_go_targets,
)
from pants_backend_ko.util_rules.go_build import (
    GO_LIST_FIELDS,
    GO_WRAPPER,
    SHELL,
    BuiltGoBinary,
    DependencySources,
    DependencySourcesRequest,
    GoBuildRequest,
    GoDependenciesCompiled,
    GoDependenciesRequest,
    GoEnvRequest,
    GoListing,
    GoListRequest,
    GoProcess,
    GoProcessEnv,
    GoToolchain,
    go_build,
    merge_goflags,
    parse_go_list,
)
from pants_backend_ko.util_rules.go_module import GoModule, GoModuleRequest

AMD64 = Platform.parse("linux/amd64")
ARM64 = Platform.parse("linux/arm64")
# ELF e_machine values (the two bytes at offset 18, little-endian).
EM_X86_64 = 62
EM_AARCH64 = 183


@pytest.fixture(scope="module")
def rule_runner() -> RuleRunner:
    return ko_rule_runner(
        extra_rules=[
            QueryRule(GoProcessEnv, (GoEnvRequest,)),
            QueryRule(GoDependenciesCompiled, (GoDependenciesRequest,)),
            QueryRule(FallibleProcessResult, (GoProcess,)),
        ]
    )


def go_args(process: Process) -> tuple[str, ...]:
    """The arguments `go` gets from a `go_process` (after the wrapper's own)."""
    assert process.argv[:3] == (SHELL, "-c", GO_WRAPPER)
    return process.argv[6:]


def build_request(
    module: GoModule, import_path: str, platform=AMD64, flags=(), owner="//x:img", cgo=False, root_dir=None
) -> GoBuildRequest:
    """The build of `import_path`, with the files of its `ko_go_package` (named `pkg`, as
    `with_go_targets` writes it) and of everything that depends on."""
    return GoBuildRequest(
        module=module,
        import_path=import_path,
        binary_name=import_path.rsplit("/", 1)[-1],
        platform=platform,
        flags=tuple(flags),
        ldflags=(),
        owner=owner,
        roots=(Address(root_dir or module.resolve(import_path) or module.root, target_name="pkg"),),
        cgo=cgo,
    )


def build(rule_runner: RuleRunner, package_dir: str, import_path: str, **kwargs) -> bytes:
    module = rule_runner.request(GoModule, [GoModuleRequest(package_dir)])
    built = rule_runner.request(BuiltGoBinary, [build_request(module, import_path, **kwargs)])
    contents = rule_runner.request(DigestContents, [built.digest])
    assert [fc.path for fc in contents] == [built.binary_path]
    return contents[0].content


def elf_machine(binary: bytes) -> int:
    assert binary[:4] == b"\x7fELF", "not an ELF file"
    return int.from_bytes(binary[18:20], "little")


# --- go list --------------------------------------------------------------------------------

# A module with two commands: `a` imports a package of the module that embeds a file, `b` imports
# nothing of the module. README.md and the test file are in no package's build.
LISTED_MODULE = {
    "go.mod": "module example.com/listed\n\ngo 1.21\n",
    "README.md": "not Go\n",
    "cmd/a/main.go": (
        'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/listed/internal/shared"\n)\n\n'
        "func main() { fmt.Println(shared.Message) }\n"
    ),
    "cmd/b/main.go": hello_main("b"),
    "internal/shared/shared.go": ('package shared\n\nimport _ "embed"\n\n//go:embed message.txt\nvar Message string\n'),
    "internal/shared/message.txt": "embedded\n",
    "internal/shared/BUILD": 'ko_go_package(name="pkg", sources=["*.go", "message.txt"])\n',
    "internal/shared/shared_test.go": "package shared\n",
}


def test_parse_go_list_on_real_go_list_output(tmp_path: Path) -> None:
    for path, content in LISTED_MODULE.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(content)
    stdout = run_go(["list", "-e", "-deps", f"-json={GO_LIST_FIELDS}", "./..."], cwd=tmp_path)

    packages = parse_go_list(stdout, "", "example.com/listed")

    a = packages["example.com/listed/cmd/a"]
    assert (a.name, a.package_dir, a.files, a.error) == ("main", "cmd/a", ("cmd/a/main.go",), None)
    assert "example.com/listed/internal/shared" in a.deps and "fmt" in a.deps
    shared = packages["example.com/listed/internal/shared"]
    # Embedded files are build inputs; test files are not.
    assert shared.files == ("internal/shared/message.txt", "internal/shared/shared.go")
    assert (
        packages["example.com/listed/cmd/b"].deps
        and "example.com/listed/internal/shared" not in packages["example.com/listed/cmd/b"].deps
    )
    fmt = packages["fmt"]
    assert (fmt.package_dir, fmt.files, fmt.name) == (None, (), "fmt")


def test_parse_go_list_reports_package_errors(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module example.com/broken\n\ngo 1.21\n")
    (tmp_path / "main.go").write_text('package main\n\nimport "example.com/broken/nothere"\n\nfunc main() {}\n')
    stdout = run_go(["list", "-e", "-deps", f"-json={GO_LIST_FIELDS}", "./..."], cwd=tmp_path)
    packages = parse_go_list(stdout, "", "example.com/broken")
    # The missing package carries the error; its importer lists it as a dependency.
    assert "example.com/broken/nothere" in packages["example.com/broken"].deps
    error = packages["example.com/broken/nothere"].error
    assert error is not None and "example.com/broken/nothere" in error


def test_missing_import_is_reported_with_the_target(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        go_module_files(
            "missing",
            "example.com/missing",
            {"": 'package main\n\nimport _ "example.com/missing/nothere"\n\nfunc main() {}\n'},
        )
    )
    with pytest.raises(ExecutionError) as excinfo:
        build(rule_runner, "missing", "example.com/missing", owner="//missing:img")
    message = ko_error_message(excinfo)
    assert message.splitlines() == [
        "//missing:img: go build example.com/missing (linux/amd64) failed:",
        "main.go:3:8: cannot find module providing package example.com/missing/nothere: "
        "import lookup disabled by -mod=readonly",
    ]


def test_go_list_rule_lists_the_module(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(with_go_targets({f"listed/{p}": c for p, c in LISTED_MODULE.items()}))
    module = rule_runner.request(GoModule, [GoModuleRequest("listed/cmd/a")])
    listing = rule_runner.request(GoListing, [GoListRequest(module, AMD64)])
    assert listing.packages["example.com/listed/cmd/a"].files == ("listed/cmd/a/main.go",)
    assert listing.packages["example.com/listed/internal/shared"].package_dir == "listed/internal/shared"


# --- go build -------------------------------------------------------------------------------


def test_go_build_stdlib_main_for_amd64_and_arm64(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(go_module_files("hello", "example.com/hello", {"cmd/hello": hello_main()}))
    amd64 = build(rule_runner, "hello/cmd/hello", "example.com/hello/cmd/hello", platform=AMD64)
    arm64 = build(rule_runner, "hello/cmd/hello", "example.com/hello/cmd/hello", platform=ARM64)
    assert elf_machine(amd64) == EM_X86_64
    assert elf_machine(arm64) == EM_AARCH64
    # -trimpath: no sandbox path leaks into the binary.
    assert b"pants-sandbox" not in amd64 and b"pants-sandbox" not in arm64


def run_go_build_observed(rule_runner: RuleRunner, request: GoBuildRequest) -> tuple[BuiltGoBinary, dict]:
    """Run the real `go_build` rule, every Get answered by the engine, recording what it asked.

    Nothing is faked: each Get is delegated to `rule_runner.request`; this only lets the test
    see the `DigestSubset` and the `Process` that the rule builds.
    """
    seen: dict = {}

    def record(key, output_type):
        def answer(value):
            seen[key] = value
            return rule_runner.request(output_type, [value])

        return answer

    toolchain = rule_runner.request(GoToolchain, [])
    built = run_rule_with_mocks(
        go_build,
        rule_args=[request, toolchain, create_subsystem(KoSubsystem, strip_vcs_info=True)],
        mock_gets=[
            MockGet(GoListing, (GoListRequest,), record("list", GoListing)),
            MockGet(GoDependenciesCompiled, (GoDependenciesRequest,), record("deps", GoDependenciesCompiled)),
            MockGet(DependencySources, (DependencySourcesRequest,), record("sources", DependencySources)),
            MockGet(Digest, (DigestSubset,), record("subset", Digest)),
            MockGet(DigestContents, (DigestSubset,), record("contents", DigestContents)),
            MockGet(GoProcessEnv, (GoEnvRequest,), record("env", GoProcessEnv)),
            MockGet(FallibleProcessResult, (GoProcess,), record("process", FallibleProcessResult)),
        ],
    )
    return built, seen


def test_go_build_inputs_are_only_the_imported_packages_files(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(with_go_targets({f"inputs/{p}": c for p, c in LISTED_MODULE.items()}))
    module = rule_runner.request(GoModule, [GoModuleRequest("inputs/cmd/a")])
    built, seen = run_go_build_observed(rule_runner, build_request(module, "example.com/listed/cmd/a"))

    process: Process = seen["process"].process
    inputs = rule_runner.request(Snapshot, [process.input_digest])
    assert inputs.files == (
        "inputs/cmd/a/main.go",
        "inputs/go.mod",
        "inputs/internal/shared/message.txt",
        "inputs/internal/shared/shared.go",
    )
    # The wrapper runs go in the module folder (not Pants' working_directory: see GO_WRAPPER).
    assert process.argv[4] == "inputs" and process.working_directory is None
    assert process.env["GOFLAGS"] == "-mod=readonly"
    assert go_args(process)[:3] == ("build", "-trimpath", "-buildvcs=false")
    # ... and those files are enough: the build succeeded.
    assert elf_machine(rule_runner.request(DigestContents, [built.digest])[0].content) == EM_X86_64

    _, seen_b = run_go_build_observed(rule_runner, build_request(module, "example.com/listed/cmd/b"))
    inputs_b = rule_runner.request(Snapshot, [seen_b["process"].process.input_digest])
    assert inputs_b.files == ("inputs/cmd/b/main.go", "inputs/go.mod")
    # Both binaries first ask for the same compile of the module's outside dependencies (one
    # Process for the two), which lists the standard library packages and none of the module's.
    deps = seen["deps"]
    assert seen_b["deps"] == deps
    assert "fmt" in deps.packages and "runtime" in deps.packages
    assert not any(p.startswith("example.com/listed") for p in deps.packages)


def test_compile_error_shows_the_compiler_message_and_the_target(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        go_module_files(
            "typo",
            "example.com/typo",
            {"cmd/typo": "package main\n\nfunc main() {\n\tundefinedThing()\n}\n"},
        )
    )
    with pytest.raises(ExecutionError) as excinfo:
        build(rule_runner, "typo/cmd/typo", "example.com/typo/cmd/typo", owner="//typo/cmd/typo:img")
    message = ko_error_message(excinfo)
    first, *rest = message.splitlines()
    assert first == "//typo/cmd/typo:img: go build example.com/typo/cmd/typo (linux/amd64) failed:"
    assert "cmd/typo/main.go:4:2: undefined: undefinedThing" in rest


def test_syntax_error_is_reported_with_file_and_target(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        go_module_files("syntax", "example.com/syntax", {"cmd/s": "package main\n\nfunc main() {\n"})
    )
    with pytest.raises(ExecutionError) as excinfo:
        build(rule_runner, "syntax/cmd/s", "example.com/syntax/cmd/s", owner="//syntax/cmd/s:img")
    message = ko_error_message(excinfo)
    assert message.splitlines()[0] == "//syntax/cmd/s:img: go build example.com/syntax/cmd/s (linux/amd64) failed:"
    assert "cmd/s/main.go:4:1: syntax error: unexpected EOF, expected }" in message.splitlines()


def test_package_that_is_not_main(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(go_module_files("lib", "example.com/lib", {"pkg/foo": "package foo\n\nfunc F() {}\n"}))
    with pytest.raises(ExecutionError) as excinfo:
        build(rule_runner, "lib/pkg/foo", "example.com/lib/pkg/foo", owner="//lib/pkg/foo:img")
    assert ko_error_message(excinfo) == (
        "//lib/pkg/foo:img: example.com/lib/pkg/foo is `package foo`, not `package main`; "
        "a ko_image builds a command: point `main` at a folder with `package main`."
    )


def test_package_not_in_the_module(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(go_module_files("empty", "example.com/empty", {"cmd/e": hello_main()}))
    with pytest.raises(ExecutionError) as excinfo:
        build(rule_runner, "empty/cmd/e", "example.com/empty/cmd/nothere", owner="//empty:img", root_dir="empty/cmd/e")
    assert ko_error_message(excinfo) == (
        "//empty:img: package example.com/empty/cmd/nothere is not in module example.com/empty "
        "(empty/go.mod); check the `main` field."
    )


@pytest.mark.parametrize("flag", ["-toolexec=/bin/true", "--toolexec=/bin/true", "-toolexec"])
def test_toolexec_is_refused(rule_runner: RuleRunner, flag: str) -> None:
    rule_runner.write_files(go_module_files("tx", "example.com/tx", {"": hello_main()}))
    with pytest.raises(ExecutionError) as excinfo:
        build(rule_runner, "tx", "example.com/tx", flags=[flag], owner="//tx:img")
    assert ko_error_message(excinfo) == (
        f"//tx:img: `{flag}` is not allowed in `flags` (as in ko): it would run arbitrary " "programs inside the build."
    )


def test_output_flag_is_refused(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(go_module_files("ox", "example.com/ox", {"": hello_main()}))
    with pytest.raises(ExecutionError) as excinfo:
        build(rule_runner, "ox", "example.com/ox", flags=["-o=/tmp/x"], owner="//ox:img")
    assert ko_error_message(excinfo) == (
        "//ox:img: `-o=/tmp/x` in `flags`: the output path is chosen by the backend; remove it."
    )


def test_vendored_module_builds_with_mod_vendor(rule_runner: RuleRunner, tmp_path: Path) -> None:
    # A dependency module in a local folder, required through a `replace`: no network at all.
    dep = tmp_path / "dep"
    (dep / "greet").mkdir(parents=True)
    (dep / "go.mod").write_text("module example.com/dep\n\ngo 1.21\n")
    (dep / "greet" / "greet.go").write_text('package greet\n\nfunc Hello() string { return "vendored" }\n')
    app = tmp_path / "app"
    app.mkdir()
    (app / "go.mod").write_text(
        "module example.com/vapp\n\ngo 1.21\n\nrequire example.com/dep v0.0.0\n\n" "replace example.com/dep => ../dep\n"
    )
    (app / "main.go").write_text(
        'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/dep/greet"\n)\n\n'
        "func main() { fmt.Println(greet.Hello()) }\n"
    )
    run_go(["mod", "vendor"], cwd=app)
    # Only the app module goes into the repository: the build can only find `greet` in vendor/.
    files = {}
    for path in sorted(app.rglob("*")):
        if path.is_file():
            files[f"vapp/{path.relative_to(app)}"] = path.read_text()
    assert "vapp/vendor/example.com/dep/greet/greet.go" in files
    rule_runner.write_files(with_go_targets(files))

    module = rule_runner.request(GoModule, [GoModuleRequest("vapp")])
    assert (module.root, module.module_path, module.vendored) == ("vapp", "example.com/vapp", True)
    # vendor/ holds the replaced module: the folder the `replace` names is not read.
    assert module.local_modules == (("example.com/vapp", "vapp"),)
    built, seen = run_go_build_observed(rule_runner, build_request(module, "example.com/vapp"))
    process: Process = seen["process"].process
    assert process.env["GOFLAGS"] == "-mod=vendor"
    inputs = rule_runner.request(Snapshot, [process.input_digest]).files
    assert inputs == (
        "vapp/go.mod",
        "vapp/main.go",
        "vapp/vendor/example.com/dep/greet/greet.go",
        "vapp/vendor/modules.txt",
    )
    binary = rule_runner.request(DigestContents, [built.digest])[0].content
    assert elf_machine(binary) == EM_X86_64
    assert b"vendored" in binary


def test_build_tags_in_flags_select_the_tagged_files(rule_runner: RuleRunner) -> None:
    # `flags=["-tags=..."]` is the documented example: the files and imports a tag selects must
    # be in the build's inputs, so `go list` has to see the same tags.
    rule_runner.write_files(
        with_go_targets(
            {
                "tagged/go.mod": "module example.com/tagged\n\ngo 1.21\n",
                "tagged/main.go": '//go:build !kotest\n\npackage main\n\nimport "fmt"\n\nfunc main() { fmt.Println("untagged") }\n',
                "tagged/main_kotest.go": (
                    '//go:build kotest\n\npackage main\n\nimport (\n\t"fmt"\n\n\t"example.com/tagged/extra"\n)\n\n'
                    "func main() { fmt.Println(extra.Word) }\n"
                ),
                "tagged/extra/extra.go": 'package extra\n\nconst Word = "tagged-build"\n',
            }
        )
    )
    binary = build(rule_runner, "tagged", "example.com/tagged", flags=["-tags=kotest"])
    assert b"tagged-build" in binary and b"untagged" not in binary
    plain = build(rule_runner, "tagged", "example.com/tagged")
    assert b"untagged" in plain and b"tagged-build" not in plain


# --- the build environment ----------------------------------------------------------------


def test_merge_goflags_keeps_the_users_flags() -> None:
    assert merge_goflags(None, "-mod=readonly") == "-mod=readonly"
    assert merge_goflags("-tags=prod -trimpath", "-mod=vendor") == "-tags=prod -trimpath -mod=vendor"
    # The user's own -mod wins, as in `go` (the later flag would otherwise override it).
    assert merge_goflags("-mod=mod", "-mod=readonly") == "-mod=mod"


PROD_TAGGED = {
    "prod/go.mod": "module example.com/prod\n\ngo 1.21\n",
    "prod/main.go": 'package main\n\nimport "fmt"\n\nvar flavor = "dev-build"\n\nfunc main() { fmt.Println(flavor) }\n',
    "prod/flavor_prod.go": '//go:build prod\n\npackage main\n\nfunc init() { flavor = "prod-build" }\n',
}


def test_goflags_from_go_env_reach_go_list_and_go_build(rule_runner: RuleRunner) -> None:
    """ko passes GOFLAGS (e.g. `-tags=prod` in defaultEnv) to `go build`: so must we, merged
    with our -mod flag, for `go list` (which picks the tagged file) and `go build` alike."""
    rule_runner.write_files(with_go_targets(PROD_TAGGED))
    try:
        set_ko_options(rule_runner, ['--ko-go-env={"GOFLAGS": "-tags=prod"}'])
        tagged = build(rule_runner, "prod", "example.com/prod")
        env = rule_runner.request(GoProcessEnv, [GoEnvRequest(AMD64)])
        assert env.env["GOFLAGS"] == "-tags=prod -mod=readonly"
    finally:
        set_ko_options(rule_runner)
    plain = build(rule_runner, "prod", "example.com/prod")
    assert b"prod-build" in tagged and b"prod-build" not in plain
    assert b"dev-build" in plain
    # .ko.yaml's defaultEnv/builds[].env reach the same merge (and win over [ko].go_env, as env does).
    from_ko_yaml = rule_runner.request(GoProcessEnv, [GoEnvRequest(AMD64, build_env=("GOFLAGS=-tags=prod",))])
    assert from_ko_yaml.env["GOFLAGS"] == "-tags=prod -mod=readonly"


def test_main_package_excluded_by_constraints_says_so(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        with_go_targets(
            {
                "armonly/go.mod": "module example.com/armonly\n\ngo 1.21\n",
                "armonly/cmd/a/main.go": "//go:build arm64\n\npackage main\n\nfunc main() {}\n",
                "armonly/cmd/c/main.go": 'package main\n\nimport "C"\n\nfunc main() {}\n',
            }
        )
    )
    with pytest.raises(ExecutionError) as excinfo:
        build(rule_runner, "armonly/cmd/a", "example.com/armonly/cmd/a", owner="//armonly/cmd/a:img")
    assert ko_error_message(excinfo) == (
        "//armonly/cmd/a:img: package example.com/armonly/cmd/a has no Go file to build for linux/amd64 "
        "(cgo off): main.go has `//go:build arm64`. Build for a platform its constraints allow "
        "(`platforms`), or pass the tags it needs in `flags`."
    )
    assert elf_machine(build(rule_runner, "armonly/cmd/a", "example.com/armonly/cmd/a", platform=ARM64)) == EM_AARCH64
    with pytest.raises(ExecutionError) as excinfo:
        build(rule_runner, "armonly/cmd/c", "example.com/armonly/cmd/c", owner="//armonly/cmd/c:img")
    message = ko_error_message(excinfo)
    assert 'main.go imports "C" (cgo), and cgo is off' in message
    assert "Set `cgo=True` on the ko_image" in message
