"""ko's `.ko.yaml` configuration and its flags/ldflags templates, as pure Python (no Pants).

* `config`: find and strictly load `.ko.yaml`, apply `KO_*` overrides, per-image settings,
  and `effective_value`, the one precedence rule (BUILD field > `.ko.yaml` with `KO_*` >
  `[ko]` option > built-in default).
* `templates`: ko's template data for `flags`/`ldflags` (rendered by Go's `text/template`,
  `golang.gotemplate`), `template_needs` (which data families to compute) and
  `template_keys_used` (which environment variables to pass).
* `gitinfo`: ko's `.Git` template data, from the `git` command line.

How a build uses them, in order:

1. `paths = ko_config_candidate_paths(env)`; glob them at the repository root;
   `path = find_ko_config_path(hits, env)`; `config = load_ko_config(text, path)` (or
   `KoConfig(path="")` when `path` is None); `config = apply_env_overrides(config, env)`;
   optionally `check_build_dirs(config, is_dir)`. `env` needs only `KO_ENV_VARS`.
2. Per image: `ko = build_settings_for(config, import_path, package_dir)`, then for each
   setting `effective_value(<BUILD field or None>, ko.<setting>, <[ko] option or None>, default)`.
3. Per image and platform, with the effective `flags`/`ldflags`:
   `needs = template_needs(flags + ldflags)`; compute `go env` (`parse_go_env`) only if
   `GoEnv` is needed and git data only if `Git` is (`git_info(repo_root)`, or run
   `GIT_COMMANDS` as processes in the build root and call `git_info_from_results`); `SOURCE_DATE_EPOCH` (or now)
   only if `Date` is; `data = template_data(build_env, go_env, git.template_value(), epoch)`;
   `render_templates(flags, data, where)` and `render_templates(ldflags, data, where)`. Every
   computed input belongs in the build's cache key.
"""
