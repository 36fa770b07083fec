"""ko's `.ko.yaml`: finding it, reading it strictly, `KO_*` overrides, and per-image settings.

ko reads its configuration with viper (`pkg/commands/options/build.go` `LoadConfig`) and
silently ignores anything it does not know. This module reads the same keys with the same
shapes, but reports unknown keys and wrong types as one-line errors with `<path>:<line>`,
because a misspelt `defaultPlatfroms` that quietly does nothing is the most common way a
`.ko.yaml` goes wrong.

How ko's lookup maps to a Pants repository (`find_ko_config_path`):

* ko looks for `.ko.yaml` only in its working directory. Pants has one natural working
  directory, the build root, so the `.ko.yaml` at the **repository root** is used (never one
  in a target's folder, exactly as ko run from the root would behave).
* `KO_CONFIG_PATH` may name a file or a directory holding `.ko.yaml`; a relative value is
  relative to the repository root, an absolute one must lie inside it (Pants can only read
  files of the repository).
* `builds[].dir` and `builds[].main` are relative to ko's working directory, i.e. the
  repository root, wherever the config file itself lives (ko's documented rule).

Precedence (`effective_value`): a BUILD field, where set, wins over `.ko.yaml`; `.ko.yaml`
(after `KO_*` environment overrides, which win over its keys as in ko) wins over `[ko]`
options; `[ko]` options win only over the built-in defaults. Within `.ko.yaml`,
`builds[].env/flags/ldflags` **replace** `defaultEnv/defaultFlags/defaultLdflags` (no merge),
and `baseImageOverrides[<import path>]` wins over `defaultBaseImage`.
"""

from __future__ import annotations

import difflib
import posixpath
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Callable, NoReturn, TypeVar

import yaml

from pants_backend_ko.errors import KoError
from pants_backend_ko.golang.gostrconv import parse_int
from pants_backend_ko.oci.naming import KO_SCHEME, strip_ko_scheme
from pants_backend_ko.oci.platform import Platform
from pants_backend_ko.oci.reference import InvalidReferenceError, parse_reference

# ko's built-in default base image (v0.13+): `configDefaultBaseImage` in ko's
# pkg/commands/options/build.go. The `[ko].default_base_image` option defaults to it too.
DEFAULT_BASE_IMAGE = "cgr.dev/chainguard/static:latest"

# The environment variables this module reads; a caller that snapshots the environment
# (for a cache key) needs exactly these.
KO_CONFIG_PATH_ENV = "KO_CONFIG_PATH"
ENV_OVERRIDES = (
    "KO_DEFAULTBASEIMAGE",
    "KO_DEFAULTPLATFORMS",
    "KO_DEFAULTENV",
    "KO_DEFAULTFLAGS",
    "KO_DEFAULTLDFLAGS",
)
KO_ENV_VARS = (KO_CONFIG_PATH_ENV,) + ENV_OVERRIDES

# viper tries its supported extensions in this order for the config name `.ko`; the first
# existing file wins. Only the YAML-compatible ones can be read here.
_VIPER_EXTENSIONS = (
    "json",
    "toml",
    "yaml",
    "yml",
    "properties",
    "props",
    "prop",
    "hcl",
    "tfvars",
    "dotenv",
    "env",
    "ini",
)
_READABLE_EXTENSIONS = frozenset({"json", "yaml", "yml"})

_TOP_LEVEL_KEYS = (
    "defaultBaseImage",
    "baseImageOverrides",
    "defaultPlatforms",
    "defaultEnv",
    "defaultFlags",
    "defaultLdflags",
    "builds",
)
_BUILD_KEYS = ("id", "dir", "main", "env", "flags", "ldflags", "linux_capabilities")
# GoReleaser keys that ko's build.Config lists as "not supported"; named in the error.
_GORELEASER_ONLY_KEYS = frozenset(
    {
        "goos",
        "goarch",
        "goarm",
        "gomips",
        "targets",
        "binary",
        "lang",
        "asmflags",
        "gcflags",
        "mod_timestamp",
        "gobinary",
        "hooks",
        "skip",
        "builder",
        "tool",
        "command",
        "buildmode",
        "overrides",
        "ignore",
        "no_unique_dist_dir",
        "no_main_check",
    }
)

_NULL_TAG = "tag:yaml.org,2002:null"

# Plain scalars that ko's YAML library (go.yaml.in/yaml, YAML 1.2 core schema plus its
# extensions: underscores, legacy 0-octal, timestamps) resolves to something other than a
# string; and the ones whose text survives the round trip unchanged.
_NON_STRING_PLAIN = re.compile(
    r"""(?:
        true|True|TRUE|false|False|FALSE
      | [-+]?(?:0b[01_]+|0o?[0-7_]+|0x[0-9a-fA-F_]+)
      | [-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?
      | [-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)
      | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt ].*)?
    )""",
    re.VERBOSE,
)
_PLAIN_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)")  # fullmatch, as every pattern here


@dataclass(frozen=True)
class BuildConfig:
    """One `builds[]` entry, normalised as ko's `createBuildConfigMap` does."""

    id: str
    dir: str  # repository-relative, normalised ("." for the root)
    main: str  # as written, default "."
    package_dir: str  # repository-relative directory of the main package: dir + main (or main's folder)
    env: tuple[str, ...] | None
    flags: tuple[str, ...] | None
    ldflags: tuple[str, ...] | None
    linux_capabilities: tuple[str, ...]
    line: int  # 1-based line of the entry, for messages


@dataclass(frozen=True)
class KoConfig:
    """A parsed `.ko.yaml`. `None` (or empty) means "the file does not say"."""

    path: str
    default_base_image: str | None = None
    base_image_overrides: tuple[tuple[str, str], ...] = ()  # (lower-cased import path, reference)
    default_platforms: tuple[str, ...] | None = None
    default_env: tuple[str, ...] | None = None
    default_flags: tuple[str, ...] | None = None
    default_ldflags: tuple[str, ...] | None = None
    builds: tuple[BuildConfig, ...] = ()

    def base_image_override(self, import_path: str) -> str | None:
        """ko looks overrides up by the lower-cased import path, without `ko://`."""
        key = strip_ko_scheme(import_path).lower()
        for path, ref in self.base_image_overrides:
            if path == key:
                return ref
        return None


EMPTY_CONFIG = KoConfig(path="")


@dataclass(frozen=True)
class BuildSettings:
    """What `.ko.yaml` (after `KO_*` overrides) says about one image; `None` = nothing.

    Combine each field with the BUILD field and the `[ko]` option through `effective_value`.
    """

    base_image: str | None
    env: tuple[str, ...] | None
    flags: tuple[str, ...] | None
    ldflags: tuple[str, ...] | None
    dir: str | None  # the matched entry's working directory for `go build`, repo-relative
    platforms: tuple[str, ...] | None
    linux_capabilities: tuple[str, ...]
    build_id: str | None  # the matched entry's id, for logs


T = TypeVar("T")


def epoch_from_env(environ: Mapping[str, str], name: str) -> int | None:
    """`SOURCE_DATE_EPOCH` or `KO_DATA_DATE_EPOCH` as ko reads them (`strconv.ParseInt(v, 10, 64)`).

    None when unset or empty; a value Go would refuse is a one-line error naming the variable.
    """
    value = environ.get(name)
    if not value:
        return None
    try:
        return parse_int(value)
    except ValueError:
        raise KoError(f"${name}={value!r} is not a Unix time in seconds; set it to an integer or unset it.") from None


def effective_value(build_value: T | None, ko_yaml_value: T | None, option_value: T | None, default: T) -> T:
    """The one precedence rule: BUILD field > `.ko.yaml` (with `KO_*`) > `[ko]` option > default.

    `None` means "not set" at that level. An explicitly empty BUILD value (`flags=[]`) is set,
    and so wins: that is how a target opts out of `.ko.yaml` flags.
    """
    for value in (build_value, ko_yaml_value, option_value):
        if value is not None:
            return value
    return default


# ---------------------------------------------------------------------------------------------
# Finding the file


def ko_config_candidate_paths(environ: Mapping[str, str], repo_root: str | None = None) -> tuple[str, ...]:
    """Repository-relative paths and globs whose existence `find_ko_config_path` needs.

    A caller that cannot list the whole repository globs these and passes the hits.
    """
    override = environ.get(KO_CONFIG_PATH_ENV, "")
    if override:
        rel = _normalise_repo_path(override, repo_root, KO_CONFIG_PATH_ENV)
        if rel == ".":
            return (".ko.yaml", "*")
        return (rel, posixpath.join(rel, ".ko.yaml"), posixpath.join(rel, "*"))
    return tuple(f".ko.{ext}" for ext in _VIPER_EXTENSIONS)


def find_ko_config_path(
    workdir_files: Collection[str], environ: Mapping[str, str], repo_root: str | None = None
) -> str | None:
    """ko's lookup, mapped to the repository root: the repo-relative config path, or None.

    `workdir_files` are repository-relative paths of existing files (at least those from
    `ko_config_candidate_paths`). `repo_root` (absolute) lets an absolute `KO_CONFIG_PATH`
    inside the repository be accepted.
    """
    files = {posixpath.normpath(f) for f in workdir_files}
    override = environ.get(KO_CONFIG_PATH_ENV, "")
    if override:
        rel = _normalise_repo_path(override, repo_root, KO_CONFIG_PATH_ENV)
        if rel in files:
            ext = posixpath.splitext(rel)[1].lstrip(".").lower()
            if ext in _VIPER_EXTENSIONS and ext not in _READABLE_EXTENSIONS:
                raise KoError(
                    f"{KO_CONFIG_PATH_ENV}={override!r}: ko's configuration in {ext} format is not supported "
                    f"by this backend; convert it to YAML"
                )
            return rel
        prefix = "" if rel == "." else rel + "/"
        if rel == "." or any(f.startswith(prefix) for f in files):
            candidate = posixpath.normpath(posixpath.join(rel, ".ko.yaml"))
            if candidate in files:
                return candidate
            raise KoError(
                f"{KO_CONFIG_PATH_ENV}={override!r} is a directory without a .ko.yaml file; "
                f"create {candidate} or point {KO_CONFIG_PATH_ENV} at the config file"
            )
        raise KoError(
            f"{KO_CONFIG_PATH_ENV}={override!r} does not exist in the repository; "
            f"point it at a config file or a directory holding .ko.yaml (relative to the repository root), or unset it"
        )
    for ext in _VIPER_EXTENSIONS:
        name = f".ko.{ext}"
        if name in files:
            if ext not in _READABLE_EXTENSIONS:
                raise KoError(
                    f"{name}: ko's configuration in {ext} format is not supported by this backend; "
                    f"convert it to .ko.yaml"
                )
            return name
    return None


def _normalise_repo_path(value: str, repo_root: str | None, what: str) -> str:
    """A repository-relative, normalised path, or a one-line error if it leaves the repository."""
    path = value
    if posixpath.isabs(path):
        root = posixpath.normpath(repo_root) if repo_root else None
        if root is None or not (path == root or path.startswith(root.rstrip("/") + "/")):
            raise KoError(
                f"{what}={value!r} is outside the repository; Pants reads ko's config only from the "
                f"repository, so use a path relative to the repository root"
            )
        path = posixpath.relpath(path, root)
    path = posixpath.normpath(path)
    if path == ".." or path.startswith("../"):
        raise KoError(f"{what}={value!r} points outside the repository; use a path inside the repository root")
    return path


# ---------------------------------------------------------------------------------------------
# Loading


# ko's config is a few levels deep; go-yaml stops at 10000 levels, Python's stack much sooner.
MAX_YAML_DEPTH = 100


class _TooDeep(Exception):
    def __init__(self, mark: Any) -> None:
        self.mark = mark


class _DepthLimitedLoader(yaml.SafeLoader):
    """SafeLoader whose (recursive) composer refuses nesting deeper than MAX_YAML_DEPTH."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise _TooDeep(self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_ko_config(text: str, path: str) -> KoConfig:
    """Parse `.ko.yaml` text strictly; `path` is used in `<path>:<line>: ...` errors."""
    try:
        root = yaml.compose(text, Loader=_DepthLimitedLoader)
    except _TooDeep as e:
        raise KoError(
            f"{path}:{e.mark.line + 1}: the YAML is nested more than {MAX_YAML_DEPTH} levels deep; "
            "ko's config needs a few levels, so check the file (an unclosed or repeated [ or {?)"
        ) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = " ".join(str(e.problem or e.context or "unreadable YAML").split())
        raise KoError(f"{path}{line}: invalid YAML ({problem}); fix the syntax of the file") from None
    except yaml.YAMLError as e:
        raise KoError(f"{path}: invalid YAML ({' '.join(str(e).split())}); fix the syntax of the file") from None
    if root is None or _is_null(root):
        return KoConfig(path=path)
    reader = _Reader(path)
    if not isinstance(root, yaml.MappingNode):
        reader.fail(
            root,
            "the file must be a mapping of ko's keys (defaultBaseImage, builds, ...)",
            "write `key: value` lines at the top level",
        )
    fields: dict[str, Any] = {}
    for key, value in reader.mapping_items(root, _TOP_LEVEL_KEYS, ".ko.yaml", "top-level key"):
        if _is_null(value):
            continue  # `defaultEnv:` with nothing after it says nothing, as in viper
        if key == "defaultBaseImage":
            ref = reader.scalar(value, key)
            fields["default_base_image"] = _checked_reference(
                ref, f"{path}:{value.start_mark.line + 1}: defaultBaseImage"
            )
        elif key == "baseImageOverrides":
            fields["base_image_overrides"] = reader.overrides(value)
        elif key == "defaultPlatforms":
            fields["default_platforms"] = _checked_platforms(
                reader.string_list(value, key, split="whitespace"),
                f"{path}:{value.start_mark.line + 1}: defaultPlatforms",
            )
        elif key == "defaultEnv":
            fields["default_env"] = reader.env_list(value, key, split="whitespace") or None
        elif key == "defaultFlags":
            fields["default_flags"] = reader.string_list(value, key, split="whitespace") or None
        elif key == "defaultLdflags":
            fields["default_ldflags"] = reader.string_list(value, key, split="whitespace") or None
        elif key == "builds":
            fields["builds"] = reader.builds(value)
    return KoConfig(path=path, **fields)


class _Reader:
    """Walks composed YAML nodes so that every error can name its line."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, node: yaml.Node, problem: str, fix: str) -> NoReturn:
        raise KoError(f"{self.path}:{node.start_mark.line + 1}: {problem}; {fix}")

    def mapping_items(
        self, node: yaml.MappingNode, known: Sequence[str], where: str, what: str
    ) -> list[tuple[str, yaml.Node]]:
        # viper (and mapstructure for builds[]) match key names case-insensitively.
        by_fold = {k.lower(): k for k in known}
        seen: dict[str, int] = {}
        items = []
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.fail(key_node, f"a {what} in {where} must be a plain name", "remove the complex key")
            raw = key_node.value
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.fail(key_node, f"YAML merge keys (<<) are not supported in {where}", "write the keys out")
            canonical = by_fold.get(raw.lower())
            if canonical is None:
                hint = difflib.get_close_matches(raw, known, n=1)
                if raw.lower() in _GORELEASER_ONLY_KEYS:
                    fix = "ko ignores this GoReleaser key, so remove it"
                elif hint:
                    fix = f"did you mean {hint[0]!r}?"
                else:
                    fix = "remove it; the keys are " + ", ".join(known)
                self.fail(key_node, f"unknown {what} {raw!r} in {where}", fix)
            if canonical in seen:
                self.fail(
                    key_node,
                    f"{canonical!r} is set twice in {where} (first on line {seen[canonical]}; key names are case-insensitive)",
                    "keep one of them",
                )
            seen[canonical] = key_node.start_mark.line + 1
            items.append((canonical, value_node))
        return items

    def scalar(self, node: yaml.Node, name: str, key: str | None = None) -> str:
        if not isinstance(node, yaml.ScalarNode) or _is_null(node):
            self.fail(
                node, f"{name} must be a string, not {_kind(node)}", f"write `{key or name.split('.')[-1]}: <value>`"
            )
        return self.text(node, name)

    def text(self, node: yaml.ScalarNode, name: str) -> str:
        """The scalar's text, refusing plain values that ko would not read as that text.

        ko's YAML library (YAML 1.2 rules) reads plain `0755`, `1.10`, `true`, `1_000` or
        `2001-12-14` as numbers, booleans or dates and turns them back into different text
        (`493`, `1.1`, `1` in builds[], ...). Rather than copy those conversions, such values
        must be quoted; plain decimal integers are the same either way and are accepted.
        """
        raw = node.value
        if node.style is None and _NON_STRING_PLAIN.fullmatch(raw) and not _PLAIN_DECIMAL.fullmatch(raw):
            self.fail(
                node,
                f"{name}: ko reads the unquoted value {raw} as a number, boolean or date, which changes its text",
                f"quote it: '{raw}'",
            )
        return raw

    def string_list(self, node: yaml.Node, name: str, split: str) -> tuple[str, ...]:
        """A list of strings, or one string split as ko splits it for this key.

        split: "whitespace" (viper's GetStringSlice, ko's FlagArray), "none" (StringArray,
        and mapstructure's single-value-to-slice for builds[].env).
        """
        if isinstance(node, yaml.ScalarNode) and not _is_null(node):
            value = self.text(node, name)
            return tuple(value.split()) if split == "whitespace" else (value,)
        if not isinstance(node, yaml.SequenceNode):
            self.fail(
                node,
                f"{name} must be a list of strings or a string, not {_kind(node)}",
                f"write e.g. `{name.split('.')[-1].split('[')[0]}: [a, b]`",
            )
        items = []
        for index, item in enumerate(node.value):
            if not isinstance(item, yaml.ScalarNode) or _is_null(item):
                self.fail(item, f"{name}[{index}] must be a string, not {_kind(item)}", "quote it or remove it")
            items.append(self.text(item, f"{name}[{index}]"))
        return tuple(items)

    def env_list(self, node: yaml.Node, name: str, split: str) -> tuple[str, ...]:
        """Like string_list, and every entry must be NAME=VALUE (checked with its own line)."""
        items = self.string_list(node, name, split)
        item_nodes = node.value if isinstance(node, yaml.SequenceNode) else [node] * len(items)
        for item, item_node in zip(items, item_nodes):
            _check_env((item,), f"{self.path}:{item_node.start_mark.line + 1}: {name}")
        return items

    def overrides(self, node: yaml.Node) -> tuple[tuple[str, str], ...]:
        if not isinstance(node, yaml.MappingNode):
            self.fail(
                node,
                f"baseImageOverrides must be a mapping of import path to image reference, not {_kind(node)}",
                "write `baseImageOverrides: {example.com/cmd/app: registry/base:tag}`",
            )
        result: dict[str, str] = {}
        lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or _is_null(key_node):
                self.fail(
                    key_node,
                    "baseImageOverrides keys must be import paths",
                    "write the full import path, e.g. example.com/cmd/app",
                )
            if key_node.value.startswith(KO_SCHEME):
                self.fail(
                    key_node,
                    f"baseImageOverrides key {key_node.value!r} starts with ko://, so ko would never match it",
                    f"write {strip_ko_scheme(key_node.value)!r}",
                )
            key = key_node.value.lower()  # viper lower-cases keys; lookups are lower-cased too
            if key in result:
                self.fail(
                    key_node,
                    f"baseImageOverrides has {key!r} twice (first on line {lines[key]}; keys are case-insensitive)",
                    "keep one of them",
                )
            ref = self.scalar(value_node, f"baseImageOverrides[{key_node.value}]", key=key_node.value)
            result[key] = _checked_reference(
                ref, f"{self.path}:{value_node.start_mark.line + 1}: baseImageOverrides[{key_node.value}]"
            )
            lines[key] = key_node.start_mark.line + 1
        return tuple(sorted(result.items()))

    def builds(self, node: yaml.Node) -> tuple[BuildConfig, ...]:
        if not isinstance(node, yaml.SequenceNode):
            self.fail(
                node,
                f"builds must be a list of build entries, not {_kind(node)}",
                "write `builds:` followed by `- id: ...` items",
            )
        return tuple(self.build(item, index) for index, item in enumerate(node.value))

    def build(self, node: yaml.Node, index: int) -> BuildConfig:
        where = f"builds[{index}]"
        if not isinstance(node, yaml.MappingNode):
            self.fail(
                node,
                f"{where} must be a mapping (id, dir, main, env, flags, ldflags, linux_capabilities), not {_kind(node)}",
                "write `- main: ./cmd/app`",
            )
        values: dict[str, Any] = {}
        for key, value in self.mapping_items(node, _BUILD_KEYS, where, "key"):
            name = f"{where}.{key}"
            if _is_null(value):
                continue
            if key in ("id", "dir", "main"):
                values[key] = self.scalar(value, name)
            elif key == "env":
                values[key] = self.env_list(value, name, split="none")
            elif key in ("flags", "linux_capabilities"):
                values[key] = self.string_list(value, name, split="whitespace")
            elif key == "ldflags":
                values[key] = self.string_list(value, name, split="none")
        line = node.start_mark.line + 1
        # GoReleaser's defaults, as in ko: id "#<index>", dir ".", main ".".
        build_id = values.get("id") or f"#{index}"
        raw_dir = values.get("dir") or "."
        main = values.get("main") or "."
        # Go's filepath.Join(wd, "/x") is wd/x: a leading slash does not leave the working dir.
        dir_ = posixpath.normpath(posixpath.join(".", raw_dir.lstrip("/")))
        # ko uses the folder of a `main` that is a source file. It stats the file; without the
        # file system here, a `.go` suffix is the test (a package folder named `x.go` is absurd).
        main_dir = (posixpath.dirname(main) or ".") if main.endswith(".go") else main
        package_dir = posixpath.normpath(posixpath.join(dir_, main_dir.lstrip("/")))
        for label, folder in (("dir", dir_), ("main", package_dir)):
            if folder == ".." or folder.startswith("../"):
                raise KoError(
                    f"{self.path}:{line}: {where}.{label} leads outside the repository ({folder!r}); "
                    f"dir and main are relative to the repository root, so use a path inside it"
                )
        return BuildConfig(
            id=build_id,
            dir=dir_,
            main=main,
            package_dir=package_dir,
            env=values.get("env") or None,
            flags=values.get("flags") or None,
            ldflags=values.get("ldflags") or None,
            linux_capabilities=values.get("linux_capabilities") or (),
            line=line,
        )


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG and node.style is None


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if _is_null(node):
        return "empty"
    return f"the scalar {node.value!r}"


def _checked_reference(ref: str, where: str) -> str:
    # ko parses these with name.ParseReference at load time, so a typo fails early.
    try:
        parse_reference(ref)
    except InvalidReferenceError as e:
        raise KoError(f"{where}: {e}") from None
    return ref


def _check_env(items: Sequence[str], where: str) -> None:
    # ko's createTemplateData rejects entries without "=" at build time; fail at load instead.
    for item in items:
        if "=" not in item or item.startswith("="):
            raise KoError(f"{where}: environment entry {item!r} is not NAME=VALUE; write it as NAME=VALUE")


def _checked_platforms(items: Sequence[str], where: str) -> tuple[str, ...] | None:
    """ko's WithPlatforms: a single item is re-split on commas; `all` stands alone."""
    if not items:
        return None
    if len(items) == 1:
        items = tuple(items[0].split(","))
    items = tuple(items)
    if "all" in items:
        if len(items) > 1:
            raise KoError(
                f"{where}: 'all' cannot be combined with other platforms ({', '.join(items)}); use 'all' alone or list the platforms"
            )
        return items
    for item in items:
        try:
            Platform.parse(item)
        except ValueError as e:
            raise KoError(f"{where}: {e}") from None
    return items


# ---------------------------------------------------------------------------------------------
# KO_* environment overrides


def apply_env_overrides(config: KoConfig, environ: Mapping[str, str]) -> KoConfig:
    """Apply viper's `AutomaticEnv`: `KO_<UPPERCASE KEY>` wins over the `.ko.yaml` key.

    As in viper, an empty variable counts as unset; values are split on whitespace (a
    whitespace-only value therefore yields nothing and hides the file's value, as in ko),
    and a single platform item is re-split on commas.
    """
    changes: dict[str, Any] = {}
    image = environ.get("KO_DEFAULTBASEIMAGE", "")
    if image:
        changes["default_base_image"] = _checked_reference(image, "KO_DEFAULTBASEIMAGE")
    platforms = environ.get("KO_DEFAULTPLATFORMS", "")
    if platforms:
        changes["default_platforms"] = _checked_platforms(tuple(platforms.split()), "KO_DEFAULTPLATFORMS")
    env = environ.get("KO_DEFAULTENV", "")
    if env:
        items = tuple(env.split())
        _check_env(items, "KO_DEFAULTENV")
        changes["default_env"] = items or None
    flags = environ.get("KO_DEFAULTFLAGS", "")
    if flags:
        changes["default_flags"] = tuple(flags.split()) or None
    ldflags = environ.get("KO_DEFAULTLDFLAGS", "")
    if ldflags:
        changes["default_ldflags"] = tuple(ldflags.split()) or None
    return replace(config, **changes) if changes else config


# ---------------------------------------------------------------------------------------------
# Per-image settings


def matching_build(config: KoConfig, package_dir: str) -> BuildConfig | None:
    """The `builds[]` entry whose dir + main is `package_dir` (repo-relative); the last wins.

    ko keys entries by the import path `go list` gives for `dir` + `./<main>`; two entries for
    one package overwrite each other in that map, so the later one is used.
    """
    wanted = posixpath.normpath(package_dir.strip("/") or ".")
    found = None
    for entry in config.builds:
        if entry.package_dir == wanted:
            found = entry
    return found


def check_build_dirs(config: KoConfig, is_dir: Callable[[str], bool]) -> None:
    """ko's load-time check that every entry's package folder exists (ko issue 483).

    `is_dir(repo_relative_path)` answers from the repository (e.g. a Pants snapshot's dirs).
    """
    for index, entry in enumerate(config.builds):
        if not is_dir(entry.package_dir):
            raise KoError(
                f"{config.path}:{entry.line}: builds[{index}] ({entry.id}) points at {entry.package_dir!r}, "
                f"which is not a folder of the repository; fix its dir and main (relative to the repository root)"
            )


def build_settings_for(config: KoConfig, import_path: str, package_dir: str) -> BuildSettings:
    """What `config` (already passed through `apply_env_overrides`) says for one image.

    `package_dir` is the repository-relative directory of the main package (ko's working
    directory is the repository root, see the module docstring).
    """
    entry = matching_build(config, package_dir)
    base = config.base_image_override(import_path) or config.default_base_image
    if entry is None:
        return BuildSettings(
            base_image=base,
            env=config.default_env,
            flags=config.default_flags,
            ldflags=config.default_ldflags,
            dir=None,
            platforms=config.default_platforms,
            linux_capabilities=(),
            build_id=None,
        )
    # builds[].X replaces defaultX when non-empty (ko's configForImportPath / buildEnv).
    return BuildSettings(
        base_image=base,
        env=entry.env if entry.env else config.default_env,
        flags=entry.flags if entry.flags else config.default_flags,
        ldflags=entry.ldflags if entry.ldflags else config.default_ldflags,
        dir=entry.dir,
        platforms=config.default_platforms,
        linux_capabilities=entry.linux_capabilities,
        build_id=entry.id,
    )
