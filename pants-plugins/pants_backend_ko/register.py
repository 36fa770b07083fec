"""Activation module: lists the backend's target types and rules, nothing else."""

from pants_backend_ko import subsystems
from pants_backend_ko import target_types as ko_target_types
from pants_backend_ko.goals import package, publish
from pants_backend_ko.util_rules import base_image, go_build, image, naming, registry


def target_types():
    return ko_target_types.target_types()


def rules():
    return [
        *subsystems.rules(),
        *go_build.rules(),
        *base_image.rules(),
        *naming.rules(),
        *image.rules(),
        *registry.rules(),
        *package.rules(),
        *publish.rules(),
    ]
