"""The backend's targets: `ko_image` (a Go main package as an OCI image), `ko_manifests`, and the
targets that own the Go code and files images are built from: `ko_go_package` (one folder of Go
sources), `ko_go_module` (go.mod, go.sum, vendor/), `ko_go_work` (go.work) and `ko_kodata`.

They are this backend's own, not Pants' `go_mod`/`go_package` (`pants.backend.experimental.go`):
in Pants 2.17 those need Pants' Go analysis, which cannot run with Go >= 1.24 (README, "Go code
in the graph"). The aliases differ, so a repository may enable both backends.

Every field documents itself: `pants help ko_image` shows this text.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from pants.core.goals.package import OutputPathField
from pants.engine.target import (
    COMMON_TARGET_FIELDS,
    BoolField,
    Dependencies,
    DictStringToStringField,
    FieldSet,
    MultipleSourcesField,
    StringField,
    StringSequenceField,
    Target,
    TriBoolField,
)
from pants.util.strutil import softwrap

from pants_backend_ko.gosrc.source import GO_SOURCE_EXTENSIONS


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
        One platform gives an image, several give an OCI image index. `host` means this
        machine's platform (ko issue 946); `all` means every platform of the base image index,
        as in ko. Default: `[ko].default_platforms`.
        """
    )


class KoDataField(StringField):
    alias = "kodata"
    default = "kodata"
    help = softwrap(
        """
        The folder, relative to the main package, whose files go into the image at
        `/var/run/ko` (`$KO_DATA_PATH`), as ko's `kodata/`. The layer is always present,
        empty when the folder does not exist, exactly as ko writes it. Its files must be owned
        by a target (`ko_kodata`, which `pants tailor` writes): the image depends on those.
        It must be inside the folder of the main package or of the BUILD file (`.` is that
        folder itself); a folder elsewhere is refused.
        """
    )


def _within(path: str, folder: str) -> bool:
    return folder == "" or path == folder or path.startswith(folder + "/")


def kodata_folder(spec_path: str, main_dir: str, kodata: str | None) -> str | None:
    """The repository folder of a `ko_image`'s kodata (`""` for the root), or None when it is
    outside both the main package's folder and the BUILD file's folder (refused by the build)."""
    folder = posixpath.normpath(posixpath.join(main_dir, kodata or "kodata"))
    folder = "" if folder == "." else folder
    if folder.startswith("../") or folder == "..":
        return None
    return folder if _within(folder, main_dir) or _within(folder, spec_path) else None


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


class KoPortsField(StringSequenceField):
    alias = "ports"
    help = softwrap(
        """
        Ports the image exposes: the config's `ExposedPorts` (ko issue 472), added to the base
        image's, as a Dockerfile's `EXPOSE`: `<port>[/<protocol>]` with protocol `tcp` (the
        default), `udp` or `sctp`, or a range `<first>-<last>[/<protocol>]`, e.g.
        `["8080", "8443/tcp", "53/udp"]`. `docker run -P` publishes them; Kubernetes ignores
        them (list `containerPort`s in the pod spec).
        """
    )


class KoVolumesField(StringSequenceField):
    alias = "volumes"
    help = softwrap(
        """
        Volumes the image declares: the config's `Volumes` (ko issue 472), added to the base
        image's, as a Dockerfile's `VOLUME`: absolute paths in the image, e.g. `["/data"]`.
        `docker run` mounts an anonymous volume there unless one is given.
        """
    )


_TEMPLATES_HELP = """
        Placeholders: `{name}` (the target's name), `{directory}` (the BUILD file's folder),
        `{parent_directory}` (the folder above it), `{import_path}` (the main package's import
        path), `{git.short_commit}`, `{git.full_commit}`, `{git.tag}` (`v0.0.0` without a tag, as
        ko), `{git.branch}`, `{git.commit_timestamp}`, `{git.tree_state}`, `{pants.hash}` (a
        SHA-256 of the image's inputs: its files, settings, base image digest and Go version)
        and `{env.NAME}`; ko's Go templates work too (`{{.Git.ShortCommit}}`, `{{.Env.NAME}}`,
        `{{.Date}}`). An unknown placeholder is an error.
"""


class KoRepositoryField(StringField):
    alias = "repository"
    help = softwrap(
        f"""
        Where to push this image. With a registry in it (`ghcr.io/acme/api`, `localhost:5000/app`)
        it is the whole name, instead of the one derived from `KO_DOCKER_REPO`/`[ko].docker_repo`
        and `[ko].naming`. Without one (`acme/{{name}}`) it is the repository under each
        registry the image goes to (`registries`, `KO_DOCKER_REPO`, `[ko].registries`,
        `[ko].docker_repo`); a registry's own `repository` option wins over it there. Lower-cased,
        as Pants' `docker_image` does.

        A repository under `ko.local` (ko's local domain, e.g. `ko.local/api`) loads the image
        into the Docker daemon at `DOCKER_HOST` instead of pushing it; `ko.local` alone names it
        by `[ko].naming`, as `KO_DOCKER_REPO=ko.local` does.

        {_TEMPLATES_HELP}
        """
    )


class KoTagsField(StringSequenceField):
    alias = "tags"
    help = softwrap(
        f"""
        Tags to push (Pants' `docker_image` calls them `image_tags`). Default:
        `[ko].default_tags` (`latest`). A registry's `extra_image_tags` are added there.

        {_TEMPLATES_HELP}
        """
    )


class KoRegistriesField(StringSequenceField):
    alias = "registries"
    help = softwrap(
        """
        The registries to publish this image to, as Pants' `docker_image`: `@alias`es of
        `[ko].registries`, addresses written out (`ghcr.io/acme`), or `<all default registries>`.
        Default: every registry of `[ko].registries` with `default = true`, unless `KO_DOCKER_REPO`
        is set (then that). The image has the same digest in each. An unknown alias is an error.
        """
    )


class KoSkipPushField(BoolField):
    alias = "skip_push"
    default = False
    help = "If true, `pants publish` does not push this image (it says so), as Pants' `docker_image`."


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


class KoBinariesField(StringSequenceField):
    alias = "binaries"
    help = softwrap(
        """
        More Go `package main` folders (relative to this BUILD file) built into the same image,
        each at `/ko-app/<last element of its import path>` (ko issue 251). The entrypoint stays
        the `main` package's binary; all binaries share `/ko-app` on `PATH`.
        """
    )


class KoCgoField(BoolField):
    alias = "cgo"
    default = False
    help = softwrap(
        """
        Build with `CGO_ENABLED=1` (ko builds with cgo off; ko issue 52). The binary then links
        against the C library, so pick a `base_image` that carries one (e.g. a glibc base), and
        a C compiler for the target platform must be on the search path: `gcc` for the host's
        architecture, or set `CC` through `[ko].go_env` for cross builds.
        """
    )


class KoLinuxCapabilitiesField(StringSequenceField):
    alias = "linux_capabilities"
    help = softwrap(
        """
        Linux file capabilities of the image's binary (ko's `builds[].linux_capabilities`),
        written as ko writes them: the `security.capability` extended attribute of
        `/ko-app/<name>` in the app layer, so the layer's digest is ko's. Each entry is a
        capability as Docker's `--cap-add` names it (`net_bind_service`, `CAP_NET_BIND_SERVICE`,
        `all`) or its number (0-63), added to the permitted set; or a `cap_from_text(3)` clause
        such as `cap_net_bind_service+ep` (`+`, `-`, `=` on the `p`ermitted, `i`nheritable and
        `e`ffective sets). Only the main binary gets them (not `binaries`), and only on Linux
        platforms. Default: the matching `.ko.yaml` `builds[]` entry's `linux_capabilities`;
        `linux_capabilities=[]` sets none.
        """
    )


class KoDebugField(TriBoolField):
    alias = "debug"
    help = softwrap(
        """
        Build a debug image (ko's `--debug`): the binary built with `-gcflags=all=-N -l`, Delve
        at `/ko-app/dlv` (linux/amd64 and linux/arm64), the entrypoint `dlv exec
        --listen=:40000 --headless --log --accept-multiclient --api-version=2 -- /ko-app/<name>`;
        tags get a `-debug` suffix. Default: `[ko].debug` (`pants --ko-debug publish ...`).
        """
    )


class KoImageDependenciesField(Dependencies):
    supports_transitive_excludes = True
    help = softwrap(
        """
        Other targets this image depends on. Inferred: the `ko_go_package` of `main` and of each
        of `binaries` (which depend on the packages they import, and so on), the targets owning
        the files of `kodata`, the `ko_go_module` and, in a workspace, the `ko_go_work`. Exclude
        an inferred one with `!`, or one anywhere below with `!!` (the build then fails, naming
        the file, if Go needs it).
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
        KoPortsField,
        KoVolumesField,
        KoRepositoryField,
        KoRegistriesField,
        KoTagsField,
        KoSkipPushField,
        KoLdflagsField,
        KoFlagsField,
        KoBinariesField,
        KoCgoField,
        KoLinuxCapabilitiesField,
        KoDebugField,
        KoImageOutputPathField,
    )
    help = softwrap(
        """
        A Go `package main` built into an OCI image as ko builds it: the binary at
        `/ko-app/<name>` and the `kodata/` folder at `/var/run/ko`, on a base image, for one or
        more platforms, without a Docker daemon. `pants package` writes it to `dist/`,
        `pants publish` pushes it (or, with `KO_DOCKER_REPO=ko.local`, loads it into the Docker
        daemon, as ko's `--local`); `ko://<import path>` in a `ko_manifests` target refers to it.
        """
    )


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
    ports: KoPortsField
    volumes: KoVolumesField
    repository: KoRepositoryField
    registries: KoRegistriesField
    tags: KoTagsField
    skip_push: KoSkipPushField
    ldflags: KoLdflagsField
    flags: KoFlagsField
    binaries: KoBinariesField
    cgo: KoCgoField
    linux_capabilities: KoLinuxCapabilitiesField
    debug: KoDebugField
    output_path: KoImageOutputPathField


# ---------------------------------------------------------------------------------------------
# ko_manifests


class KoManifestsSourcesField(MultipleSourcesField):
    default = ("*.yaml", "*.yml", "*.json")
    expected_file_extensions = (".yaml", ".yml", ".json")
    help = softwrap(
        """
        Kubernetes YAML or JSON files (multi-document allowed). Every string that starts with
        `ko://<import path>` (mapping keys included, as in ko) is replaced by
        `<repository>@sha256:<digest>` of the `ko_image` with that import path; every other byte
        stays as written. Documents keep their order: files in the order listed, globs sorted.
        """
    )


class KoManifestsDependenciesField(Dependencies):
    help = softwrap(
        """
        Targets these manifests depend on. The `ko_image` targets named by `ko://` strings are
        inferred; list others (or the same ones) here if you like.
        """
    )


class KoSelectorField(StringField):
    alias = "selector"
    help = softwrap(
        """
        A Kubernetes label selector (`app=web,tier!=db`, `env in (a,b)`, `!canary`, ...) that
        keeps only the documents whose `metadata.labels` match, `kind: List` items included,
        as ko's `--selector`. Selection happens before resolution: only surviving documents'
        images are built.
        """
    )


class KoKubectlVerbField(StringField):
    alias = "verb"
    default = "apply"
    valid_choices = ("apply", "create", "delete", "replace")
    help = softwrap(
        """
        What `pants run` does with the rendered YAML, as ko's commands: `apply` (ko apply),
        `create` (ko create), `replace`, or `delete` (ko delete; nothing is built or pushed).
        Declare one target per verb over the same files, e.g. `:apply` and `:delete`.
        """
    )


class KoKubectlArgsField(StringSequenceField):
    alias = "kubectl_args"
    help = softwrap(
        """
        Arguments always passed to `kubectl` (e.g. `["--context=dev", "-n", "demo"]`); arguments
        after `--` on the `pants run` command line are added after them.
        """
    )


class KoManifestsOutputPathField(OutputPathField):
    help = softwrap(
        """
        Where `pants package` writes the rendered YAML under `dist/`: `<path>.yaml` with every
        document, and `<path>/<file>` for each source file.
        """
    )


class KoManifestsTarget(Target):
    alias = "ko_manifests"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        KoManifestsSourcesField,
        KoManifestsDependenciesField,
        KoSelectorField,
        KoKubectlVerbField,
        KoKubectlArgsField,
        KoManifestsOutputPathField,
    )
    help = softwrap(
        """
        Kubernetes YAML that refers to `ko_image` targets with `ko://<import path>`, as ko's
        `resolve`/`apply`. `pants package` renders it with image digests (no push, no network);
        `pants run` publishes the images the registry lacks and runs `kubectl <verb> -f -`;
        `pants --loop run` re-applies on every change (ko's `apply --watch`).
        """
    )


@dataclass(frozen=True)
class KoManifestsFieldSet(FieldSet):
    required_fields = (KoManifestsSourcesField,)

    sources: KoManifestsSourcesField
    dependencies: KoManifestsDependenciesField
    selector: KoSelectorField
    verb: KoKubectlVerbField
    kubectl_args: KoKubectlArgsField
    output_path: KoManifestsOutputPathField


# ---------------------------------------------------------------------------------------------
# The Go code and files an image is built from


class KoGoPackageSourcesField(MultipleSourcesField):
    default = tuple(f"*{ext}" for ext in GO_SOURCE_EXTENSIONS)
    help = softwrap(
        """
        The files of one Go package, all in one folder: its `.go` files (tests included), the
        assembly, C and other files cgo compiles, `.syso` objects, and the files its `//go:embed`
        lines name, e.g. `sources=["*.go", "static/**"]` (or own those by another target: the
        package then depends on it). Default: the Go source files of the BUILD file's folder.
        """
    )


class KoGoPackageDependenciesField(Dependencies):
    help = softwrap(
        """
        Inferred from the files: the `ko_go_package` of every package of the repository it
        imports (resolved as Go does, through its module, local `replace`s and go.work), the
        targets owning its `//go:embed` files, and its `ko_go_module`.
        """
    )


class KoGoPackageTarget(Target):
    alias = "ko_go_package"
    core_fields = (*COMMON_TARGET_FIELDS, KoGoPackageDependenciesField, KoGoPackageSourcesField)
    help = softwrap(
        """
        One Go package (one folder) of a module: `ko_image` builds depend on the packages their
        main package imports, so `--changed-since`, `dependents` and `filedeps` follow Go's
        imports. `pants tailor` writes one per folder with Go files.
        """
    )


class KoGoModuleSourcesField(MultipleSourcesField):
    default = ("go.mod", "go.sum", "vendor/**")
    help = softwrap(
        """
        The module's files: `go.mod`, `go.sum` and, when the module vendors, `vendor/` (the
        third-party code builds read). A change to any of them changes every image of the module.
        """
    )


class KoGoModuleDependenciesField(Dependencies):
    help = "Inferred: the `ko_go_module` of every folder a `replace` directive points at."


class KoGoModuleTarget(Target):
    alias = "ko_go_module"
    core_fields = (*COMMON_TARGET_FIELDS, KoGoModuleDependenciesField, KoGoModuleSourcesField)
    help = softwrap(
        """
        A Go module: its go.mod, go.sum and vendor/ folder. Every `ko_go_package` of the module
        depends on it; a `replace` to a folder of the repository makes it depend on that module.
        """
    )


class KoGoWorkSourcesField(MultipleSourcesField):
    default = ("go.work", "go.work.sum")
    help = "The workspace file `go.work` and its `go.work.sum`."


class KoGoWorkDependenciesField(Dependencies):
    help = "Inferred: the `ko_go_module` of every folder its `use` and `replace` directives name."


class KoGoWorkTarget(Target):
    alias = "ko_go_work"
    core_fields = (*COMMON_TARGET_FIELDS, KoGoWorkDependenciesField, KoGoWorkSourcesField)
    help = softwrap(
        """
        A Go workspace (`go.work`): the modules it uses are built together, so every image of
        those modules depends on it, and through it on every module of the workspace.
        """
    )


class KoKodataSourcesField(MultipleSourcesField):
    default = ("kodata/**",)
    help = softwrap(
        """
        The files a `ko_image` copies to `/var/run/ko`: its `kodata` folder (relative to its main
        package). Any target may own them; this one exists so that `pants tailor` can write it.
        """
    )


class KoKodataTarget(Target):
    alias = "ko_kodata"
    core_fields = (*COMMON_TARGET_FIELDS, KoKodataSourcesField)
    help = softwrap(
        """
        The `kodata/` files of a `ko_image` (ko copies them to `/var/run/ko`). The image depends on
        the targets owning the files under its `kodata` folder; a file no target owns is an error.
        """
    )


def target_types():
    return [KoImageTarget, KoManifestsTarget, KoGoPackageTarget, KoGoModuleTarget, KoGoWorkTarget, KoKodataTarget]
