"""Activation module: lists the backend's target types and rules, nothing else."""

from pants_backend_ko import subsystems
from pants_backend_ko import target_types as ko_target_types
from pants_backend_ko.goals import deploy, package, publish, run, tailor
from pants_backend_ko.util_rules import (
    base_image,
    command_line,
    delve,
    deploy_plan,
    destinations,
    environments,
    go_build,
    go_inference,
    go_module,
    go_packages,
    go_toolchain,
    input_hash,
    ko_build,
    ko_yaml,
    kodata,
    layer_writer,
    manifests,
    provenance,
    registry,
    signing,
    tool,
)


def target_types():
    return ko_target_types.target_types()


def rules():
    return [
        *subsystems.rules(),
        *tool.rules(),
        *command_line.rules(),
        *go_module.rules(),
        *go_packages.rules(),
        *go_inference.rules(),
        *environments.rules(),
        *go_toolchain.rules(),
        *go_build.rules(),
        *delve.rules(),
        *base_image.rules(),
        *destinations.rules(),
        *ko_yaml.rules(),
        *ko_build.rules(),
        *kodata.rules(),
        *layer_writer.rules(),
        *input_hash.rules(),
        *registry.rules(),
        *signing.rules(),
        *provenance.rules(),
        *manifests.rules(),
        *deploy_plan.rules(),
        *package.rules(),
        *publish.rules(),
        *run.rules(),
        *deploy.rules(),
        *tailor.rules(),
    ]
