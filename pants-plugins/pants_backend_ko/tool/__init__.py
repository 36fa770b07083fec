"""The backend's one tool: ``python -m pants_backend_ko.tool <verb>`` (see `tool/main.py`).

Every process the Pants rules run with our own code is a verb of this tool: pushing a plan
(`pants publish`), pushing then `kubectl` (`pants run`/`experimental-deploy` of
`ko_manifests`), the read-only registry check, fetching a base image. Requests and answers are
the typed messages of `tool/messages.py`; a failure is one `error: ...` line.

Pure Python (the standard library and `requests`): no Pants, no PyYAML. What it imports is
what `util_rules/tool.py` ships into sandboxes (`pants_backend_ko/{__init__,codec,errors}.py`,
`golang/`, `oci/`, `tool/`); `tool/shipped_test.py` runs that tree alone to keep it so.
"""
