from __future__ import annotations

import pytest

from pants_backend_ko.koconfig.gitinfo import GitInfo
from pants_backend_ko.koconfig.nametemplates import NameData, Template, TemplateNeeds, expand, needs
from pants_backend_ko.koconfig.templates import TemplateError

GIT = GitInfo(
    branch="main",
    tag="v1.2.0",
    short_commit="abc1234",
    full_commit="abc1234" + "0" * 33,
    commit_timestamp=0,
    dirty=False,
)
TARGET = {
    "name": "server",
    "directory": "server",
    "parent_directory": "cmd",
    "import_path": "example.com/app/cmd/server",
}
DATA = NameData(target=TARGET, env={"STAGE": "prod"}, git=GIT, pants_hash="f" * 64, date_epoch=0)


def t(text: str) -> Template:
    return Template(text, "src/x:img: `tags`")


def test_needs_says_only_what_the_templates_use() -> None:
    assert needs([t("stable"), t("{name}-{directory}")]) == TemplateNeeds()
    assert needs([t("{git.short_commit}")]) == TemplateNeeds(git=True)
    assert needs([t("{pants.hash}"), t("{env.STAGE}")]) == TemplateNeeds(pants_hash=True, env=frozenset({"STAGE"}))
    assert needs([t("{{.Git.Tag}}-{{.Env.BUILD}}"), t("{{.Date}}")]) == TemplateNeeds(
        git=True, date=True, env=frozenset({"BUILD"})
    )


@pytest.mark.parametrize(
    "text, expanded",
    [
        ("{name}", "server"),
        ("{parent_directory}/{directory}", "cmd/server"),
        ("{import_path}", "example.com/app/cmd/server"),
        ("{git.short_commit}", "abc1234"),
        ("{git.tag}-{git.branch}-{git.tree_state}", "v1.2.0-main-clean"),
        ("{env.STAGE}-{pants.hash}", "prod-" + "f" * 64),
        ("{{.Git.ShortCommit}}", "abc1234"),
        ("{{.Git.Tag}}-{git.short_commit}", "v1.2.0-abc1234"),
        ("{{.Env.STAGE}}", "prod"),
    ],
)
def test_both_styles_expand(text: str, expanded: str) -> None:
    assert expand(t(text), DATA) == expanded


@pytest.mark.parametrize(
    "text, message",
    [
        ("{git.shortcommit}", "src/x:img: `tags`: unknown placeholder {git.shortcommit} in '{git.shortcommit}'; "),
        ("{name!r}", "write placeholders plainly"),
        ("{name", "is not a valid template"),
        ("{{.GoEnv.GOOS}}", "uses .GoEnv, which differs per platform"),
    ],
)
def test_bad_templates_are_one_line_naming_the_template(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as e:
        needs([t(text)])
    assert message in str(e.value) and "\n" not in str(e.value)


def test_unset_environment_variable_is_an_error() -> None:
    with pytest.raises(TemplateError, match=r"\{env.MISSING\}: the environment variable MISSING is not set"):
        expand(t("{env.MISSING}"), DATA)
