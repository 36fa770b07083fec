"""pants-backend-ko: ko's model (Go main package -> OCI image, `ko://` YAML) as a Pants backend.

Layout:
  golang/      Go behaviour ko depends on (JSON, time, path, strconv, text/template), tested against Go
  oci/         the pure OCI core: layers, image model, layout and tarball I/O (no Pants imports)
  oci/remote/  the registry client: references, credentials, auth, pull and push (no Pants imports)
  k8s/         `ko://` resolution in Kubernetes YAML and label selectors (no Pants imports)
  sign/        cosign-compatible signatures and SLSA provenance of pushed images (no Pants imports)
  target_types.py, subsystems.py, goals/, util_rules/: the Pants shell that connects targets to the core
"""

VERSION = "0.1.0"  # keep equal to pants-plugins/BUILD's python_artifact version
