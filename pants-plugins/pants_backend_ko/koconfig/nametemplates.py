"""Templates in a `ko_image`'s tags and repository: Pants' docker-backend placeholders, and ko's
Go templates.

Pants' `docker_image` interpolates `{placeholder}`s in `image_tags` and `repository`
(`pants/backend/docker/util_rules/docker_build_context.py`, `goals/package_image.py`). These
are ours, with what each expands to:

| placeholder            | value                                                                      |
|------------------------|----------------------------------------------------------------------------|
| `{name}`               | the target's name (`server` in `src/go/cmd/server:server`)                  |
| `{directory}`          | the last folder of the BUILD file's path (`server`)                         |
| `{parent_directory}`   | the folder above it (`cmd`)                                                 |
| `{import_path}`        | the main package's Go import path (`example.com/app/cmd/server`)            |
| `{git.short_commit}`, `{git.full_commit}`, `{git.tag}`, `{git.branch}`, `{git.commit_timestamp}`, `{git.tree_state}` | ko's `.Git` data of the checkout (`koconfig/gitinfo.py`; `{git.tag}` is `v0.0.0` without a tag, as ko) |
| `{pants.hash}`         | a SHA-256 (64 hex digits) of the image's inputs, as Pants' docker backend's `{pants.hash}` (see the README) |
| `{env.NAME}`           | the environment variable `NAME` (an error when it is not set)               |

ko's Go-template style is accepted too, with ko's data (`koconfig/templates.py`): `{{.Git.ShortCommit}}`,
`{{.Git.Tag}}`, `{{.Env.NAME}}`, `{{.Date}}`, `{{.Timestamp}}` and Go's template functions.
A template may mix both: the Go template is rendered first, then the placeholders
(`"{{.Git.Tag}}-{pants.hash}"`). `.GoEnv` is refused: it is per platform, a tag is per image.

Everything else in braces is an error naming the template, the field and the known
placeholders (a typo must not publish a literal `{git.shortcommit}` tag). `needs` says which
data a set of templates uses, so the rules run `git` or hash the inputs only when a template
asks. No Pants imports.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pants_backend_ko.koconfig import templates as ko_templates
from pants_backend_ko.koconfig.gitinfo import GitInfo
from pants_backend_ko.koconfig.templates import TemplateError

TARGET_PLACEHOLDERS = ("name", "directory", "parent_directory", "import_path")
GIT_PLACEHOLDERS = {
    "git.short_commit": lambda g: g.short_commit,
    "git.full_commit": lambda g: g.full_commit,
    "git.tag": lambda g: g.tag,
    "git.branch": lambda g: g.branch,
    "git.commit_timestamp": lambda g: str(g.commit_timestamp),
    "git.tree_state": lambda g: g.tree_state,
}
PANTS_HASH = "pants.hash"
ENV_PREFIX = "env."
KNOWN = (*TARGET_PLACEHOLDERS, *GIT_PLACEHOLDERS, PANTS_HASH, "env.NAME")


@dataclass(frozen=True)
class Template:
    """One template and how errors name it (`src/x:img: tags[1]`)."""

    text: str
    where: str


@dataclass(frozen=True)
class TemplateNeeds:
    """The data a set of templates uses."""

    git: bool = False
    pants_hash: bool = False
    date: bool = False  # ko's .Date/.Timestamp
    env: frozenset[str] = frozenset()


@dataclass(frozen=True)
class NameData:
    """What templates expand with; families a template did not ask for may be left empty."""

    target: Mapping[str, str]  # the TARGET_PLACEHOLDERS
    env: Mapping[str, str]  # the variables `needs` named that are set
    git: GitInfo | None = None
    pants_hash: str = ""
    date_epoch: int | None = None


def _placeholders(template: Template) -> list[tuple[str, str]]:
    """(literal text, field name) pairs of the Pants-style part of `template`."""
    try:
        parts = list(string.Formatter().parse(template.text))
    except ValueError as e:
        raise TemplateError(f"{template.where}: {template.text!r} is not a valid template ({e})") from None
    out = []
    for literal, field, spec, conversion in parts:
        if field is None:
            out.append((literal, ""))
            continue
        if spec or conversion:
            raise TemplateError(
                f"{template.where}: {template.text!r}: write placeholders plainly, as {{{field}}}, without "
                "a conversion or format"
            )
        known = field in TARGET_PLACEHOLDERS or field in GIT_PLACEHOLDERS or field == PANTS_HASH
        if not known and not (field.startswith(ENV_PREFIX) and field[len(ENV_PREFIX) :].isidentifier()):
            raise TemplateError(
                f"{template.where}: unknown placeholder {{{field}}} in {template.text!r}; "
                f"the placeholders are {', '.join('{' + k + '}' for k in KNOWN)}"
            )
        out.append((literal, field))
    return out


def _go_part(template: Template) -> tuple[set[str], frozenset[str]]:
    """ko's template families and `.Env` keys that `template` uses (empty without `{{`)."""
    if "{{" not in template.text:
        return set(), frozenset()
    families = ko_templates.template_needs([template.text], template.where)
    if ko_templates.GO_ENV in families:
        raise TemplateError(
            f"{template.where}: {template.text!r} uses .GoEnv, which differs per platform; a tag or repository "
            "names the whole image: use .Env, .Git or .Date"
        )
    keys = ko_templates.template_keys_used([template.text], "Env", template.where)
    if keys is None:
        raise TemplateError(
            f"{template.where}: {template.text!r} uses .Env whole; name the variable, as {{{{.Env.NAME}}}}"
        )
    return families, keys


def needs(templates: Iterable[Template]) -> TemplateNeeds:
    """What `templates` use; every template is parsed, so a bad one fails here, before any work."""
    git = pants_hash = date = False
    env: set[str] = set()
    for template in templates:
        families, keys = _go_part(template)
        git |= ko_templates.GIT in families
        date |= ko_templates.DATE in families
        env |= keys
        # Placeholders are read in what the Go template leaves: its own `{{...}}` are not ours.
        rest = template.text if "{{" not in template.text else _without_actions(template.text)
        for _, field in _placeholders(Template(rest, template.where)):
            git |= field in GIT_PLACEHOLDERS
            pants_hash |= field == PANTS_HASH
            if field.startswith(ENV_PREFIX):
                env.add(field[len(ENV_PREFIX) :])
    return TemplateNeeds(git=git, pants_hash=pants_hash, date=date, env=frozenset(env))


def _without_actions(text: str) -> str:
    """`text` with every Go template action `{{...}}` removed (to read the placeholders around them)."""
    out, rest = [], text
    while "{{" in rest:
        before, _, after = rest.partition("{{")
        out.append(before)
        rest = after.partition("}}")[2]
    return "".join(out) + rest


def _value(field: str, data: NameData, where: str) -> str:
    if field in TARGET_PLACEHOLDERS:
        return data.target[field]
    if field in GIT_PLACEHOLDERS:
        assert data.git is not None, "needs() said git"
        return GIT_PLACEHOLDERS[field](data.git)
    if field == PANTS_HASH:
        assert data.pants_hash, "needs() said pants.hash"
        return data.pants_hash
    name = field[len(ENV_PREFIX) :]
    if name not in data.env:
        raise TemplateError(f"{where}: {{{field}}}: the environment variable {name} is not set; set it, or remove it")
    return data.env[name]


def expand(template: Template, data: NameData) -> str:
    """The text `template` stands for (ko's Go template first, then the placeholders)."""
    text = template.text
    if "{{" in text:
        go_data = ko_templates.template_data(
            [f"{k}={v}" for k, v in sorted(data.env.items())],
            git=data.git.template_value() if data.git else None,
            date_epoch=data.date_epoch,
        )
        text = ko_templates.render_template(text, go_data, template.where)
    # The placeholders are read in what the Go template rendered (a value it inserted with braces
    # in it would be read too; neither tags nor repositories can hold braces).
    return "".join(
        literal + (_value(field, data, template.where) if field else "")
        for literal, field in _placeholders(Template(text, template.where))
    )
