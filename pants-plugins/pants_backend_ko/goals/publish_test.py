"""In-process tests of what `pants publish` and `pants run` (ko_manifests) prepare: the push
command line, the deploy plan, and the message when an image has nowhere to go. The pushes
themselves run against real registries in tests/test_publish.py and tests/test_deploy.py."""

from __future__ import annotations

import dataclasses
import json
import sys

import pytest
from pants.core.goals.package import BuiltPackage
from pants.core.goals.publish import PublishProcesses
from pants.core.goals.run import RunRequest
from pants.engine.addresses import Address
from pants.engine.fs import DigestContents
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner

from pants_backend_ko.codec import decode
from pants_backend_ko.errors import KoError
from pants_backend_ko.goals.package import KoImagePackageFieldSet
from pants_backend_ko.goals.publish import KoImagePublishFieldSet, PublishKoImageRequest
from pants_backend_ko.goals.run import KoManifestsRunFieldSet
from pants_backend_ko.oci.digest import digest_hex
from pants_backend_ko.oci.remote.limits import TransportLimits
from pants_backend_ko.target_types import KoImageFieldSet
from pants_backend_ko.testutil import go_module_files, hello_main, ko_error_message, ko_rule_runner, set_ko_options
from pants_backend_ko.tool.messages import DAEMON, DeployPlan, ImagePush, PushPlan
from pants_backend_ko.util_rules.deploy_plan import PLAN_FILE, DeployPlanRequest, PreparedDeploy
from pants_backend_ko.util_rules.ko_build import BuiltKoImage, KoImageRequest
from pants_backend_ko.util_rules.registry import daemon_load

IMG = Address("pub/cmd/api", target_name="img")
WEB = Address("pub/cmd/web", target_name="img")
MULTI = Address("pub/multi", target_name="img")


@pytest.fixture(scope="module")
def rule_runner() -> RuleRunner:
    rule_runner = ko_rule_runner(
        extra_rules=[
            QueryRule(PublishProcesses, (PublishKoImageRequest,)),
            QueryRule(PreparedDeploy, (DeployPlanRequest,)),
            QueryRule(RunRequest, (KoManifestsRunFieldSet,)),
        ]
    )
    rule_runner.write_files(
        {
            **go_module_files("pub", "example.com/pub", {"cmd/api": hello_main("api"), "cmd/web": hello_main("web")}),
            "pub/cmd/api/BUILD": "ko_image(name='img', platforms=['linux/amd64'], tags=['v2', 'latest'])\n",
            "pub/multi/BUILD": "ko_image(name='img', main='../cmd/web', platforms=['linux/amd64', 'linux/arm64'])\n",
            "pub/cmd/web/BUILD": "ko_image(name='img', platforms=['linux/amd64'])\n",
            "pub/deploy/api.yaml": "kind: Pod\nmetadata: {name: api}\nspec:\n  containers:\n    - image: ko://example.com/pub/cmd/api\n",
            "pub/deploy/BUILD": (
                "ko_manifests(name='apply', kubectl_args=['-n', 'demo'])\n"
                "ko_manifests(name='delete', verb='delete')\n"
            ),
        }
    )
    return rule_runner


def package(rule_runner: RuleRunner, address: Address) -> tuple[BuiltPackage, dict[str, bytes]]:
    built = rule_runner.request(BuiltPackage, [KoImagePackageFieldSet.create(rule_runner.get_target(address))])
    return built, {fc.path: fc.content for fc in rule_runner.request(DigestContents, [built.digest])}


def publish(rule_runner: RuleRunner, address: Address = IMG) -> PublishProcesses:
    target = rule_runner.get_target(address)
    built, _ = package(rule_runner, address)
    request = PublishKoImageRequest(KoImagePublishFieldSet.create(target), (built,))
    # No registry (or daemon) answers here: the batch check says "unknown" and the push is planned.
    return rule_runner.request(PublishProcesses, [request])


def plan_of(rule_runner: RuleRunner, published) -> PushPlan:
    digest = published.process.process.input_digest
    files = {fc.path: fc.content for fc in rule_runner.request(DigestContents, [digest])}
    return decode(PushPlan, files["ko-publish/plan.json"], "plan.json")


def test_ko_local_loads_the_goos_goarch_image_of_an_index(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner, ["--ko-sbom"], env={"KO_DOCKER_REPO": "ko.local", "GOARCH": "arm64"})
    _, files = package(rule_runner, MULTI)
    metadata = json.loads(files["pub.multi/img.ko-image.json"])
    arm64 = metadata["platforms"]["linux/arm64"]
    repository = metadata["repository"]
    assert repository.startswith("ko.local/web-")
    # The name ko loads it under is known to package, without a daemon; so do rendered YAML and publish.
    assert metadata["references"] == [f"{repository}:{digest_hex(arm64)}", f"{repository}:latest"]
    (published,) = publish(rule_runner, MULTI)
    (image,) = published.data["images"]
    assert published.names == (f"{repository}:{digest_hex(arm64)}",) == (image["reference"],)
    assert (image["destination"], image["digest"]) == ("daemon", metadata["digest"])
    assert published.description == "the Docker daemon with tags: latest"  # Pants: "published to ..."
    # One entry of the one push plan: the daemon gets the arm64 image, with no SBOMs (ko attaches none there).
    assert plan_of(rule_runner, published).images == (
        ImagePush(
            layout="images/0",
            repository=repository,
            tags=("latest",),
            kind=DAEMON,
            image=arm64,
            target="pub/multi:img",
            digest=metadata["digest"],
        ),
    )
    # Bad input is one line: a platform the index lacks (publish; package still works) ...
    set_ko_options(rule_runner, env={"KO_DOCKER_REPO": "ko.local", "GOARCH": "s390x"})
    _, files = package(rule_runner, MULTI)
    assert json.loads(files["pub.multi/img.ko-image.json"])["references"] == [f"{repository}:latest"]
    with pytest.raises(ExecutionError) as excinfo:
        publish(rule_runner, MULTI)
    assert ko_error_message(excinfo) == (
        "pub/multi:img: the image has no linux/s390x platform to load into the Docker daemon (it has "
        "linux/amd64, linux/arm64); ko.local loads the platform of GOOS/GOARCH (default linux/amd64): set them to "
        "one it has, or add linux/s390x to the target's platforms"
    )
    # ... and an image without its base layers (`[ko].shallow_base_images`): the daemon needs them all.
    set_ko_options(rule_runner, env={"KO_DOCKER_REPO": "ko.local"})
    target = rule_runner.get_target(MULTI)
    built = rule_runner.request(BuiltKoImage, [KoImageRequest(KoImageFieldSet.create(target))])
    with pytest.raises(KoError) as error:
        daemon_load(dataclasses.replace(built, loadable=False), "images/0", built.name.destinations[0])
    assert str(error.value) == (
        "pub/multi:img: ko.local loads whole images into the Docker daemon, but `[ko].shallow_base_images = "
        "true` leaves the base image's layers out of this one; publish to ko.local without `shallow_base_images` "
        "(e.g. `--no-ko-shallow-base-images`)"
    )


def test_publish_pushes_the_packaged_layout(rule_runner: RuleRunner) -> None:
    # SBOM attachment has its own tests (tests/test_sbom.py): left out here to keep argv exact.
    set_ko_options(
        rule_runner,
        ["--ko-insecure-registries=['reg.internal:5000']", "--no-ko-sbom", "--ko-registry-timeout=7.5"],
        env={"KO_DOCKER_REPO": "127.0.0.1:5000/pub"},
    )
    (published,) = publish(rule_runner)
    (image,) = published.data["images"]
    repository = image["repository"]
    assert repository.startswith("127.0.0.1:5000/pub/api-")
    assert published.names == (f"{repository}@{image['digest']}",) == (image["reference"],)
    assert published.process is not None
    argv = published.process.process.argv
    assert argv == (sys.executable, "-m", "pants_backend_ko.tool", "push-plan", "--plan", "ko-publish/plan.json")
    # The process pushes the very files `pants package` wrote: the layout is in its input.
    files = {
        fc.path: fc.content for fc in rule_runner.request(DigestContents, [published.process.process.input_digest])
    }
    assert decode(PushPlan, files["ko-publish/plan.json"], "plan.json") == PushPlan(
        images=(
            ImagePush(
                layout="images/0",
                repository=repository,
                tags=("v2", "latest"),
                target="pub/cmd/api:img",  # for messages, and the tag-collision check
                digest=image["digest"],  # the tool refuses a layout that does not hold it
            ),
        ),
        jobs=4,
        insecure_registries=("reg.internal:5000",),
        transport=TransportLimits(timeout=7.5, min_speed=10240),  # [ko].registry_* reach the push
    )
    assert json.loads(files["ko-publish/plan.json"])["transport"] == {"timeout": 7.5, "min_speed": 10240}
    package = rule_runner.request(BuiltPackage, [KoImagePackageFieldSet.create(rule_runner.get_target(IMG))])
    packaged = {fc.path: fc.content for fc in rule_runner.request(DigestContents, [package.digest])}
    assert files["ko-publish/images/0/index.json"] == packaged["pub.cmd.api/img/index.json"]


def test_the_command_line_targets_are_pushed_by_one_process(rule_runner: RuleRunner) -> None:
    # Pants runs publish processes one after another: the first image that needs a push pushes
    # every image of the command line in parallel; the other has nothing left to run.
    set_ko_options(rule_runner, ["--no-ko-sbom", "pub/cmd::"], env={"KO_DOCKER_REPO": "127.0.0.1:5000/pub"})
    (first,) = publish(rule_runner, IMG)
    assert publish(rule_runner, WEB) == PublishProcesses([])
    api, web = first.data["images"]
    assert (api["target"], web["target"]) == (IMG, WEB)
    assert first.names == (api["reference"], web["reference"])
    assert first.process is not None
    files = {fc.path: fc.content for fc in rule_runner.request(DigestContents, [first.process.process.input_digest])}
    plan = decode(PushPlan, files["ko-publish/plan.json"], "plan.json")
    assert [(image.layout, image.repository, image.tags) for image in plan.images] == [
        ("images/0", api["repository"], ("v2", "latest")),
        ("images/1", web["repository"], ("latest",)),
    ]
    # Without the command line (another goal publishes it), each image is pushed on its own.
    set_ko_options(rule_runner, ["--no-ko-sbom"], env={"KO_DOCKER_REPO": "127.0.0.1:5000/pub"})
    (alone,) = publish(rule_runner, WEB)
    assert alone.names == (web["reference"],)


def test_publish_without_a_repository(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner)
    with pytest.raises(ExecutionError) as excinfo:
        publish(rule_runner)
    assert ko_error_message(excinfo) == (
        "pub/cmd/api:img: nowhere to publish: set KO_DOCKER_REPO (e.g. "
        "`KO_DOCKER_REPO=ghcr.io/acme`), [ko].docker_repo, or the target's `repository` field."
    )


def test_registry_limits_that_bound_nothing_are_one_line(rule_runner: RuleRunner) -> None:
    set_ko_options(
        rule_runner, ["--no-ko-sbom", "--ko-registry-timeout=0"], env={"KO_DOCKER_REPO": "127.0.0.1:5000/pub"}
    )
    with pytest.raises(ExecutionError) as excinfo:
        publish(rule_runner)
    assert ko_error_message(excinfo) == (
        "[ko].registry_timeout: the registry timeout must be a positive number of seconds, got 0.0."
    )


def deploy_plan(rule_runner: RuleRunner, name: str) -> tuple[DeployPlan, dict[str, bytes], PreparedDeploy]:
    target = rule_runner.get_target(Address("pub/deploy", target_name=name))
    prepared = rule_runner.request(
        PreparedDeploy, [DeployPlanRequest(KoManifestsRunFieldSet.create(target), push_images=True)]
    )
    files = {fc.path: fc.content for fc in rule_runner.request(DigestContents, [prepared.digest])}
    plan = decode(DeployPlan, files[PLAN_FILE], PLAN_FILE)
    assert plan == prepared.plan  # what the tool reads is what the rule wrote
    return plan, files, prepared


def test_deploy_plan_pushes_then_applies(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner, ["--ko-docker-repo=127.0.0.1:5000/pub", "--no-ko-sbom"])
    plan, files, deploy = deploy_plan(rule_runner, "apply")
    (image,) = deploy.rendered.images
    assert image.name.repository is not None
    assert plan == DeployPlan(
        target="pub/deploy:apply",
        verb="apply",
        manifest="rendered/combined.yaml",
        kubectl_args=("-n", "demo"),
        push=PushPlan(
            images=(
                ImagePush(
                    layout="images/0",
                    repository=image.name.repository,
                    tags=("v2", "latest"),
                    target="pub/cmd/api:img",
                    digest=image.digest,
                ),
            ),
            transport=TransportLimits(timeout=60.0, min_speed=10240),  # the defaults reach the deploy's push
        ),
    )
    # Two tags, one of them latest: ko's reference is repo@digest.
    assert (
        files["ko-deploy/rendered/combined.yaml"]
        .decode()
        .endswith(f"- image: {image.name.repository}@{image.digest}\n")
    )
    assert "ko-deploy/images/0/index.json" in files

    run = rule_runner.request(
        RunRequest, [KoManifestsRunFieldSet.create(rule_runner.get_target(Address("pub/deploy", target_name="apply")))]
    )
    assert run.args == (
        sys.executable,
        "-m",
        "pants_backend_ko.tool",
        "deploy",
        "--plan",
        f"{{chroot}}/{PLAN_FILE}",
        "--",
    )


def test_ko_local_deploy_loads_then_applies_yaml_naming_the_loaded_image(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner, ["--no-ko-sbom"], env={"KO_DOCKER_REPO": "ko.local"})
    plan, files, deploy = deploy_plan(rule_runner, "apply")
    (image,) = deploy.rendered.images
    assert image.name.repository is not None
    reference = f"{image.name.repository}:{digest_hex(image.digest)}"
    assert files["ko-deploy/rendered/combined.yaml"].decode().endswith(f"- image: {reference}\n")
    assert plan.push.images == (
        ImagePush(
            layout="images/0",
            repository=image.name.repository,
            tags=("v2", "latest"),
            kind=DAEMON,
            image=image.digest,
            target=str(image.settings.address),
            digest=image.digest,
        ),
    )


def test_delete_pushes_nothing(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner, ["--ko-docker-repo=127.0.0.1:5000/pub"])
    plan, files, _ = deploy_plan(rule_runner, "delete")
    assert (plan.verb, plan.push.images) == ("delete", ())
    assert not any(path.startswith("ko-deploy/images/") for path in files)


def test_delete_needs_no_repository(rule_runner: RuleRunner) -> None:
    # `verb="delete"` is ko delete: nothing is built or pushed, so no repository is needed.
    set_ko_options(rule_runner)
    plan, files, deploy = deploy_plan(rule_runner, "delete")
    assert (plan.verb, plan.push.images, deploy.rendered.images) == ("delete", (), ())
    # The YAML goes to kubectl as written.
    assert files["ko-deploy/rendered/combined.yaml"].decode().endswith("- image: ko://example.com/pub/cmd/api\n")
