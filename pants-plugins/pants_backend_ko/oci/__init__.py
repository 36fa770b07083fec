"""The pure OCI image core: ko's layers and image model, OCI layouts and docker tarballs.

No Pants imports; the standard library and `pants_backend_ko.golang` (Go's behaviour). Modules:
  platform    `Platform`: parse `os/arch[/variant]`, Go build variables, ko's matching rule
  mediatypes  the media types of manifests, indexes, configs and layers (ggcr's `types`)
  digest      `sha256:<hex>` digests (ggcr's `hash.go`)
  manifest    ggcr's `Descriptor`, `Manifest`, `IndexManifest` (ggcr's `manifest.go`)
  configfile  ggcr's `ConfigFile` and its parts (ggcr's `config.go`)
  base        `BaseImage`, the base as `build_image` needs it
  layers      ko's app and kodata layer tars (byte for byte as Go's archive/tar), gzip
  image       `build_image` / `build_index`: ko's image and index from a base, binaries, kodata
  layout      OCI image layout files, `docker load` tarballs, reading a layout back
  sbom        SPDX SBOMs of images and indexes, as ko writes them
"""
