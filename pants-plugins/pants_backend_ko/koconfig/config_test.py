"""`.ko.yaml` loading, lookup, `KO_*` overrides, per-image settings and precedence."""

from __future__ import annotations

import textwrap

import pytest

from pants_backend_ko.errors import KoError
from pants_backend_ko.koconfig.config import (
    DEFAULT_BASE_IMAGE,
    KO_ENV_VARS,
    BuildSettings,
    KoConfig,
    apply_env_overrides,
    build_settings_for,
    check_build_dirs,
    effective_value,
    epoch_from_env,
    find_ko_config_path,
    ko_config_candidate_paths,
    load_ko_config,
    matching_build,
)


def load(text: str) -> KoConfig:
    return load_ko_config(textwrap.dedent(text), "conf/.ko.yaml")


def error_of(text: str) -> str:
    with pytest.raises(KoError) as info:
        load(text)
    message = str(info.value)
    assert "\n" not in message
    return message


FULL = """\
defaultBaseImage: registry.example.com/base:1
baseImageOverrides:
  Example.com/App/cmd/Server: registry.example.com/server-base@sha256:%s
  example.com/app/cmd/tool: ghcr.io/acme/tool-base:2
defaultPlatforms:
  - linux/arm64
  - linux/amd64
defaultEnv:
  - GOPRIVATE=example.com
defaultFlags:
  - -tags
  - netgo
defaultLdflags:
  - -s -w
builds:
  - id: server
    dir: .
    main: ./cmd/server
    env: [CGO_ENABLED=1, FOO=bar]
    flags: -v -mod=vendor
    ldflags: -X main.version={{.Git.Tag}} -s
    linux_capabilities: net_bind_service chown
  - main: cmd/tool/main.go
  - id: sub
    dir: ./sub
    main: ./cmd/x
    ldflags:
      - -w
      - -X main.commit={{.Git.ShortCommit}}
    linux_capabilities: [bpf, perfmon]
""" % (
    "a" * 64
)


def test_every_key_is_read() -> None:
    config = load(FULL)
    assert config.path == "conf/.ko.yaml"
    assert config.default_base_image == "registry.example.com/base:1"
    # keys are lower-cased, as viper does
    assert config.base_image_overrides == (
        ("example.com/app/cmd/server", "registry.example.com/server-base@sha256:" + "a" * 64),
        ("example.com/app/cmd/tool", "ghcr.io/acme/tool-base:2"),
    )
    assert config.default_platforms == ("linux/arm64", "linux/amd64")
    assert config.default_env == ("GOPRIVATE=example.com",)
    assert config.default_flags == ("-tags", "netgo")
    assert config.default_ldflags == ("-s -w",)
    server, tool, sub = config.builds
    assert (server.id, server.dir, server.main, server.package_dir) == ("server", ".", "./cmd/server", "cmd/server")
    assert server.env == ("CGO_ENABLED=1", "FOO=bar")
    assert server.flags == ("-v", "-mod=vendor")  # a flags string is split on whitespace
    assert server.ldflags == ("-X main.version={{.Git.Tag}} -s",)  # an ldflags string is one item
    assert server.linux_capabilities == ("net_bind_service", "chown")
    assert server.line == 16
    # defaults: id "#<index>", dir ".", a main that is a .go file means its folder
    assert (tool.id, tool.dir, tool.main, tool.package_dir) == ("#1", ".", "cmd/tool/main.go", "cmd/tool")
    assert (tool.env, tool.flags, tool.ldflags, tool.linux_capabilities) == (None, None, None, ())
    assert (sub.dir, sub.package_dir) == ("sub", "sub/cmd/x")
    assert sub.ldflags == ("-w", "-X main.commit={{.Git.ShortCommit}}")
    assert sub.linux_capabilities == ("bpf", "perfmon")


def test_empty_and_null_documents_say_nothing() -> None:
    assert load("") == KoConfig(path="conf/.ko.yaml")
    assert load("# only a comment\n") == KoConfig(path="conf/.ko.yaml")
    assert load("defaultEnv:\ndefaultFlags: []\n") == KoConfig(path="conf/.ko.yaml")


def test_scalar_forms_follow_viper() -> None:
    # ko's own testdata: `defaultPlatforms: all`, `defaultEnv: FOO=bar`.
    config = load("defaultPlatforms: all\ndefaultEnv: FOO=bar\ndefaultLdflags: -s -w\n")
    assert config.default_platforms == ("all",)
    assert config.default_env == ("FOO=bar",)
    # top-level defaults go through viper's GetStringSlice: a string splits on whitespace
    assert config.default_ldflags == ("-s", "-w")
    # one item is re-split on commas (ko's WithPlatforms), from a string or a one-item list
    assert load("defaultPlatforms: linux/amd64,linux/arm64/v8\n").default_platforms == ("linux/amd64", "linux/arm64/v8")
    assert load("defaultPlatforms: [linux/amd64,linux/arm/v7]\n").default_platforms == ("linux/amd64", "linux/arm/v7")
    # builds[].env as a single string is one entry (mapstructure's weak slice conversion)
    assert load("builds:\n- env: A=1 B\n").builds[0].env == ("A=1 B",)


def test_yaml_spellings_that_ko_reads_as_strings_stay_strings() -> None:
    # ko's YAML 1.2 reader keeps `on`/`yes` as text, unlike PyYAML's YAML 1.1 resolver;
    # plain decimal integers and quoted values come through unchanged.
    config = load("defaultFlags: [on, yes, '0755', '1.10', -p, 4, -0x]\nbuilds:\n- id: 7\n  main: \"2001-12-14\"\n")
    assert config.default_flags == ("on", "yes", "0755", "1.10", "-p", "4", "-0x")
    assert (config.builds[0].id, config.builds[0].main) == ("7", "2001-12-14")


@pytest.mark.parametrize(
    "plain", ["0755", "1.10", "0x10", "1e3", "1_000", "true", "False", ".5", "+5", ".inf", "2001-12-14", "0o17"]
)
def test_plain_values_ko_would_change_must_be_quoted(plain: str) -> None:
    # Checked with the real ko v0.19.1: e.g. [0755, 1.10, true] in builds[].flags became
    # ["493", "1.1", "1"]. Quoting keeps the text; we refuse rather than copy the conversions.
    assert error_of(f"defaultFlags: [-x, {plain}]\n") == (
        f"conf/.ko.yaml:1: defaultFlags[1]: ko reads the unquoted value {plain} as a number, boolean or date, "
        f"which changes its text; quote it: '{plain}'"
    )


def test_key_names_are_case_insensitive_like_viper() -> None:
    config = load("DefaultBaseImage: alpine\ndefaultplatforms: [linux/arm64]\nbuilds:\n- ID: x\n  Main: ./cmd\n")
    assert config.default_base_image == "alpine"
    assert config.default_platforms == ("linux/arm64",)
    assert (config.builds[0].id, config.builds[0].package_dir) == ("x", "cmd")


def test_json_config_is_read() -> None:
    config = load_ko_config('{"defaultBaseImage": "alpine", "builds": [{"main": "./cmd/a"}]}', ".ko.json")
    assert config.default_base_image == "alpine"
    assert config.builds[0].package_dir == "cmd/a"


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "defaultBaseImage: alpine\ndefaultPlatfroms: [linux/amd64]\n",
            "conf/.ko.yaml:2: unknown top-level key 'defaultPlatfroms' in .ko.yaml; did you mean 'defaultPlatforms'?",
        ),
        (
            "repository: ghcr.io/x\n",
            "conf/.ko.yaml:1: unknown top-level key 'repository' in .ko.yaml; remove it; the keys are defaultBaseImage, baseImageOverrides, defaultPlatforms, defaultEnv, defaultFlags, defaultLdflags, builds",
        ),
        (
            "builds:\n- id: a\n  goos: [linux]\n",
            "conf/.ko.yaml:3: unknown key 'goos' in builds[0]; ko ignores this GoReleaser key, so remove it",
        ),
        (
            "builds:\n- id: a\n- id: b\n  ldflag: -s\n",
            "conf/.ko.yaml:4: unknown key 'ldflag' in builds[1]; did you mean 'ldflags'?",
        ),
        (
            "defaultBaseImage: [a, b]\n",
            "conf/.ko.yaml:1: defaultBaseImage must be a string, not a list; write `defaultBaseImage: <value>`",
        ),
        (
            "defaultPlatforms:\n  os: linux\n",
            "conf/.ko.yaml:2: defaultPlatforms must be a list of strings or a string, not a mapping; write e.g. `defaultPlatforms: [a, b]`",
        ),
        (
            "defaultFlags:\n- -v\n- [x]\n",
            "conf/.ko.yaml:3: defaultFlags[1] must be a string, not a list; quote it or remove it",
        ),
        (
            "defaultLdflags: [-s, ~]\n",
            "conf/.ko.yaml:1: defaultLdflags[1] must be a string, not empty; quote it or remove it",
        ),
        (
            "baseImageOverrides: [a]\n",
            "conf/.ko.yaml:1: baseImageOverrides must be a mapping of import path to image reference, not a list; write `baseImageOverrides: {example.com/cmd/app: registry/base:tag}`",
        ),
        (
            "baseImageOverrides:\n  example.com/a: {x: 1}\n",
            "conf/.ko.yaml:2: baseImageOverrides[example.com/a] must be a string, not a mapping; write `example.com/a: <value>`",
        ),
        (
            "baseImageOverrides:\n  ko://example.com/a: alpine\n",
            "conf/.ko.yaml:2: baseImageOverrides key 'ko://example.com/a' starts with ko://, so ko would never match it; write 'example.com/a'",
        ),
        (
            "baseImageOverrides:\n  example.com/A: alpine\n  example.com/a: alpine\n",
            "conf/.ko.yaml:3: baseImageOverrides has 'example.com/a' twice (first on line 2; keys are case-insensitive); keep one of them",
        ),
        (
            "builds: {id: a}\n",
            "conf/.ko.yaml:1: builds must be a list of build entries, not a mapping; write `builds:` followed by `- id: ...` items",
        ),
        (
            "builds:\n- ./cmd/a\n",
            "conf/.ko.yaml:2: builds[0] must be a mapping (id, dir, main, env, flags, ldflags, linux_capabilities), not the scalar './cmd/a'; write `- main: ./cmd/app`",
        ),
        (
            "builds:\n- main: [a]\n",
            "conf/.ko.yaml:2: builds[0].main must be a string, not a list; write `main: <value>`",
        ),
        (
            "builds:\n- flags: {a: b}\n",
            "conf/.ko.yaml:2: builds[0].flags must be a list of strings or a string, not a mapping; write e.g. `flags: [a, b]`",
        ),
        (
            "builds:\n- dir: ../other\n",
            "conf/.ko.yaml:2: builds[0].dir leads outside the repository ('../other'); dir and main are relative to the repository root, so use a path inside it",
        ),
        (
            "builds:\n- main: ../../x\n  dir: a\n",
            "conf/.ko.yaml:2: builds[0].main leads outside the repository ('../x'); dir and main are relative to the repository root, so use a path inside it",
        ),
        (
            "defaultEnv: [GOFLAGS]\n",
            "conf/.ko.yaml:1: defaultEnv: environment entry 'GOFLAGS' is not NAME=VALUE; write it as NAME=VALUE",
        ),
        (
            "builds:\n- env:\n  - A=1\n  - =x\n",
            "conf/.ko.yaml:4: builds[0].env: environment entry '=x' is not NAME=VALUE; write it as NAME=VALUE",
        ),
        (
            "defaultPlatforms: [all, linux/amd64]\n",
            "conf/.ko.yaml:1: defaultPlatforms: 'all' cannot be combined with other platforms (all, linux/amd64); use 'all' alone or list the platforms",
        ),
        (
            "defaultBaseImage: alpine\nDefaultBaseImage: busybox\n",
            "conf/.ko.yaml:2: 'defaultBaseImage' is set twice in .ko.yaml (first on line 1; key names are case-insensitive); keep one of them",
        ),
        (
            "- a\n- b\n",
            "conf/.ko.yaml:1: the file must be a mapping of ko's keys (defaultBaseImage, builds, ...); write `key: value` lines at the top level",
        ),
        (
            "base: &b {defaultBaseImage: x}\n",
            "conf/.ko.yaml:1: unknown top-level key 'base' in .ko.yaml; remove it; the keys are defaultBaseImage, baseImageOverrides, defaultPlatforms, defaultEnv, defaultFlags, defaultLdflags, builds",
        ),
    ],
)
def test_errors_name_the_line_and_the_fix(text: str, expected: str) -> None:
    assert error_of(text) == expected


def test_bad_references_and_platforms_are_errors() -> None:
    message = error_of("defaultPlatforms: [linux/amd64]\ndefaultBaseImage: Registry.example.com/UPPER:1\n")
    assert message.startswith(
        "conf/.ko.yaml:2: defaultBaseImage: invalid image reference 'Registry.example.com/UPPER:1': "
    )
    message = error_of("baseImageOverrides:\n  example.com/a: 'bad ref'\n")
    assert message.startswith("conf/.ko.yaml:2: baseImageOverrides[example.com/a]: invalid image reference 'bad ref'")
    message = error_of("defaultPlatforms: [linux/amd64, linux]\n")
    assert message.startswith("conf/.ko.yaml:1: defaultPlatforms: ") and "'linux'" in message


def test_invalid_yaml_is_one_line_with_the_line() -> None:
    assert error_of("defaultBaseImage: alpine\nbuilds: [\n").startswith("conf/.ko.yaml:3: invalid YAML (")
    assert error_of("a: 1\n---\nb: 2\n").startswith("conf/.ko.yaml:2: invalid YAML (")
    assert error_of("a: b: c\n").startswith("conf/.ko.yaml:1: invalid YAML (")


# --------------------------------------------------------------------------- lookup


def test_lookup_prefers_viper_extension_order_at_the_root() -> None:
    assert find_ko_config_path(["BUILD", "cmd/.ko.yaml"], {}) is None  # never a subfolder's
    assert find_ko_config_path([".ko.yaml", "main.go"], {}) == ".ko.yaml"
    assert find_ko_config_path([".ko.yml"], {}) == ".ko.yml"
    assert find_ko_config_path([".ko.yml", ".ko.yaml", ".ko.json"], {}) == ".ko.json"
    with pytest.raises(
        KoError,
        match=r"^\.ko\.toml: ko's configuration in toml format is not supported by this backend; convert it to \.ko\.yaml$",
    ):
        find_ko_config_path([".ko.toml", ".ko.yaml"], {})
    assert ko_config_candidate_paths({})[:4] == (".ko.json", ".ko.toml", ".ko.yaml", ".ko.yml")


def test_ko_config_path_file_or_directory() -> None:
    files = [".ko.yaml", "deploy/ko-prod.yaml", "deploy/.ko.yaml", "other/README.md"]
    assert find_ko_config_path(files, {"KO_CONFIG_PATH": "deploy/ko-prod.yaml"}) == "deploy/ko-prod.yaml"
    assert find_ko_config_path(files, {"KO_CONFIG_PATH": "./deploy/"}) == "deploy/.ko.yaml"
    assert find_ko_config_path(files, {"KO_CONFIG_PATH": "."}) == ".ko.yaml"
    assert find_ko_config_path(files, {"KO_CONFIG_PATH": ""}) == ".ko.yaml"  # empty = unset
    assert find_ko_config_path(files, {"KO_CONFIG_PATH": "/repo/deploy"}, repo_root="/repo") == "deploy/.ko.yaml"
    assert ko_config_candidate_paths({"KO_CONFIG_PATH": "deploy"}) == ("deploy", "deploy/.ko.yaml", "deploy/*")


@pytest.mark.parametrize(
    "value, expected",
    [
        (
            "other",
            "KO_CONFIG_PATH='other' is a directory without a .ko.yaml file; create other/.ko.yaml or point KO_CONFIG_PATH at the config file",
        ),
        (
            "missing.yaml",
            "KO_CONFIG_PATH='missing.yaml' does not exist in the repository; point it at a config file or a directory holding .ko.yaml (relative to the repository root), or unset it",
        ),
        (
            "../outside.yaml",
            "KO_CONFIG_PATH='../outside.yaml' points outside the repository; use a path inside the repository root",
        ),
        (
            "conf.toml",
            "KO_CONFIG_PATH='conf.toml': ko's configuration in toml format is not supported by this backend; convert it to YAML",
        ),
        (
            "/etc/ko.yaml",
            "KO_CONFIG_PATH='/etc/ko.yaml' is outside the repository; Pants reads ko's config only from the repository, so use a path relative to the repository root",
        ),
    ],
)
def test_ko_config_path_errors(value: str, expected: str) -> None:
    with pytest.raises(KoError) as info:
        find_ko_config_path([".ko.yaml", "other/README.md", "conf.toml"], {"KO_CONFIG_PATH": value}, repo_root="/repo")
    assert str(info.value) == expected


# --------------------------------------------------------------------------- KO_* overrides


def test_env_overrides_win_over_the_file() -> None:
    config = load(FULL)
    environ = {
        "KO_DEFAULTBASEIMAGE": "ghcr.io/acme/env-base:3",
        "KO_DEFAULTPLATFORMS": "linux/s390x,linux/ppc64le",
        "KO_DEFAULTENV": "A=1 B=2",
        "KO_DEFAULTFLAGS": "-v  -x",
        "KO_DEFAULTLDFLAGS": "-s -w",
        "KO_DOCKER_REPO": "not/read/here",
    }
    overridden = apply_env_overrides(config, environ)
    assert overridden.default_base_image == "ghcr.io/acme/env-base:3"
    assert overridden.default_platforms == ("linux/s390x", "linux/ppc64le")  # single item re-split on commas
    assert overridden.default_env == ("A=1", "B=2")
    assert overridden.default_flags == ("-v", "-x")
    assert overridden.default_ldflags == ("-s", "-w")
    # what the environment cannot override stays
    assert overridden.builds == config.builds and overridden.base_image_overrides == config.base_image_overrides
    # several platform words are not re-split
    assert apply_env_overrides(config, {"KO_DEFAULTPLATFORMS": "linux/amd64 linux/arm64"}).default_platforms == (
        "linux/amd64",
        "linux/arm64",
    )
    assert set(KO_ENV_VARS) >= set(k for k in environ if k != "KO_DOCKER_REPO")


def test_env_overrides_edge_cases() -> None:
    config = load(FULL)
    # unset and empty variables leave the file's values (viper: empty env = unset)
    assert apply_env_overrides(config, {}) is config
    assert apply_env_overrides(config, {"KO_DEFAULTFLAGS": ""}) is config
    # whitespace only hides the file's value, as ko's len(...) > 0 check does
    assert apply_env_overrides(config, {"KO_DEFAULTFLAGS": "  "}).default_flags is None
    # no file at all: the environment still applies
    assert apply_env_overrides(KoConfig(path=""), {"KO_DEFAULTPLATFORMS": "all"}).default_platforms == ("all",)
    with pytest.raises(KoError, match=r"^KO_DEFAULTBASEIMAGE: invalid image reference 'not a ref'"):
        apply_env_overrides(config, {"KO_DEFAULTBASEIMAGE": "not a ref"})
    with pytest.raises(KoError, match=r"^KO_DEFAULTENV: environment entry 'NOVALUE' is not NAME=VALUE"):
        apply_env_overrides(config, {"KO_DEFAULTENV": "A=1 NOVALUE"})
    with pytest.raises(KoError, match=r"^KO_DEFAULTPLATFORMS: 'all' cannot be combined"):
        apply_env_overrides(config, {"KO_DEFAULTPLATFORMS": "all,linux/amd64"})


# --------------------------------------------------------------------------- per-image settings


def test_build_entry_replaces_defaults() -> None:
    config = load(FULL)
    settings = build_settings_for(config, "example.com/app/cmd/server", "cmd/server")
    assert settings == BuildSettings(
        base_image="registry.example.com/server-base@sha256:" + "a" * 64,  # override, found case-insensitively
        env=("CGO_ENABLED=1", "FOO=bar"),  # replaces defaultEnv, no merge
        flags=("-v", "-mod=vendor"),  # replaces defaultFlags
        ldflags=("-X main.version={{.Git.Tag}} -s",),
        dir=".",
        platforms=("linux/arm64", "linux/amd64"),
        linux_capabilities=("net_bind_service", "chown"),
        build_id="server",
    )


def test_build_entry_without_values_uses_defaults() -> None:
    config = load(FULL)
    tool = build_settings_for(config, "ko://example.com/app/cmd/tool", "cmd/tool/")
    assert tool.build_id == "#1" and tool.dir == "."
    assert tool.base_image == "ghcr.io/acme/tool-base:2"  # ko:// is ignored for the lookup
    assert (tool.env, tool.flags, tool.ldflags) == (("GOPRIVATE=example.com",), ("-tags", "netgo"), ("-s -w",))
    sub = build_settings_for(config, "example.com/sub/cmd/x", "sub/cmd/x")
    assert (sub.build_id, sub.dir, sub.flags, sub.ldflags) == (
        "sub",
        "sub",
        ("-tags", "netgo"),
        ("-w", "-X main.commit={{.Git.ShortCommit}}"),
    )
    assert sub.base_image == "registry.example.com/base:1"


def test_no_matching_entry_gets_the_defaults_only() -> None:
    config = load(FULL)
    other = build_settings_for(config, "example.com/app/cmd/other", "cmd/other")
    assert other == BuildSettings(
        base_image="registry.example.com/base:1",
        env=("GOPRIVATE=example.com",),
        flags=("-tags", "netgo"),
        ldflags=("-s -w",),
        dir=None,
        platforms=("linux/arm64", "linux/amd64"),
        linux_capabilities=(),
        build_id=None,
    )
    # the sub-module entry is matched by dir + main, not by main alone
    assert matching_build(config, "cmd/x") is None
    empty = build_settings_for(KoConfig(path=""), "example.com/a", "a")
    assert empty == BuildSettings(None, None, None, None, None, None, (), None)


def _matching_id(config: KoConfig, package_dir: str) -> str | None:
    build = matching_build(config, package_dir)
    return build.id if build is not None else None


def test_later_entry_for_the_same_package_wins() -> None:
    config = load("builds:\n- id: first\n  main: ./cmd/a\n- id: second\n  dir: cmd\n  main: a/main.go\n")
    assert _matching_id(config, "cmd/a") == "second"


def test_root_package_and_absolute_dir() -> None:
    config = load("builds:\n- id: root\n- id: abs\n  dir: /tools\n  main: .\n")
    assert _matching_id(config, "") == "root"
    assert _matching_id(config, ".") == "root"
    # Go's filepath.Join(wd, "/tools") stays inside the working directory
    assert _matching_id(config, "tools") == "abs"


def test_env_overrides_reach_build_settings() -> None:
    config = apply_env_overrides(load(FULL), {"KO_DEFAULTBASEIMAGE": "busybox", "KO_DEFAULTLDFLAGS": "-w"})
    assert build_settings_for(config, "example.com/app/cmd/other", "cmd/other").base_image == "busybox"
    # baseImageOverrides still win over the (environment's) default base
    assert build_settings_for(config, "example.com/app/cmd/tool", "cmd/tool").base_image == "ghcr.io/acme/tool-base:2"
    # a build entry's ldflags still replace the (environment's) defaultLdflags
    assert build_settings_for(config, "x", "cmd/server").ldflags == ("-X main.version={{.Git.Tag}} -s",)
    assert build_settings_for(config, "x", "cmd/tool").ldflags == ("-w",)


# --------------------------------------------------------------------------- precedence


def test_effective_value_precedence() -> None:
    default = DEFAULT_BASE_IMAGE
    assert effective_value("build", "koyaml", "option", default) == "build"
    assert effective_value(None, "koyaml", "option", default) == "koyaml"
    assert effective_value(None, None, "option", default) == "option"
    assert effective_value(None, None, None, default) == default
    # an explicitly empty BUILD value is set, and wins (a target opting out of .ko.yaml flags)
    assert effective_value((), ("-v",), ("-x",), ()) == ()
    # the whole chain for one image, as the Pants rules combine them
    config = apply_env_overrides(load(FULL), {"KO_DEFAULTFLAGS": "-a"})
    ko = build_settings_for(config, "example.com/app/cmd/other", "cmd/other")
    assert effective_value(None, ko.flags, ("-option",), ()) == ("-a",)  # KO_* > .ko.yaml > [ko]
    assert effective_value(("-build",), ko.flags, ("-option",), ()) == ("-build",)
    assert effective_value(None, ko.base_image, "option/base", DEFAULT_BASE_IMAGE) == "registry.example.com/base:1"
    nothing = build_settings_for(KoConfig(path=""), "example.com/a", "a")
    assert effective_value(None, nothing.platforms, ("linux/arm64",), ("linux/amd64",)) == ("linux/arm64",)
    assert effective_value(None, nothing.base_image, None, DEFAULT_BASE_IMAGE) == "cgr.dev/chainguard/static:latest"


def test_build_entries_must_point_at_existing_folders() -> None:
    config = load(FULL)
    folders = {"cmd/server", "cmd/tool", "sub/cmd/x"}
    check_build_dirs(config, folders.__contains__)
    with pytest.raises(KoError) as info:
        check_build_dirs(config, {"cmd/server", "sub/cmd/x"}.__contains__)
    assert str(info.value) == (
        "conf/.ko.yaml:23: builds[1] (#1) points at 'cmd/tool', which is not a folder of the repository; "
        "fix its dir and main (relative to the repository root)"
    )


def test_epochs_are_read_as_go_parses_them() -> None:
    assert epoch_from_env({}, "SOURCE_DATE_EPOCH") is None
    assert epoch_from_env({"SOURCE_DATE_EPOCH": ""}, "SOURCE_DATE_EPOCH") is None
    assert epoch_from_env({"SOURCE_DATE_EPOCH": "1700000000"}, "SOURCE_DATE_EPOCH") == 1700000000
    assert epoch_from_env({"KO_DATA_DATE_EPOCH": "+5"}, "KO_DATA_DATE_EPOCH") == 5
    for bad in ["1_000", " 1", "1.5", "x", "9223372036854775808"]:
        with pytest.raises(KoError) as info:
            epoch_from_env({"SOURCE_DATE_EPOCH": bad}, "SOURCE_DATE_EPOCH")
        assert str(info.value) == (
            f"$SOURCE_DATE_EPOCH={bad!r} is not a Unix time in seconds; set it to an integer or unset it."
        )


@pytest.mark.parametrize(
    "text, line",
    [
        ("builds:\n- id: app\n  flags: " + "[" * 5000 + "]" * 5000 + "\n", 3),
        ("defaultEnv:\n" + "".join("  " * i + "- \n" for i in range(1, 3000)), 101),
        ("x: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n", 1),
    ],
)
def test_deeply_nested_yaml_is_one_line_not_a_recursion_error(text: str, line: int) -> None:
    with pytest.raises(KoError) as info:
        load_ko_config(text, "conf/.ko.yaml")
    assert str(info.value) == (
        f"conf/.ko.yaml:{line}: the YAML is nested more than 100 levels deep; "
        "ko's config needs a few levels, so check the file (an unclosed or repeated [ or {?)"
    )


def test_yaml_nested_up_to_the_limit_is_read() -> None:
    text = "builds:\n- id: app\n  flags: " + "[" * 97 + "]" * 97 + "\n"
    with pytest.raises(KoError, match="flags"):  # read, then refused for its shape, not its depth
        load_ko_config(text, "conf/.ko.yaml")
