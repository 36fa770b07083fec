"""`ko://` resolution in Kubernetes YAML and label selectors (pure Python, no Pants imports).

- `scan`: one streaming pass over a file's YAML events (libyaml): its `ko://` scalars,
  documents, and the reduced node trees a label selector reads.
- `resolve`: find `ko://<import path>` scalars and splice in `repo@sha256:…` references,
  keeping every other byte of the file.
- `selector`: Kubernetes label-selector parsing and matching (apimachinery `labels.Parse`).
- `documents`: ko's `-l` document selection (byte-preserving) and `render_file`.
"""

from pants_backend_ko.k8s.documents import render_file, select_documents
from pants_backend_ko.k8s.resolve import (
    KoReference,
    find_references,
    resolve_text,
    unique_import_paths,
)
from pants_backend_ko.k8s.scan import ManifestError
from pants_backend_ko.k8s.selector import Requirement, Selector, parse_selector

__all__ = [
    "KoReference",
    "ManifestError",
    "Requirement",
    "Selector",
    "find_references",
    "parse_selector",
    "render_file",
    "resolve_text",
    "select_documents",
    "unique_import_paths",
]
