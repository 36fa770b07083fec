"""ko's `flags`/`ldflags` templates: the data ko renders them with, and what they need.

ko renders every `flags` and `ldflags` item with Go's `text/template` (`golang.gotemplate`)
and `Option("missingkey=error")` over this data (`pkg/build/gobuild.go` `createTemplateData`):

* `.Env.X`   the build environment (with `LDFLAGS=""` unless set),
* `.GoEnv.X` `go env`, where keys also present in `.Env` take `.Env`'s value,
* `.Git.*`   Branch, Tag, ShortCommit, FullCommit, CommitDate, CommitTimestamp, IsDirty,
             IsClean, TreeState (see `gitinfo.py`),
* `.Date`    RFC 3339 build date, `.Timestamp` its Unix seconds (`SOURCE_DATE_EPOCH` or now).

`template_needs` says which of these families the templates use, so that `go env` and `git`
run only when needed; `template_keys_used` which environment variables they read, so that
only those enter the build and its cache key. Errors are `TemplateError`s (`KoError`s), one
line naming the template and where it comes from.

Deliberate differences: `.Date` is formatted in UTC (ko uses the machine's local zone, a
quirk that makes results depend on `TZ`; ko's own docs promise UTC). `.Timestamp` is equal.
A rendered item must be UTF-8 (Go would pass any bytes, e.g. from `"\\xff"`, to `go build`;
Pants passes only text to processes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pants_backend_ko.errors import KoError
from pants_backend_ko.golang import gotemplate
from pants_backend_ko.golang.gotemplate import GoMap
from pants_backend_ko.golang.gotime import unix_utc

# The data families a template can use; callers compute only the ones `template_needs` names.
ENV = "Env"
GO_ENV = "GoEnv"
GIT = "Git"
DATE = "Date"  # covers .Date and .Timestamp (same source)
_TOP_LEVEL = {"Env": ENV, "GoEnv": GO_ENV, "Git": GIT, "Date": DATE, "Timestamp": DATE}
ALL_FAMILIES: frozenset[str] = frozenset({ENV, GO_ENV, GIT, DATE})


class TemplateError(KoError):
    """A template that cannot be parsed or rendered; the message names the template."""


# ---------------------------------------------------------------------------------------------
# Template data


def template_env(build_env: Sequence[str]) -> dict[str, str]:
    """`.Env`: `LDFLAGS=""`, then the `NAME=VALUE` entries in order (later ones win)."""
    env = {"LDFLAGS": ""}
    for entry in build_env:
        name, sep, value = entry.partition("=")
        if not sep:
            raise KoError(f"invalid environment entry {name!r} for templates: expected NAME=VALUE")
        env[name] = value
    return env


def parse_go_env(output: str) -> dict[str, str]:
    """Parse `go env` output (`KEY='value'` lines) as ko's `goenv` does."""
    result: dict[str, str] = {}
    for number, line in enumerate(output.splitlines(), start=1):
        if not line.strip():
            continue  # Go's scanner would fail here; blank lines do not occur on Linux
        key, sep, value = line.partition("=")
        if not sep:
            raise KoError(f"go env: cannot parse line {number}; expected KEY=VALUE")
        value = value.strip()
        if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        result[key.strip()] = value
    return result


def template_data(
    build_env: Sequence[str],
    go_env: Mapping[str, str] | None = None,
    git: Mapping[str, Any] | None = None,
    date_epoch: int | None = None,
) -> dict[str, Any]:
    """The data ko renders templates with; families left as None are absent.

    build_env: the full build environment as `NAME=VALUE` (ko: its environment, then the
    platform variables, then builds[].env); go_env: `parse_go_env` output, when `GoEnv` is
    needed; git: `GitInfo.template_value()`, when `Git` is needed; date_epoch:
    `SOURCE_DATE_EPOCH` (or the current time), when `Date` is needed.
    """
    env = template_env(build_env)
    data: dict[str, Any] = {"Env": GoMap(env, "", list_keys_in_errors=False)}
    if go_env is not None:
        merged = dict(go_env)
        for key, value in env.items():  # only keys go env knows are overridden, as in ko
            if key in merged:
                merged[key] = value
        data["GoEnv"] = GoMap(merged, "", list_keys_in_errors=False)
    if git is not None:
        data["Git"] = GoMap(git, None)
    if date_epoch is not None:
        data["Date"] = unix_utc(date_epoch)
        data["Timestamp"] = int(date_epoch)
    return GoMap(data, None)


# ---------------------------------------------------------------------------------------------
# Rendering and analysis


def _parse(template: str, where: str) -> gotemplate.Template:
    try:
        return gotemplate.parse(template, where)
    except gotemplate.TemplateError as e:
        raise TemplateError(str(e)) from None


def render_template(template: str, data: Mapping[str, Any], where: str = "") -> str:
    """Render one flags/ldflags item as ko does (missingkey=error); `where` prefixes errors."""
    parsed = _parse(template, where)
    for field in gotemplate.fields(parsed.nodes):
        if field.names and field.names[0] in _TOP_LEVEL and field.names[0] not in data:
            # The caller did not compute this family: it skipped template_needs.
            raise TemplateError(
                str(
                    parsed.fail(
                        f".{field.names[0]} is not available (its data was not computed)",
                        "compute the families template_needs() names",
                    )
                )
            )
    try:
        rendered = parsed.execute(data)
    except gotemplate.TemplateError as e:
        raise TemplateError(str(e)) from None
    if any("\udc80" <= c <= "\udcff" for c in rendered):
        raise TemplateError(
            str(parsed.fail("it renders bytes that are not UTF-8", "build flags must be text; remove the \\x escapes"))
        )
    return rendered


def render_templates(templates: Sequence[str], data: Mapping[str, Any], where: str = "") -> tuple[str, ...]:
    """Render every item (ko's applyTemplating)."""
    return tuple(render_template(t, data, where) for t in templates)


def template_needs(templates: Iterable[str], where: str = "") -> set[str]:
    """Which data families (`Env`, `GoEnv`, `Git`, `Date`) the templates use.

    Parses every template, so syntax errors and unknown top-level keys surface here, before
    any `git` or `go env` run. A bare `.` or `$` used as a value needs every family.
    """
    needs: set[str] = set()
    for template in templates:
        if "{{" not in template:
            continue
        parsed = _parse(template, where)
        for field in gotemplate.fields(parsed.nodes):
            if not field.names:
                needs |= ALL_FAMILIES
                continue
            family = _TOP_LEVEL.get(field.names[0])
            if family is None:
                raise TemplateError(
                    str(
                        parsed.fail(
                            f'map has no entry for key "{field.names[0]}" (at <.{field.names[0]}>)',
                            "the data is .Env, .GoEnv, .Git, .Date and .Timestamp",
                        )
                    )
                )
            needs.add(family)
    return needs


def template_keys_used(templates: Iterable[str], family: str, where: str = "") -> frozenset[str] | None:
    """The keys of one map family (`Env` or `GoEnv`, or `Git`) that the templates read.

    `None` means "all of them": the map is used whole (`{{.Env}}`, `{{len .Env}}`, `index`
    with a computed key). Lets a caller pass only the environment variables a template
    names (`{{.Env.VERSION}}`, `{{index .Env "VERSION"}}`) into the build and its cache key.
    """
    keys: set[str] = set()
    for template in templates:
        if "{{" not in template:
            continue
        parsed = _parse(template, where)
        for command in gotemplate.commands(parsed.nodes):
            args = command.args
            for position, arg in enumerate(args):
                path = gotemplate.field_path(arg)
                if path is None:
                    continue
                if not path:
                    return None  # `.` or `$` as a value: every family, whole
                if path[0] != family:
                    continue
                if len(path) > 1:
                    keys.add(path[1])
                    continue
                # the map itself: fine only as `index <map> "literal"`
                head = args[0]
                is_index = isinstance(head, gotemplate.Function) and head.name == "index" and position == 1
                if (
                    is_index
                    and len(args) > 2
                    and isinstance(args[2], gotemplate.Literal)
                    and isinstance(args[2].value, str)
                ):
                    keys.add(args[2].value)
                    continue
                return None
    return frozenset(keys)
