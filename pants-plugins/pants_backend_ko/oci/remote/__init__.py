"""The registry client: pure Python (``requests`` + stdlib), no Pants imports.

* :mod:`.credentials` -- ``Keychain(environ).resolve(registry) -> Credential``
* :mod:`.transport` -- ``RegistryClient(registry, keychain=..., insecure_registries=..., ca_bundle=...)``,
  ``ClientPool``
* :mod:`.pull` -- ``get_manifest``, ``manifest_digest_at`` (a ``HEAD``), ``resolve_base``,
  ``resolve_base_from_layout``, ``fetch_blob``, ``ContentCache``
* :mod:`.push` -- ``push_layout(layout_dir, repository, tags, client=...) -> PushResult``;
  ``push_blob_bytes``, ``put_manifest_bytes`` for small writes
* :mod:`.attach` -- ``attach_sbom`` (ko's ``.sbom`` tag and an OCI 1.1 referrer), ``sbom_missing``
* :mod:`.artifacts` -- ``ArtifactStore``: blobs, tagged manifests and OCI 1.1 referrers of one
  repository (what the SBOM attachments and the signatures are written with), ``list_referrers``
* :mod:`.status` -- ``registry_state(queries, sbom=...)``: what a registry has, read-only
* :mod:`.state` -- ``RegistryState``, the check's answer (plain data with its JSON codec)
* :mod:`.errors` -- ``RegistryError`` (one line, never a secret)
* :mod:`.limits` -- ``TransportLimits`` (a typed message: ``[ko].registry_timeout``/``registry_min_speed``),
  the bounded reads and the watchdog every exchange goes through

Its command line is the backend's tool, ``python -m pants_backend_ko.tool`` (``tool/main.py``).
"""
