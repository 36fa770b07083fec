"""ko's `.ko.yaml` configuration and its flags/ldflags templates, as pure Python (no Pants).

* `config`: find and strictly load `.ko.yaml`, apply `KO_*` overrides, per-image settings,
  and `effective_value`, the one precedence rule (BUILD field > `.ko.yaml` > `[ko]` > default).
* `templates`: ko's Go `text/template` subset for `flags`/`ldflags`, and `template_needs`.
* `gitinfo`: ko's `.Git` template data, from the `git` command line.
"""
