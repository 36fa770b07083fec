"""In-process tests of image naming: KO_DOCKER_REPO / [ko].docker_repo / `repository`, tags,
and ko's naming modes (vectors from ko's `pkg/commands/options/publish.go` `MakeNamer`)."""

from __future__ import annotations

import pytest
from pants.engine.addresses import Address
from pants.engine.internals.scheduler import ExecutionError
from pants.testutil.rule_runner import RuleRunner

from pants_backend_ko.target_types import KoImageFieldSet
from pants_backend_ko.testutil import ko_error_message, ko_rule_runner, set_ko_options
from pants_backend_ko.util_rules.naming import ImageName, ImageNameRequest

# ko's namer_test.go vector.
KO_BASE = "registry.example.org/foo/bar"
KO_IMPORT_PATH = "example.org/sample/cmd/example"


@pytest.fixture(scope="module")
def rule_runner() -> RuleRunner:
    # Naming reads only the target's fields: no Go sources are needed.
    rule_runner = ko_rule_runner()
    rule_runner.write_files(
        {
            "svc/BUILD": "ko_image(name='plain')\n",
            "svc/repo/BUILD": "ko_image(name='img', repository='ghcr.io/acme/explicit', tags=['v1', 'v1', 'stable'])\n",
            "svc/badrepo/BUILD": "ko_image(name='img', repository='ghcr.io/Acme/App')\n",
            "svc/tagrepo/BUILD": "ko_image(name='img', repository='ghcr.io/acme/app:v1')\n",
            "svc/badtag/BUILD": "ko_image(name='img', tags=['ok', '-bad'])\n",
        }
    )
    return rule_runner


def name_of(rule_runner: RuleRunner, folder: str, name: str, import_path: str = KO_IMPORT_PATH) -> ImageName:
    field_set = KoImageFieldSet.create(rule_runner.get_target(Address(folder, target_name=name)))
    return rule_runner.request(ImageName, [ImageNameRequest(field_set, import_path)])


def naming_error(rule_runner: RuleRunner, folder: str, name: str) -> str:
    with pytest.raises(ExecutionError) as excinfo:
        name_of(rule_runner, folder, name)
    return ko_error_message(excinfo)


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("md5", "registry.example.org/foo/bar/example-51d74b7127c5f7495a338df33ecdeb19"),
        ("preserve-import-paths", "registry.example.org/foo/bar/example.org/sample/cmd/example"),
        ("base-import-paths", "registry.example.org/foo/bar/example"),
        ("bare", "registry.example.org/foo/bar"),
    ],
)
def test_naming_modes_give_kos_names(rule_runner: RuleRunner, mode: str, expected: str) -> None:
    set_ko_options(rule_runner, [f"--ko-naming={mode}"], env={"KO_DOCKER_REPO": KO_BASE})
    assert name_of(rule_runner, "svc", "plain").repository == expected


def test_default_naming_is_md5_of_the_lowercased_import_path(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner, ["--ko-docker-repo=ghcr.io/acme"])
    name = name_of(rule_runner, "svc", "plain", import_path="github.com/Google/ko/cmd/ko")
    # md5("github.com/google/ko/cmd/ko"), the default namer's suffix for ko's own command.
    assert name.repository == "ghcr.io/acme/ko-099ba5bcefdead87f92606265fb99ac0"
    assert name.tags == ("latest",)
    assert name.reference("sha256:" + "0" * 64) == "ghcr.io/acme/ko-099ba5bcefdead87f92606265fb99ac0@sha256:" + "0" * 64


def test_environment_beats_option_and_field_beats_both(rule_runner: RuleRunner) -> None:
    set_ko_options(
        rule_runner,
        ["--ko-docker-repo=ghcr.io/option", "--ko-naming=base-import-paths"],
        env={"KO_DOCKER_REPO": "ghcr.io/env"},
    )
    assert name_of(rule_runner, "svc", "plain").repository == "ghcr.io/env/example"
    explicit = name_of(rule_runner, "svc/repo", "img")
    assert explicit.repository == "ghcr.io/acme/explicit"
    assert explicit.tags == ("v1", "stable")  # duplicates dropped, order kept (ko's --tags)


def test_bare_naming_still_gives_a_local_name(rule_runner: RuleRunner) -> None:
    # Regression: `bare` used to crash every image, since "ko.local" alone is no repository.
    set_ko_options(rule_runner, ["--ko-naming=bare"], env={"KO_DOCKER_REPO": KO_BASE})
    name = name_of(rule_runner, "svc", "plain")
    assert (name.repository, name.local_name) == (KO_BASE, "ko.local/example")


def test_no_repository_anywhere_gives_a_local_name(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner, ["--ko-naming=base-import-paths"])
    name = name_of(rule_runner, "svc", "plain")
    assert name.repository is None
    assert name.reference("sha256:" + "0" * 64) is None
    assert name.repository_or_local == "ko.local/example"


def test_ko_docker_repo_with_upper_case(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner, env={"KO_DOCKER_REPO": "ghcr.io/Acme"})
    assert naming_error(rule_runner, "svc", "plain") == (
        "svc:plain: invalid KO_DOCKER_REPO 'ghcr.io/Acme': it contains upper-case letters; registry and "
        "repository names must be lower-case"
    )


def test_ko_docker_repo_with_a_tag(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner, env={"KO_DOCKER_REPO": "ghcr.io/acme:v1"})
    assert naming_error(rule_runner, "svc", "plain") == (
        "svc:plain: invalid KO_DOCKER_REPO 'ghcr.io/acme:v1': it contains a tag; name only the registry and "
        "repository; tags are set separately"
    )


def test_docker_repo_option_invalid_names_the_option(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner, ["--ko-docker-repo=https://ghcr.io/acme"])
    assert naming_error(rule_runner, "svc", "plain") == (
        "svc:plain: invalid [ko].docker_repo 'https://ghcr.io/acme': it contains a URL scheme; drop 'http://' "
        "or 'https://'"
    )


def test_repository_field_is_lower_cased_as_pants_docker_does(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner)
    assert name_of(rule_runner, "svc/badrepo", "img").repository == "ghcr.io/acme/app"


def test_repository_field_with_a_tag(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner)
    message = naming_error(rule_runner, "svc/tagrepo", "img")
    assert message.startswith(
        "svc/tagrepo:img: `repository` gives the repository 'ghcr.io/acme/app:v1', which is not valid: "
    ), message
    assert "\n" not in message


def test_invalid_tag(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner)
    assert naming_error(rule_runner, "svc/badtag", "img") == (
        "svc/badtag:img: `tags`: '-bad' is not a valid tag: tags are up to 128 of [A-Za-z0-9_.-], not starting "
        "with . or -."
    )


def test_invalid_default_tag(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner, ["--ko-default-tags=['a b']"])
    message = naming_error(rule_runner, "svc", "plain")
    assert message.startswith("svc:plain: [ko].default_tags: 'a b' is not a valid tag: "), message


@pytest.mark.parametrize(
    "option, tags",
    [
        ("--ko-default-tags=stable", ("stable",)),  # a bare string: that tag, not `latest` and it
        ("--ko-default-tags=['v1', 'stable']", ("v1", "stable")),
        ("--ko-default-tags=[]", ("latest",)),
    ],
)
def test_default_tags_as_a_string_means_that_tag(rule_runner: RuleRunner, option: str, tags: tuple) -> None:
    set_ko_options(rule_runner, [option])
    assert name_of(rule_runner, "svc", "plain").tags == tags
