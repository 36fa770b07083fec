"""In-process tests of image naming: KO_DOCKER_REPO / [ko].docker_repo / `repository`, tags,
and ko's naming modes (vectors from ko's `pkg/commands/options/publish.go` `MakeNamer`)."""

from __future__ import annotations

import pytest
from pants.engine.addresses import Address
from pants.engine.internals.scheduler import ExecutionError
from pants.testutil.rule_runner import RuleRunner

from pants_backend_ko.errors import KoError
from pants_backend_ko.target_types import KoImageFieldSet
from pants_backend_ko.testutil import ko_error_message, ko_rule_runner, set_ko_options
from pants_backend_ko.tool.messages import DAEMON, REGISTRY
from pants_backend_ko.util_rules.destinations import (
    ImageName,
    ImageNameRequest,
    TagClaim,
    claims_of,
    refuse_shared_tags,
)

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
            "svc/debug/BUILD": (
                "ko_image(name='img', debug=True, tags=['v1', 'stable'])\n"
                f"ko_image(name='long', debug=True, tags=['{'x' * 125}'])\n"
                "ko_image(name='off', debug=False)\n"
            ),
            "svc/local/BUILD": (
                "ko_image(name='named', repository='ko.local')\n"
                "ko_image(name='exact', repository='ko.local/my/app')\n"
            ),
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


def test_debug_images_get_debug_tags(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner, ["--ko-debug"], env={"KO_DOCKER_REPO": KO_BASE})
    assert name_of(rule_runner, "svc/debug", "img").tags == ("v1-debug", "stable-debug")
    assert name_of(rule_runner, "svc", "plain").tags == ("latest-debug",)  # from [ko].debug
    assert name_of(rule_runner, "svc/debug", "off").tags == ("latest",)  # the field wins
    # The suffix goes after the expanded tag, and the result is checked as a tag.
    assert naming_error(rule_runner, "svc/debug", "long").startswith(
        f"svc/debug:long: `tags`: '{'x' * 125}' gives '{'x' * 125}-debug', which is not a valid tag"
    )


def test_ko_local_names_images_for_the_docker_daemon(rule_runner: RuleRunner) -> None:
    # ko's local publisher: KO_DOCKER_REPO=ko.local, names by the naming mode, GOOS/GOARCH
    # pick the image of an index (default linux/amd64); ko.local/other is ko's WithLocalDomain.
    set_ko_options(rule_runner, env={"KO_DOCKER_REPO": "ko.local"})
    name = name_of(rule_runner, "svc", "plain")
    assert name.repository == "ko.local/example-51d74b7127c5f7495a338df33ecdeb19"
    assert (name.is_local, name.daemon_platform) == (True, ("linux", "amd64"))
    set_ko_options(
        rule_runner, ["--ko-naming=base-import-paths"], env={"KO_DOCKER_REPO": "ko.local/other", "GOARCH": "arm64"}
    )
    name = name_of(rule_runner, "svc", "plain")
    assert (name.repository, name.daemon_platform) == ("ko.local/other/example", ("linux", "arm64"))
    # A target's `repository`: `ko.local` alone means the daemon with ko's names; a full name is used as it is.
    set_ko_options(rule_runner, env={"KO_DOCKER_REPO": "ghcr.io/acme"})
    named, exact = name_of(rule_runner, "svc/local", "named"), name_of(rule_runner, "svc/local", "exact")
    assert (named.repository, named.is_local) == ("ko.local/example-51d74b7127c5f7495a338df33ecdeb19", True)
    assert (exact.repository, exact.is_local) == ("ko.local/my/app", True)
    # A registry whose name merely starts with ko.local is a registry.
    set_ko_options(rule_runner, env={"KO_DOCKER_REPO": "ko.localhost:5000/acme"})
    assert name_of(rule_runner, "svc", "plain").is_local is False


def test_ko_local_is_a_destination_like_any_registry(rule_runner: RuleRunner) -> None:
    # A [ko].registries address under ko.local is the daemon too, named as KO_DOCKER_REPO=ko.local names.
    set_ko_options(rule_runner, ["--ko-registries={'lab': {'address': 'ko.local', 'default': True}}"])
    name = name_of(rule_runner, "svc", "plain")
    assert (name.repository, name.is_local) == ("ko.local/example-51d74b7127c5f7495a338df33ecdeb19", True)
    # Its loads are claims in the daemon, checked as registry tags are.
    claims = list(claims_of("svc:plain", name))
    assert claims == [TagClaim(DAEMON, "ko.local/example-51d74b7127c5f7495a338df33ecdeb19", "latest", "svc:plain")]
    with pytest.raises(KoError, match="^svc:a and svc:b both publish ko.local/x:latest;"):
        refuse_shared_tags([TagClaim(DAEMON, "ko.local/x", "latest", o) for o in ("svc:b", "svc:a")])
    refuse_shared_tags(
        [TagClaim(DAEMON, "ko.local/x", "latest", "svc:a"), TagClaim(REGISTRY, "ko.local/x", "latest", "b")]
    )
    # One image goes to the daemon or to registries, not both: one line naming the target.
    set_ko_options(
        rule_runner,
        [
            "--ko-registries={'lab': {'address': 'ko.local', 'default': True}, 'prod': {'address': 'ghcr.io/acme', 'default': True}}"
        ],
    )
    message = naming_error(rule_runner, "svc", "plain")
    assert message.startswith("svc:plain: the image goes both to the Docker daemon (ko.local/example-"), message
    assert "\n" not in message
    # A debug image's `-debug` suffix goes on a registry's extra tags too.
    set_ko_options(
        rule_runner,
        [
            "--ko-debug",
            "--ko-registries={'prod': {'address': 'ghcr.io/acme', 'default': True, 'extra_image_tags': ['stable']}}",
        ],
    )
    (destination,) = name_of(rule_runner, "svc", "plain").destinations
    assert destination.tags == ("latest-debug", "stable-debug")
