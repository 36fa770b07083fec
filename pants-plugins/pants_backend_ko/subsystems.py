"""The `[ko]` options: defaults for every `ko_image`, the Go toolchain, and where `go` runs."""

from __future__ import annotations

from enum import Enum
from typing import Any

from pants.core.util_rules.search_paths import ExecutableSearchPathsOptionMixin
from pants.engine.environment import LOCAL_ENVIRONMENT_MATCHER
from pants.engine.rules import collect_rules
from pants.option.option_types import (
    BoolOption,
    DictOption,
    EnumOption,
    FloatOption,
    IntOption,
    StrListOption,
    StrOption,
)
from pants.option.subsystem import Subsystem
from pants.util.strutil import softwrap

from pants_backend_ko.errors import KoError
from pants_backend_ko.koconfig.config import DEFAULT_BASE_IMAGE
from pants_backend_ko.oci.registries import Registries
from pants_backend_ko.oci.remote.limits import InvalidLimitsError, TransportLimits

DEFAULT_PLATFORM = "linux/amd64"  # ko's, whatever the host
DEFAULT_TAG = "latest"

# The releases `[ko].go_version` can name without configuration: `version|platform|sha256|size`
# of the `golang.org/toolchain` module zips, as the Go module proxy serves them (each checked by
# `go mod download` against the Go checksum database, sum.golang.org).
DEFAULT_GO_KNOWN_VERSIONS = (
    "1.26.8|linux_x86_64|30c2b1bf7dcc88d3eb0a1364e47ddd9128edb3110a30e8a0ef61cd5856b31de7|71680185",
    "1.26.8|linux_arm64|02b36b6787b3ac767668f630e2998df45a3b1f9ffee08d1bf3ef6487cd658d99|68581891",
    "1.26.8|macos_x86_64|fe99a2009e5bb51e06d7784f1a486478673512041c2671157bd382806e2aedcf|72726289",
    "1.26.8|macos_arm64|0aad5fb52b88498885290178adc0bcfe429bc63012621af9f83282eb640bd9c7|69567788",
)


class NamingMode(Enum):
    """ko's repository naming modes (ko's `pkg/commands/options/publish.go`, `MakeNamer`)."""

    MD5 = "md5"
    PRESERVE_IMPORT_PATHS = "preserve-import-paths"
    BASE_IMPORT_PATHS = "base-import-paths"
    BARE = "bare"


class KoSubsystem(Subsystem):
    options_scope = "ko"
    help = softwrap(
        """
        Options for building Go `package main` programs into OCI images the way ko does
        (https://ko.build), and for publishing and deploying them.
        """
    )

    default_base_image = StrOption(
        default=DEFAULT_BASE_IMAGE,
        help=softwrap(
            f"""
            The base image of every `ko_image` that sets no `base_image`, as in ko's
            `defaultBaseImage` (ko's default: `{DEFAULT_BASE_IMAGE}`). Any image reference
            (tag or digest), `scratch` for an empty base, or a path to an OCI image layout
            folder inside the repository.
            """
        ),
    )
    default_platforms = StrListOption(
        default=[],
        help=softwrap(
            f"""
            Platforms of every `ko_image` that sets no `platforms`, as `os/arch[/variant]`.
            Empty (the default) means ko's default, `{DEFAULT_PLATFORM}`, whatever the host; several
            platforms give an image index. `["host"]` builds for the machine running Pants (e.g.
            `linux/arm64` on Apple silicon Linux VMs); `["all"]` for every platform of the base image.
            A single string (`default_platforms = "linux/arm64"`) is that one platform: Pants adds a
            string to the option's default, which is empty for that reason.
            """
        ),
    )
    docker_repo = StrOption(
        default=None,
        help=softwrap(
            """
            The repository prefix that images are named under, as ko's `KO_DOCKER_REPO`
            (for example `ghcr.io/acme`). The environment variable `KO_DOCKER_REPO`, when set,
            wins over this option and over `[ko].registries`; a target's `registries`, or a
            `repository` that names a registry, wins over all of them. `ko.local` (or
            `ko.local/<prefix>`) loads images into the Docker daemon at `DOCKER_HOST` instead of
            pushing them, as ko's `--local`: named `ko.local/<name>:<digest hex>`, the
            `GOOS`/`GOARCH` platform (default linux/amd64) of a multi-platform image; a registry
            `address` under `ko.local` does the same.
            """
        ),
    )
    registries = DictOption[Any](
        default={},
        help=softwrap(
            """
            Registries images are published to, by alias, as Pants' `[docker].registries`:

                [ko.registries.prod]
                address = "ghcr.io/acme"   # host[:port], optionally with a path prefix
                default = true             # used by every ko_image without `registries`
                extra_image_tags = ["stable"]  # more tags there (`extra_tags` works too)
                skip_push = false          # true: `publish` skips this registry, saying so
                repository = "{name}"        # the repository under `address` (a template)

            A `ko_image` picks them with `registries=["@prod", "@staging"]`; without that field
            it goes to every registry with `default = true` (the alias `default` is one by
            default), unless `KO_DOCKER_REPO` is set. In each registry the repository is the
            registry's `repository`, else the target's `repository`, else ko's name for the
            import path (`[ko].naming`) under `address`. An image published to several registries
            has the same digest in each; each blob is uploaded once per registry (mounted within
            one). See the README, "Registries, tags and signing".
            """
        ),
    )
    naming = EnumOption(
        default=NamingMode.MD5,
        help=softwrap(
            """
            How an import path becomes a repository name under the repository prefix, as ko's
            flags: `md5` (ko's default, `<prefix>/<last element>-<md5 of import path>`),
            `preserve-import-paths` (`-P`: `<prefix>/<import path>`), `base-import-paths`
            (`-B`: `<prefix>/<last element>`) or `bare` (`--bare`: `<prefix>`).
            """
        ),
    )
    default_tags = StrListOption(
        default=[],
        help=softwrap(
            f"""
            Tags pushed for every `ko_image` that sets no `tags` (ko's `--tags`). Empty (the default)
            means `{DEFAULT_TAG}`; a single string (`default_tags = "stable"`) is that one tag.
            Templates work as in the `tags` field (`{{git.short_commit}}`, `{{{{.Git.Tag}}}}`, ...).
            """
        ),
    )
    tag_only = BoolOption(
        default=False,
        help=softwrap(
            """
            ko's `--tag-only`: references name the tag alone (`repo:v1.2.0`, no digest) in
            rendered `ko_manifests` and in what `publish` and `run` print. Each image then needs
            exactly one tag, not `latest`, as in ko; and since nothing pins the digest, a push that
            would move an existing tag to another digest is refused (nothing of that run is pushed):
            publish a changed image under a new tag.
            """
        ),
    )
    insecure_registries = StrListOption(
        default=[],
        help=softwrap(
            """
            Registries (`host[:port]`) spoken to over plain HTTP or without TLS verification.
            Loopback registries (`localhost`, `127.0.0.0/8`, `::1`) are always allowed plain HTTP.
            """
        ),
    )
    go_build_flags = StrListOption(
        default=[],
        help=softwrap(
            """
            `go build` flags of every image whose BUILD `flags` and `.ko.yaml` say nothing
            (ko's `defaultFlags`; precedence: BUILD field > `.ko.yaml` > this option).
            """
        ),
    )
    go_env = DictOption[str](
        default={},
        help=softwrap(
            """
            Extra environment variables for every `go` command (ko's `defaultEnv`), e.g.
            `{"GOEXPERIMENT": "loopvar", "CC": "aarch64-linux-gnu-gcc"}`. They are part of the
            build's cache key.
            """
        ),
    )
    go_version = StrOption(
        default=None,
        help=softwrap(
            """
            The Go release every `go` command runs with (e.g. `1.26.8`): the `golang.org/toolchain`
            module of that release for the platform the commands run on, downloaded once from the
            Go module proxy (the first proxy in `GOPROXY`, from `[ko].go_env` or your environment;
            default `https://proxy.golang.org`; a `file://` folder works for air-gapped machines)
            and checked against `[ko].go_known_versions`. The same toolchain reaches remote
            execution workers, which need no Go installed. Unset: the `go` found on
            `[ko].executable_search_paths`. Either way `go version` is part of every build's
            cache key. A module's go.mod `toolchain` line does not choose the toolchain (builds run
            with `GOTOOLCHAIN=local`, so they never download one behind this table's back); its
            `go` line is still a minimum that `go` enforces.
            """
        ),
    )
    go_known_versions = StrListOption(
        default=list(DEFAULT_GO_KNOWN_VERSIONS),
        help=softwrap(
            f"""
            The Go toolchains `[ko].go_version` may name, one per release and platform, as
            `version|platform|sha256|size` (platform: linux_x86_64, linux_arm64, macos_x86_64,
            macos_arm64; sha256 and size of the module zip, e.g. `sha256sum` and `wc -c` of
            `<proxy>/golang.org/toolchain/@v/v0.0.1-go<version>.linux-amd64.zip`). Add releases
            with `go_known_versions.add = [...]` in pants.toml. Shipped: go1.26.8 for
            {", ".join(sorted({v.split("|")[1] for v in DEFAULT_GO_KNOWN_VERSIONS}))}.
            """
        ),
        advanced=True,
    )
    build_environment = StrOption(
        default=LOCAL_ENVIRONMENT_MATCHER,
        help=softwrap(
            f"""
            The Pants environment (a name from `[environments-preview].names`) in which every `go`
            command runs: `go list`, the compiles and `go build`. Name a `remote_environment` to
            build on a remote execution cluster (with `fallback_environment` set, `--no-remote-execution`
            builds locally again). Everything else stays on this machine: your environment
            variables (`KO_DOCKER_REPO`, `.ko.yaml` templates), base image fetches and registry
            checks, which read your registry credentials, and every push and apply. Default
            `{LOCAL_ENVIRONMENT_MATCHER}`: the local environment.
            """
        ),
        advanced=True,
    )
    registry_timeout = FloatOption(
        default=TransportLimits().timeout,
        help=softwrap(
            """
            Seconds a registry (or its token server, or the storage it redirects downloads to) may
            leave an exchange without progress before it fails: connecting, answering a request,
            accepting an upload or sending an answer. The error says which (`connected, but no
            answer within 60 s`, `the answer stopped: no data for 60 s`). Applies to base image
            downloads, the registry check of `publish`, and pushes.
            """
        ),
    )
    registry_min_speed = IntOption(
        default=TransportLimits().min_speed,
        help=softwrap(
            """
            The lowest average speed, in bytes per second over `[ko].registry_timeout` seconds, of
            an upload to or download from a registry; a slower transfer fails instead of taking
            hours (as curl's `--speed-limit`/`--speed-time`). `0` allows any speed (a transfer then
            only fails when no byte moves for `[ko].registry_timeout` seconds).
            """
        ),
    )
    publish_jobs = IntOption(
        default=4,
        help="How many blobs are uploaded to a registry at once.",
        advanced=True,
    )
    debug = BoolOption(
        default=False,
        help=softwrap(
            """
            Build debug images, as `ko build --debug`: each binary is built with
            `-gcflags=all=-N -l`, Delve (`github.com/go-delve/delve`, pinned; built with your Go
            for the image's platform) is added at `/ko-app/dlv`, and the entrypoint becomes
            `dlv exec --listen=:40000 --headless --log --accept-multiclient --api-version=2 --
            /ko-app/<name>`. linux/amd64 and linux/arm64 only (as ko); other platforms of an
            index are built as usual. Debug images are pushed to the same repository with every
            tag suffixed `-debug` (`latest-debug`), so they never replace the normal image's
            tags. A `ko_image`'s `debug` field overrides this.
            """
        ),
    )
    strip_vcs_info = BoolOption(
        default=True,
        help=softwrap(
            """
            Build with `-buildvcs=false`. Builds run in sandboxes without `.git`, so Go could not
            stamp VCS information anyway; saying so keeps results identical on every machine.
            """
        ),
        advanced=True,
    )

    shallow_base_images = BoolOption(
        default=False,
        help=softwrap(
            """
            Never download base image layers, as ko: builds read only the base's manifests and
            configs, `pants package` writes layouts that refer to the base layers without holding
            them (and no `.tar` when the base has layers), and `publish`/`run` mount the layers
            from the base repository or stream them from the base registry when the target
            registry lacks them. Off by default so that `dist/` holds complete, offline images;
            either way a base layer is downloaded at most once per digest.
            """
        ),
    )
    sbom = BoolOption(
        default=True,
        help=softwrap(
            """
            Make an SPDX 2.3 SBOM for every image and index from the binary's Go module
            information (as ko's `--sbom=spdx`): `pants package` writes `<path>.spdx.json` beside
            the image, `pants publish` attaches it as ko does (the `sha256-<hex>.sbom` tag) and as
            an OCI 1.1 referrer (with the fallback tag where the registry has no referrers API).
            """
        ),
    )
    signing_key = StrOption(
        default=None,
        help=softwrap(
            """
            A cosign private key (`cosign generate-key-pair`'s `cosign.key`, ECDSA P-256): a file
            path (relative to the build root, or absolute) or `env://NAME` for a key held in the
            environment variable `NAME`, as cosign takes it. Its password comes from
            `COSIGN_PASSWORD`. When set, `publish` (and `run`/`experimental-deploy` of
            `ko_manifests`, which push the same way) signs every pushed image and index as
            `cosign sign` does (the `sha256-<hex>.sig` tag and an OCI 1.1 referrer), signs the
            SBOMs (`[ko].sign_sboms`) and attaches a SLSA v1 provenance attestation
            (`[ko].provenance`); what is signed already is not signed again. The key is checked
            before anything is pushed. No transparency log: verify with `cosign verify --key
            cosign.pub --insecure-ignore-tlog`.
            """
        ),
    )
    sign_sboms = BoolOption(
        default=True,
        help="With `[ko].signing_key`: sign the SBOMs `publish` attaches too (`cosign verify --attachment sbom`).",
    )
    provenance = BoolOption(
        default=True,
        help=softwrap(
            """
            With `[ko].signing_key`: attach a SLSA v1 provenance attestation to every published
            image (`cosign verify-attestation --type slsaprovenance1`): the target, the Go version,
            each binary's flags, ldflags, environment and modules, the base image's digest, the git
            commit and the versions of Pants and this backend.
            """
        ),
    )
    tailor = BoolOption(
        default=True,
        help=softwrap(
            """
            If true, `pants tailor` adds a `ko_image` next to every Go `package main` of a module
            that has none, and a `ko_manifests` target (named `apply`) next to YAML or JSON files
            that contain `ko://` and belong to no target.
            """
        ),
    )

    def platforms_option(self) -> tuple[str, ...] | None:
        """`[ko].default_platforms` as the user set it, or None (then ko's default applies).

        The defaults of list options are empty on purpose: Pants reads a bare string as "add to
        the default", so with a non-empty default `default_platforms = "linux/arm64"` meant
        amd64 and arm64, and `"linux/amd64"` listed amd64 twice.
        """
        values = tuple(self.default_platforms)
        for value in values:
            if "," in value or len(value.split()) > 1:
                raise KoError(
                    f"[ko].default_platforms: {value!r} is one string naming several platforms; write a list, "
                    'e.g. default_platforms = ["linux/amd64", "linux/arm64"].'
                )
        return values or None

    def registries_option(self) -> Registries:
        """`[ko].registries`, checked (one line naming the entry and key that is wrong)."""
        return Registries.from_option(self.registries)

    def tags_option(self) -> tuple[str, ...]:
        """`[ko].default_tags`, or ko's `latest` when it is not set (see `platforms_option`)."""
        return tuple(self.default_tags) or (DEFAULT_TAG,)

    @property
    def transport_limits(self) -> TransportLimits:
        """The bounds on registry exchanges: the `transport` of every message that makes the tool
        talk to a registry (`PushPlan`, `StatusQuery`, `BaseFetch` in `tool/messages.py`)."""
        try:
            return TransportLimits(timeout=self.registry_timeout, min_speed=self.registry_min_speed)
        except InvalidLimitsError as e:
            option = "registry_timeout" if "timeout" in e.what else "registry_min_speed"
            raise KoError(f"{e.what}.", where=f"[ko].{option}") from None

    class EnvironmentAware(ExecutableSearchPathsOptionMixin, Subsystem.EnvironmentAware):
        env_vars_used_by_options = ("PATH",)
        executable_search_paths_help = softwrap(
            """
            Where to look for the `go` toolchain that builds images (its `go version` output is
            part of every build's cache key).
            """
        )


def rules():
    return collect_rules()
