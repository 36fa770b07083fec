"""In-process tests of `ko_manifests`: `ko://` dependency inference, rendering, and the messages
for every way a manifest can be wrong (with file, line and target address)."""

from __future__ import annotations

import hashlib

import pytest
from pants.engine.addresses import Address
from pants.engine.fs import DigestContents
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.target import Dependencies, DependenciesRequest, InferredDependencies, Targets
from pants.testutil.rule_runner import RuleRunner

from pants_backend_ko.target_types import KoManifestsFieldSet
from pants_backend_ko.testutil import go_module_files, hello_main, ko_error_message, ko_rule_runner, set_ko_options
from pants_backend_ko.tool.messages import COMBINED_MANIFEST
from pants_backend_ko.util_rules.manifests import (
    InferKoManifestsDependencies,
    KoImageIndex,
    KoManifestsInferenceFieldSet,
    RenderedManifests,
    RenderManifestsRequest,
)

REPO = "registry.example/shop"
WEB = "example.com/shop/cmd/web"
API = "example.com/shop/cmd/api"
WEB_ADDRESS = Address("shop/cmd/web", target_name="img")
API_ADDRESS = Address("shop/cmd/api", target_name="img")
TWIN_ONE = Address("shop/cmd/twin", target_name="one")
TWIN_TWO = Address("shop/cmd/twin", target_name="two")

# Byte-for-byte preservation: comments, odd spacing, quoting styles, a flow mapping, a key.
INFER_YAML = """\
# a comment that stays
apiVersion: apps/v1
kind: Deployment
metadata: {name: web,   labels: {app: web}}
spec:
  template:
    spec:
      containers:
        - name: web
          image: "ko://example.com/shop/cmd/web"   # trailing comment
        - name: api
          image: 'ko://example.com/shop/cmd/api'
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: images
  labels:
    app: config
data:
  ko://example.com/shop/cmd/api: "the api, as a mapping key"
"""

SELECTED_YAML = """\
apiVersion: v1
kind: Pod
metadata:
  name: broken
  labels: {app: broken}
spec:
  containers:
    - image: ko://example.com/shop/cmd/broken
    - image: ko://example.com/nowhere/cmd/none
---
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
    - image: ko://example.com/shop/cmd/web
"""

TWIN_YAML = """\
apiVersion: v1
kind: Pod
metadata:
  name: other
  labels: {app: other}
---
apiVersion: v1
kind: Pod
metadata:
  name: twin
  labels: {app: twin}
spec:
  containers:
    - image: ko://example.com/shop/cmd/twin
"""


@pytest.fixture(scope="module")
def rule_runner() -> RuleRunner:
    rule_runner = ko_rule_runner()
    rule_runner.write_files(
        {
            **go_module_files(
                "shop",
                "example.com/shop",
                {
                    "cmd/web": hello_main("web"),
                    "cmd/api": hello_main("api"),
                    "cmd/twin": hello_main("twin"),
                    # Never compiles: building it fails the test that selects it away.
                    "cmd/broken": "package main\n\nfunc main() { notDefined() }\n",
                },
            ),
            "shop/cmd/web/BUILD": "ko_image(name='img')\n",
            "shop/cmd/api/BUILD": "ko_image(name='img')\n",
            "shop/cmd/broken/BUILD": "ko_image(name='img')\n",
            "shop/cmd/twin/BUILD": (
                "ko_image(name='one', repository='registry.example/one')\n"
                "ko_image(name='two', repository='registry.example/two')\n"
            ),
            "deploy/infer/app.yaml": INFER_YAML,
            "deploy/infer/BUILD": "ko_manifests(name='m')\n",
            "deploy/explicit/twin.yaml": TWIN_YAML,
            "deploy/explicit/BUILD": "ko_manifests(name='m', dependencies=['shop/cmd/twin:two'])\n",
            "deploy/ambiguous/twin.yaml": TWIN_YAML,
            "deploy/ambiguous/BUILD": "ko_manifests(name='m')\n",
            "deploy/ambiguous_selected/twin.yaml": TWIN_YAML,
            "deploy/ambiguous_selected/BUILD": "ko_manifests(name='m', selector='app=twin')\n",
            "deploy/unknown/app.yaml": "kind: Pod\nmetadata: {name: x}\nspec:\n  containers:\n    - image: ko://example.com/shop/cmd/webb\n",
            "deploy/unknown/BUILD": "ko_manifests(name='m')\n",
            "deploy/malformed/app.yaml": "kind: Pod\nmetadata:\n  name: [unclosed\n  labels: {}\n",
            "deploy/malformed/BUILD": "ko_manifests(name='m')\n",
            "deploy/badselector/app.yaml": INFER_YAML,
            "deploy/badselector/BUILD": "ko_manifests(name='m', selector='app in (web')\n",
            "deploy/selected/pods.yaml": SELECTED_YAML,
            "deploy/selected/BUILD": "ko_manifests(name='m', selector='app=web')\n",
            "deploy/empty/BUILD": "ko_manifests(name='m')\n",
        }
    )
    return rule_runner


def field_set(rule_runner: RuleRunner, folder: str) -> KoManifestsFieldSet:
    return KoManifestsFieldSet.create(rule_runner.get_target(Address(folder, target_name="m")))


def render(rule_runner: RuleRunner, folder: str) -> RenderedManifests:
    return rule_runner.request(RenderedManifests, [RenderManifestsRequest(field_set(rule_runner, folder))])


def files_of(rule_runner: RuleRunner, rendered: RenderedManifests) -> tuple[tuple[str, str], ...]:
    """The rendered files as (source path, text), in the target's order."""
    contents = {fc.path: fc.content.decode() for fc in rule_runner.request(DigestContents, [rendered.files])}
    assert sorted(contents) == sorted(rendered.paths)
    return tuple((path, contents[path]) for path in rendered.paths)


def combined_of(rule_runner: RuleRunner, rendered: RenderedManifests) -> str:
    (combined,) = rule_runner.request(DigestContents, [rendered.combined])
    assert combined.path == COMBINED_MANIFEST
    return combined.content.decode()


def render_error(rule_runner: RuleRunner, folder: str) -> str:
    with pytest.raises(ExecutionError) as excinfo:
        render(rule_runner, folder)
    return ko_error_message(excinfo)


def md5_name(import_path: str) -> str:
    return f"{REPO}/{import_path.rsplit('/', 1)[-1]}-{hashlib.md5(import_path.encode()).hexdigest()}"


def test_index_maps_import_paths_to_targets(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner)
    index = rule_runner.request(KoImageIndex, [])
    assert index.by_import_path[WEB] == (WEB_ADDRESS,)
    assert index.by_import_path["example.com/shop/cmd/twin"] == (TWIN_ONE, TWIN_TWO)


def test_dependencies_are_inferred_from_ko_references(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner)
    target = rule_runner.get_target(Address("deploy/infer", target_name="m"))
    inferred = rule_runner.request(
        InferredDependencies, [InferKoManifestsDependencies(KoManifestsInferenceFieldSet.create(target))]
    )
    # The api is referenced twice, once as a mapping key: inferred once.
    assert sorted(inferred.include) == sorted([WEB_ADDRESS, API_ADDRESS])
    dependencies = rule_runner.request(Targets, [DependenciesRequest(target[Dependencies])])
    assert {t.address for t in dependencies} == {WEB_ADDRESS, API_ADDRESS}


def test_ambiguous_references_are_not_inferred(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner)
    target = rule_runner.get_target(Address("deploy/ambiguous", target_name="m"))
    inferred = rule_runner.request(
        InferredDependencies, [InferKoManifestsDependencies(KoManifestsInferenceFieldSet.create(target))]
    )
    assert list(inferred.include) == []


def test_rendering_replaces_references_and_keeps_every_other_byte(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner, [f"--ko-docker-repo={REPO}"])
    rendered = render(rule_runner, "deploy/infer")
    digests = {image.settings.import_path: image.digest for image in rendered.images}
    assert set(digests) == {WEB, API}
    web_ref = f"{md5_name(WEB)}@{digests[WEB]}"
    api_ref = f"{md5_name(API)}@{digests[API]}"
    expected = INFER_YAML.replace("ko://example.com/shop/cmd/web", web_ref).replace(
        "ko://example.com/shop/cmd/api", api_ref
    )
    assert files_of(rule_runner, rendered) == (("deploy/infer/app.yaml", expected),)
    assert combined_of(rule_runner, rendered) == expected


def test_explicit_dependency_picks_one_of_two_images_of_the_same_main(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner)
    rendered = render(rule_runner, "deploy/explicit")
    (image,) = rendered.images
    assert image.settings.address == TWIN_TWO
    text = files_of(rule_runner, rendered)[0][1]
    assert f"- image: registry.example/two@{image.digest}\n" in text
    assert "ko://" not in text


def test_ambiguous_reference_names_both_targets(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner, [f"--ko-docker-repo={REPO}"])
    assert render_error(rule_runner, "deploy/ambiguous") == (
        "deploy/ambiguous/twin.yaml:14: ko://example.com/shop/cmd/twin is ambiguous: ko_image "
        "targets shop/cmd/twin:one, shop/cmd/twin:two all build it; list the one you mean in "
        "deploy/ambiguous:m's `dependencies`."
    )


def test_error_lines_count_from_the_file_when_a_selector_drops_documents(rule_runner: RuleRunner) -> None:
    # The selector keeps only the second document: the line is still the file's line 14.
    set_ko_options(rule_runner, [f"--ko-docker-repo={REPO}"])
    message = render_error(rule_runner, "deploy/ambiguous_selected")
    assert message.startswith(
        "deploy/ambiguous_selected/twin.yaml:14: ko://example.com/shop/cmd/twin is ambiguous"
    ), message


def test_reference_without_a_target_suggests_the_nearest(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner, [f"--ko-docker-repo={REPO}"])
    assert render_error(rule_runner, "deploy/unknown") == (
        "deploy/unknown/app.yaml:5:14: ko://example.com/shop/cmd/webb is not a ko_image target; "
        "did you mean: example.com/shop/cmd/web, example.com/shop/cmd/twin, example.com/shop/cmd/api"
    )


def test_malformed_yaml_names_file_and_line(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner, [f"--ko-docker-repo={REPO}"])
    assert render_error(rule_runner, "deploy/malformed") == (
        "deploy/malformed:m: deploy/malformed/app.yaml:4:9: invalid YAML: did not find expected ',' or ']', "
        "but found ':' (while parsing a flow sequence)"
    )


def test_invalid_selector(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner, [f"--ko-docker-repo={REPO}"])
    assert render_error(rule_runner, "deploy/badselector") == (
        "deploy/badselector:m: invalid `selector`: invalid label selector 'app in (web' at "
        "column 12: found end of string, expected ',' or ')'"
    )


def test_missing_docker_repo_when_rendering(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner)
    assert render_error(rule_runner, "deploy/infer") == (
        "deploy/infer/app.yaml:10: ko://example.com/shop/cmd/web (shop/cmd/web:img) has no "
        "repository to be referred to by: set KO_DOCKER_REPO, [ko].docker_repo or its "
        "`repository` field."
    )


def test_selector_drops_documents_before_building(rule_runner: RuleRunner) -> None:
    # The dropped Pod refers to an image that does not compile and to an import path that no
    # target builds: neither matters, since only the surviving document is resolved.
    set_ko_options(rule_runner, [f"--ko-docker-repo={REPO}"])
    rendered = render(rule_runner, "deploy/selected")
    assert [image.settings.address for image in rendered.images] == [WEB_ADDRESS]
    web_ref = f"{md5_name(WEB)}@{rendered.images[0].digest}"
    second = SELECTED_YAML[SELECTED_YAML.index("---") :]  # the kept document, separator included
    assert files_of(rule_runner, rendered) == (("deploy/selected/pods.yaml", second.replace("ko://" + WEB, web_ref)),)


def test_no_files(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner, [f"--ko-docker-repo={REPO}"])
    assert render_error(rule_runner, "deploy/empty") == (
        "deploy/empty:m: no YAML or JSON files match `sources`; check the globs."
    )


def test_a_broken_ko_image_does_not_break_other_manifests() -> None:
    # A ko_image without a go.mod (work in progress, say) used to fail the inference and the
    # rendering of every ko_manifests target of the repository.
    rule_runner = ko_rule_runner()
    pod = "kind: Pod\nmetadata: {name: x}\nspec:\n  containers:\n    - image: ko://%s\n"
    rule_runner.write_files(
        {
            **go_module_files("shop", "example.com/shop", {"cmd/web": hello_main("web")}),
            "shop/cmd/web/BUILD": "ko_image(name='img')\n",
            "wip/main.go": hello_main(),
            "wip/BUILD": "ko_image(name='bad')\n",
            "deploy/good/app.yaml": pod % WEB,
            "deploy/good/BUILD": "ko_manifests(name='m')\n",
            "deploy/wip/app.yaml": pod % "example.com/wip",
            "deploy/wip/BUILD": "ko_manifests(name='m')\n",
        }
    )
    set_ko_options(rule_runner, [f"--ko-docker-repo={REPO}"])
    no_go_mod = (
        "wip:bad: no go.mod in wip or any folder above it; a ko_image builds a package of a Go "
        "module: run `go mod init <module path>` at the module root."
    )
    index = rule_runner.request(KoImageIndex, [])
    assert index.unreadable == ((Address("wip", target_name="bad"), no_go_mod),)
    assert dict(index.by_import_path) == {WEB: (WEB_ADDRESS,)}

    target = rule_runner.get_target(Address("deploy/good", target_name="m"))
    inferred = rule_runner.request(
        InferredDependencies, [InferKoManifestsDependencies(KoManifestsInferenceFieldSet.create(target))]
    )
    assert list(inferred.include) == [WEB_ADDRESS]
    rendered = render(rule_runner, "deploy/good")
    assert files_of(rule_runner, rendered)[0][1] == (pod % WEB).replace(
        f"ko://{WEB}", f"{md5_name(WEB)}@{rendered.images[0].digest}"
    )

    # A reference that may mean the broken target reports that target's problem.
    assert render_error(rule_runner, "deploy/wip") == (
        "deploy/wip/app.yaml:5: no ko_image target builds ko://example.com/wip, and some cannot "
        f"be read; fix them first: {no_go_mod}"
    )
