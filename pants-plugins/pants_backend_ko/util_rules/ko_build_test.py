"""In-process tests of `ko_image` settings (fields + `[ko]` options + go.mod) and image builds."""

from __future__ import annotations

import gzip
import json

import pytest
from pants.engine.addresses import Address
from pants.engine.fs import DigestContents
from pants.engine.internals.scheduler import ExecutionError
from pants.testutil.rule_runner import RuleRunner

from pants_backend_ko.oci.capabilities import FileCapabilities
from pants_backend_ko.oci.platform import Platform
from pants_backend_ko.target_types import KoImageFieldSet
from pants_backend_ko.testutil import (
    go_module_files,
    hello_main,
    ko_error_message,
    ko_rule_runner,
    set_ko_options,
    with_go_targets,
)
from pants_backend_ko.util_rules.go_module import GoModule, GoModuleRequest
from pants_backend_ko.util_rules.ko_build import (
    BuiltKoImage,
    KoImageRequest,
    KoImageSettings,
    KoImageSettingsRequest,
)


@pytest.fixture(scope="module")
def rule_runner() -> RuleRunner:
    rule_runner = ko_rule_runner()
    rule_runner.write_files(
        go_module_files("app", "example.com/app", {"cmd/web": hello_main("web"), "": hello_main("root")})
    )
    return rule_runner


def image_target(rule_runner: RuleRunner, folder: str, body: str, name: str = "img") -> KoImageFieldSet:
    rule_runner.write_files({f"{folder}/BUILD": f"ko_image(name={name!r}, {body})\n"})
    return KoImageFieldSet.create(rule_runner.get_target(Address(folder, target_name=name)))


def settings_of(rule_runner: RuleRunner, field_set: KoImageFieldSet) -> KoImageSettings:
    return rule_runner.request(KoImageSettings, [KoImageSettingsRequest(field_set)])


def settings_error(rule_runner: RuleRunner, field_set: KoImageFieldSet) -> str:
    with pytest.raises(ExecutionError) as excinfo:
        settings_of(rule_runner, field_set)
    return ko_error_message(excinfo)


def test_settings_combine_fields_options_and_go_mod(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner, ["--ko-default-platforms=['linux/arm64','linux/arm/v7']"])
    settings = settings_of(rule_runner, image_target(rule_runner, "app/cmd/web", ""))
    assert settings == KoImageSettings(
        address=Address("app/cmd/web", target_name="img"),
        package_dir="app/cmd/web",
        module=rule_runner.request(GoModule, [GoModuleRequest("app")]),
        import_path="example.com/app/cmd/web",
        binary_name="web",
        platforms=(Platform.parse("linux/arm64"), Platform.parse("linux/arm/v7")),
        base_image="scratch",
        kodata_dir="app/cmd/web/kodata",
    )


def test_main_relative_to_the_build_file(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner)
    field_set = image_target(rule_runner, "app/deploy", "main='../cmd/web', kodata='data', platforms=['linux/amd64']")
    settings = settings_of(rule_runner, field_set)
    assert (settings.package_dir, settings.import_path, settings.kodata_dir) == (
        "app/cmd/web",
        "example.com/app/cmd/web",
        "app/cmd/web/data",
    )
    # A module-root main is named after the module's last element, as in ko.
    root = settings_of(rule_runner, image_target(rule_runner, "app", "", name="root"))
    assert (root.import_path, root.binary_name) == ("example.com/app", "app")


@pytest.mark.parametrize(
    "platform, problem",
    [
        ("linux", "expected os/arch[/variant], for example 'linux/amd64' or 'linux/arm/v7'"),
        ("linux/amd64/v9/x", "expected os/arch[/variant], for example 'linux/amd64' or 'linux/arm/v7'"),
        (
            "plan9/foo",
            "unknown architecture 'foo'; use one of 386, amd64, arm, arm64, loong64, mips, mips64, "
            "mips64le, mipsle, ppc64, ppc64le, riscv64, s390x, wasm",
        ),
        ("plan9/arm64", "Go cannot build plan9/arm64 (see `go tool dist list`)"),
        ("linux/amd64/v9", "variant 'v9' for amd64 must be "),
    ],
)
def test_invalid_platform(rule_runner: RuleRunner, platform: str, problem: str) -> None:
    set_ko_options(rule_runner)
    field_set = image_target(rule_runner, "app/cmd/web", f"platforms=['linux/amd64', {platform!r}]")
    message = settings_error(rule_runner, field_set)
    assert message.startswith(f"app/cmd/web:img: invalid platform {platform!r} in `platforms`: {problem}"), message
    assert "\n" not in message and message.count("invalid platform") == 1


def test_invalid_default_platform_names_the_target(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner, ["--ko-default-platforms=['linux/sparc']"])
    message = settings_error(rule_runner, image_target(rule_runner, "app/cmd/web", ""))
    assert message == (
        "app/cmd/web:img: invalid platform 'linux/sparc' in [ko].default_platforms: unknown "
        "architecture 'sparc'; use one of 386, amd64, arm, arm64, loong64, mips, mips64, mips64le, "
        "mipsle, ppc64, ppc64le, riscv64, s390x, wasm"
    )


def test_duplicate_platforms(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner)
    field_set = image_target(rule_runner, "app/cmd/web", "platforms=['linux/arm64', 'linux/amd64', 'linux/arm64']")
    assert settings_error(rule_runner, field_set) == (
        "app/cmd/web:img: `platforms` lists a platform twice: ['linux/arm64', 'linux/amd64', "
        "'linux/arm64']; list each once."
    )


def test_main_outside_the_repository(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner)
    field_set = image_target(rule_runner, "app/cmd/web", "main='../../../../elsewhere'")
    assert settings_error(rule_runner, field_set) == (
        "app/cmd/web:img: `main='../../../../elsewhere'` points outside the repository; set it "
        "to a folder inside the repository, relative to the BUILD file's folder."
    )


def test_main_without_a_module(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner)
    rule_runner.write_files({"loose/main.go": hello_main()})
    field_set = image_target(rule_runner, "loose", "")
    assert settings_error(rule_runner, field_set) == (
        "no go.mod in loose or any folder above it; a ko_image builds a package of a Go module: "
        "run `go mod init <module path>` at the module root."
    )


def test_invalid_source_date_epoch(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner, env={"SOURCE_DATE_EPOCH": "yesterday"})
    field_set = image_target(rule_runner, "app/cmd/web", "platforms=['linux/amd64']")
    with pytest.raises(ExecutionError) as excinfo:
        rule_runner.request(BuiltKoImage, [KoImageRequest(field_set)])
    assert ko_error_message(excinfo) == (
        "$SOURCE_DATE_EPOCH='yesterday' is not a Unix time in seconds; set it to an integer or unset it."
    )


def test_image_on_scratch_has_kos_config(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner, ["--ko-docker-repo=registry.example/team"])
    rule_runner.write_files(
        {"app/cmd/web/kodata/index.html": "<h1>hi</h1>\n", "app/cmd/web/BUILD.kodata": 'ko_kodata(name="kodata")\n'}
    )
    field_set = image_target(
        rule_runner,
        "app/cmd/web",
        "platforms=['linux/amd64'], env={'MODE': 'test'}, args=['--port=8080'], user='65532'",
    )
    image = rule_runner.request(BuiltKoImage, [KoImageRequest(field_set)])
    assert image.media_type == "application/vnd.oci.image.manifest.v1+json"
    assert image.name.repository is not None and image.name.repository.startswith("registry.example/team/web-")
    assert image.loadable
    files = {fc.path: fc.content for fc in rule_runner.request(DigestContents, [image.layout])}
    index = json.loads(files["index.json"])
    assert index["manifests"][0]["digest"] == image.digest
    manifest = json.loads(files["blobs/" + image.digest.replace(":", "/")])
    config = json.loads(files["blobs/" + manifest["config"]["digest"].replace(":", "/")])
    assert config["config"]["Entrypoint"] == ["/ko-app/web"]
    assert config["config"]["Cmd"] == ["--port=8080"]
    assert config["config"]["User"] == "65532"
    assert "MODE=test" in config["config"]["Env"] and "KO_DATA_PATH=/var/run/ko" in config["config"]["Env"]
    assert len(manifest["layers"]) == 2  # kodata, then the binary, on an empty base


def test_go_build_flags_option_reaches_go_build(rule_runner: RuleRunner) -> None:
    # [ko].go_build_flags is documented as "extra go build flags for every image": a tag set
    # there must select the tagged file, exactly as the same flag in a target's `flags`.
    rule_runner.write_files(
        with_go_targets(
            {
                "flagged/go.mod": "module example.com/flagged\n\ngo 1.21\n",
                "flagged/main.go": '//go:build !fromoption\n\npackage main\n\nimport "fmt"\n\nfunc main() { fmt.Println("no-option") }\n',
                "flagged/opt.go": '//go:build fromoption\n\npackage main\n\nimport "fmt"\n\nfunc main() { fmt.Println("with-option") }\n',
                "flagged/BUILD": "ko_image(name='img', platforms=['linux/amd64'])\n",
            }
        )
    )
    field_set = KoImageFieldSet.create(rule_runner.get_target(Address("flagged", target_name="img")))

    def app_layer(args) -> bytes:
        set_ko_options(rule_runner, args)
        image = rule_runner.request(BuiltKoImage, [KoImageRequest(field_set)])
        files = {fc.path: fc.content for fc in rule_runner.request(DigestContents, [image.layout])}
        manifest = json.loads(files["blobs/" + image.digest.replace(":", "/")])
        # The last layer holds /ko-app/flagged (gzipped tar).
        return gzip.decompress(files["blobs/" + manifest["layers"][-1]["digest"].replace(":", "/")])

    with_option = app_layer(["--ko-go-build-flags=['-tags=fromoption']"])
    assert b"with-option" in with_option and b"no-option" not in with_option
    without = app_layer([])
    assert b"no-option" in without and b"with-option" not in without
    set_ko_options(rule_runner, ["--ko-go-build-flags=['-toolexec=/bin/true']"])
    with pytest.raises(ExecutionError) as excinfo:
        rule_runner.request(BuiltKoImage, [KoImageRequest(field_set)])
    assert "`-toolexec=/bin/true` is not allowed" in ko_error_message(excinfo)


def test_base_image_path_without_a_layout(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner)
    rule_runner.write_files({"app/cmd/web/nolayout/README": "not an OCI layout\n"})
    field_set = image_target(rule_runner, "app/cmd/web", "base_image='./nolayout', platforms=['linux/amd64']")
    with pytest.raises(ExecutionError) as excinfo:
        rule_runner.request(BuiltKoImage, [KoImageRequest(field_set)])
    assert ko_error_message(excinfo) == (
        "app/cmd/web:img: base image './nolayout': app/cmd/web/nolayout/index.json not found; a "
        "path base must be an OCI image layout folder in the repository."
    )


def test_image_on_a_layout_base_keeps_the_base_layers(rule_runner: RuleRunner) -> None:
    # The base is an OCI layout in the repository: here, the layout of another ko image.
    set_ko_options(rule_runner)
    base_field_set = image_target(rule_runner, "app/cmd/web", "platforms=['linux/amd64']", name="base")
    base = rule_runner.request(BuiltKoImage, [KoImageRequest(base_field_set)])
    base_files = {fc.path: fc.content for fc in rule_runner.request(DigestContents, [base.layout])}
    rule_runner.write_files({f"layouts/web/{path}": content for path, content in base_files.items()})
    base_manifest = json.loads(base_files["blobs/" + base.digest.replace(":", "/")])

    field_set = image_target(
        rule_runner, "app", "base_image='//layouts/web', platforms=['linux/amd64']", name="on_layout"
    )
    image = rule_runner.request(BuiltKoImage, [KoImageRequest(field_set)])
    files = {fc.path: fc.content for fc in rule_runner.request(DigestContents, [image.layout])}
    manifest = json.loads(files["blobs/" + image.digest.replace(":", "/")])
    assert len(manifest["layers"]) == 4
    assert manifest["layers"][:2] == base_manifest["layers"]
    config = json.loads(files["blobs/" + manifest["config"]["digest"].replace(":", "/")])
    assert config["config"]["Entrypoint"] == ["/ko-app/app"]


@pytest.mark.parametrize(
    "folder, body, kodata, message",
    [
        (
            "app/cmd/badenv",
            "env={'': 'x'}",
            {},
            "app/cmd/badenv:img: env: variable name '' must be non-empty and contain no '='",
        ),
        (
            "app/cmd/badport",
            "ports=['8080', '80/quic']",
            {},
            "app/cmd/badport:img: ports: '80/quic': unknown protocol 'quic'; use tcp, udp, sctp",
        ),
        (
            "app/cmd/badvolume",
            "volumes=['data']",
            {},
            "app/cmd/badvolume:img: volumes: 'data' is not an absolute path in the image, e.g. /data",
        ),
        (
            "app/cmd/badkodata",
            "",
            {"back\\slash.txt": "x"},
            "app/cmd/badkodata:img: kodata: file name 'back\\\\slash.txt' contains a backslash, which this "
            "backend does not write into image layers; rename it",
        ),
    ],
)
def test_what_cannot_go_into_an_image_is_one_line_naming_target_and_field(
    rule_runner: RuleRunner, folder: str, body: str, kodata: dict, message: str
) -> None:
    set_ko_options(rule_runner)
    rule_runner.write_files(
        with_go_targets({f"{folder}/main.go": hello_main(), **{f"{folder}/kodata/{k}": v for k, v in kodata.items()}})
    )
    field_set = image_target(rule_runner, folder, f"platforms=['linux/amd64'], {body}")
    with pytest.raises(ExecutionError) as excinfo:
        rule_runner.request(BuiltKoImage, [KoImageRequest(field_set)])
    assert ko_error_message(excinfo) == message


@pytest.mark.parametrize(
    "option, platforms",
    [
        # Pants reads a bare string as "add to the default": the default is empty for that reason.
        ("--ko-default-platforms=linux/arm64", (Platform("linux", "arm64"),)),
        ("--ko-default-platforms=linux/amd64", (Platform("linux", "amd64"),)),
        (
            "--ko-default-platforms=['linux/amd64', 'linux/arm64']",
            (Platform("linux", "amd64"), Platform("linux", "arm64")),
        ),
        ("--ko-default-platforms=[]", (Platform("linux", "amd64"),)),  # unset: ko's default
    ],
)
def test_default_platforms_as_a_string_means_that_platform(rule_runner: RuleRunner, option, platforms) -> None:
    set_ko_options(rule_runner, [option])
    assert settings_of(rule_runner, image_target(rule_runner, "app/cmd/web", "")).platforms == platforms


def test_default_platforms_in_one_string_says_to_write_a_list(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner, ["--ko-default-platforms=linux/amd64,linux/arm64"])
    assert settings_error(rule_runner, image_target(rule_runner, "app/cmd/web", "")) == (
        "[ko].default_platforms: 'linux/amd64,linux/arm64' is one string naming several platforms; write a "
        'list, e.g. default_platforms = ["linux/amd64", "linux/arm64"].'
    )


def test_linux_capabilities_field_wins_over_ko_yaml() -> None:
    rule_runner = ko_rule_runner()
    rule_runner.write_files(
        {
            **go_module_files("app", "example.com/app", {"cmd/web": hello_main("web")}),
            ".ko.yaml": "builds:\n- id: web\n  dir: app\n  main: ./cmd/web\n  linux_capabilities: net_bind_service\n",
        }
    )
    set_ko_options(rule_runner)
    from_ko_yaml = settings_of(rule_runner, image_target(rule_runner, "app/cmd/web", ""))
    assert from_ko_yaml.capabilities == FileCapabilities(1 << 10, 0, False)
    field = settings_of(rule_runner, image_target(rule_runner, "app/cmd/web", "linux_capabilities=['bpf+ep']", "f"))
    assert field.capabilities == FileCapabilities(1 << 39, 0, True)
    none = settings_of(rule_runner, image_target(rule_runner, "app/cmd/web", "linux_capabilities=[]", "none"))
    assert none.capabilities is None

    rule_runner.write_files(
        {".ko.yaml": "builds:\n- id: web\n  dir: app\n  main: ./cmd/web\n  linux_capabilities: [nope]\n"}
    )
    assert settings_error(rule_runner, image_target(rule_runner, "app/cmd/web", "", "bad")) == (
        "app/cmd/web:bad: unknown capability 'nope' in .ko.yaml builds[] entry 'web' linux_capabilities; use a "
        "capability as Docker's --cap-add names it (net_bind_service, CAP_NET_BIND_SERVICE, all), its number "
        "(0-63), or a cap_from_text clause such as cap_net_bind_service+ep."
    )
