"""The pure OCI image core: ko's layers and image model, OCI layouts and docker tarballs.

No Pants imports, only the standard library. Modules:
  platform  `Platform`: parse `os/arch[/variant]`, Go build variables, ko's matching rule
  layers    ko's app and kodata layer tars (byte for byte as Go's archive/tar), gzip
  model     go-containerregistry's config/manifest/index structs, `Descriptor`, `BaseImage`
  image     `build_image` / `build_index`: ko's image and index from a base, binaries, kodata
  layout    OCI image layout files, `docker load` tarballs, reading a layout back
"""
