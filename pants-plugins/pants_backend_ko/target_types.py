"""The backend's targets: `ko_image` (a Go main package as an OCI image) and `ko_manifests`.

Every field documents itself: `pants help ko_image` shows this text.
"""

from __future__ import annotations

from dataclasses import dataclass

from pants.core.goals.package import OutputPathField
from pants.engine.target import (
    COMMON_TARGET_FIELDS,
    Dependencies,
    FieldSet,
    DictStringToStringField,
    StringField,
    StringSequenceField,
    Target,
)
from pants.util.strutil import softwrap


class KoMainField(StringField):
    alias = "main"
    default = "."
    help = softwrap(
        """
        The Go `package main` to build, as a directory relative to this BUILD file's folder
        (default: the BUILD file's own folder). Its import path comes from the enclosing `go.mod`.
        """
    )


class KoBaseImageField(StringField):
    alias = "base_image"
    help = softwrap(
        """
        The base image: an image reference (`cgr.dev/chainguard/static:latest`,
        `alpine@sha256:...`; Docker Hub short names are normalised), `scratch` for an empty
        base, or a path (starting with `./` or `//`) to an OCI image layout folder in the
        repository. Default: `[ko].default_base_image`.
        """
    )


class KoPlatformsField(StringSequenceField):
    alias = "platforms"
    help = softwrap(
        """
        Platforms to build, as `os/arch[/variant]` (e.g. `["linux/amd64", "linux/arm64"]`).
        One platform gives an image, several give an OCI image index.
        Default: `[ko].default_platforms`.
        """
    )


class KoDataField(StringField):
    alias = "kodata"
    default = "kodata"
    help = softwrap(
        """
        The folder, relative to the main package, whose files go into the image at
        `/var/run/ko` (`$KO_DATA_PATH`), as ko's `kodata/`. The layer is always present,
        empty when the folder does not exist, exactly as ko writes it.
        """
    )


class KoEnvField(DictStringToStringField):
    alias = "env"
    help = "Environment variables set in the image config, after `PATH` and `KO_DATA_PATH`."


class KoLabelsField(DictStringToStringField):
    alias = "labels"
    help = "Labels added to the image config (ko's `--image-label`)."


class KoAnnotationsField(DictStringToStringField):
    alias = "annotations"
    help = "Annotations added to every image manifest and to the index (ko's `--image-annotation`)."


class KoUserField(StringField):
    alias = "user"
    help = "The config `User` (ko's `--image-user`), e.g. `65532:65532`. Default: the base image's."


class KoEntrypointField(StringSequenceField):
    alias = "entrypoint"
    help = softwrap(
        """
        Overrides the entrypoint. Default: `["/ko-app/<name>"]` as ko, where `<name>` is the last
        element of the import path.
        """
    )


class KoArgsField(StringSequenceField):
    alias = "args"
    help = "The config `Cmd`: arguments passed to the entrypoint. Default: none (ko clears `Cmd`)."


class KoWorkdirField(StringField):
    alias = "workdir"
    help = "The config `WorkingDir`. Default: the base image's."


class KoRepositoryField(StringField):
    alias = "repository"
    help = softwrap(
        """
        The full repository to push this image to (e.g. `ghcr.io/acme/api`), instead of the
        name derived from `KO_DOCKER_REPO`/`[ko].docker_repo` and `[ko].naming`.
        """
    )


class KoTagsField(StringSequenceField):
    alias = "tags"
    help = "Tags to push. Default: `[ko].default_tags` (`latest`)."


class KoLdflagsField(StringSequenceField):
    alias = "ldflags"
    help = "Linker flags, joined with spaces into one `-ldflags=` (ko's `builds[].ldflags`)."


class KoFlagsField(StringSequenceField):
    alias = "flags"
    help = softwrap(
        """
        Extra `go build` flags (ko's `builds[].flags`), e.g. `["-tags=netgo"]`. `-toolexec` is
        refused, as in ko.
        """
    )


class KoImageDependenciesField(Dependencies):
    help = softwrap(
        """
        Other targets this image depends on. Go sources need not be listed: the backend reads
        the main package's imports with `go list`.
        """
    )


class KoImageOutputPathField(OutputPathField):
    help = softwrap(
        """
        Where `pants package` writes the image under `dist/`: an OCI image layout folder at this
        path, and beside it `<path>.tar` (a `docker load`-able archive) and
        `<path>.ko-image.json` (digest and references).
        """
    )


class KoImageTarget(Target):
    alias = "ko_image"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        KoImageDependenciesField,
        KoMainField,
        KoBaseImageField,
        KoPlatformsField,
        KoDataField,
        KoEnvField,
        KoLabelsField,
        KoAnnotationsField,
        KoUserField,
        KoEntrypointField,
        KoArgsField,
        KoWorkdirField,
        KoRepositoryField,
        KoTagsField,
        KoLdflagsField,
        KoFlagsField,
        KoImageOutputPathField,
    )
    help = softwrap(
        """
        A Go `package main` built into an OCI image as ko builds it: the binary at
        `/ko-app/<name>` and the `kodata/` folder at `/var/run/ko`, on a base image, for one or
        more platforms, without a Docker daemon. `pants package` writes it to `dist/`,
        `pants publish` pushes it; `ko://<import path>` in a `ko_manifests` target refers to it.
        """
    )


def target_types():
    return [KoImageTarget]


@dataclass(frozen=True)
class KoImageFieldSet(FieldSet):
    """The fields of a `ko_image` that building it reads; shared by package, publish and run."""

    required_fields = (KoMainField,)

    main: KoMainField
    base_image: KoBaseImageField
    platforms: KoPlatformsField
    kodata: KoDataField
    env: KoEnvField
    labels: KoLabelsField
    annotations: KoAnnotationsField
    user: KoUserField
    entrypoint: KoEntrypointField
    args: KoArgsField
    workdir: KoWorkdirField
    repository: KoRepositoryField
    tags: KoTagsField
    ldflags: KoLdflagsField
    flags: KoFlagsField
    output_path: KoImageOutputPathField
