"""`pants publish` for `ko_image`: push the packaged layout's exact bytes, then the tags."""

from __future__ import annotations

from dataclasses import dataclass

from pants.core.goals.package import BuiltPackage
from pants.core.goals.publish import (
    PublishFieldSet,
    PublishOutputData,
    PublishPackages,
    PublishProcesses,
    PublishRequest,
)
from pants.engine.process import InteractiveProcess
from pants.engine.rules import Get, collect_rules, rule
from pants.util.logging import LogLevel

from pants_backend_ko.errors import KoError
from pants_backend_ko.subsystems import KoSubsystem
from pants_backend_ko.target_types import KoImageFieldSet
from pants_backend_ko.util_rules.image import BuiltKoImage, KoImageRequest
from pants_backend_ko.util_rules.registry import RegistryToolEnv, push_argv


class PublishKoImageRequest(PublishRequest):
    pass


@dataclass(frozen=True)
class KoImagePublishFieldSet(KoImageFieldSet, PublishFieldSet):
    publish_request_type = PublishKoImageRequest

    def get_output_data(self) -> PublishOutputData:
        return PublishOutputData({"publisher": "ko", "target": self.address})


def nowhere_to_publish(address) -> KoError:
    return KoError(
        f"{address}: nowhere to publish: set KO_DOCKER_REPO (e.g. `KO_DOCKER_REPO=ghcr.io/acme`), "
        "[ko].docker_repo, or the target's `repository` field."
    )


@rule(desc="Publish a ko_image", level=LogLevel.DEBUG)
async def publish_ko_image(
    request: PublishKoImageRequest, ko: KoSubsystem, tool: RegistryToolEnv
) -> PublishProcesses:
    field_set = request.field_set
    image = await Get(BuiltKoImage, KoImageRequest(field_set))
    repository = image.name.repository
    if repository is None:
        raise nowhere_to_publish(field_set.address)
    package: BuiltPackage = request.packages[0]
    layout_dir = field_set.output_path.value_or_default(file_ending=None)
    process = InteractiveProcess(
        argv=push_argv(tool, ko, image, layout_dir, repository),
        env=dict(tool.env),
        input_digest=package.digest,
    )
    reference = f"{repository}@{image.digest}"
    return PublishProcesses(
        [
            PublishPackages(
                names=(reference,),
                process=process,
                description=f"tags: {', '.join(image.name.tags)}" if image.name.tags else None,
                data=PublishOutputData(
                    {
                        **field_set.get_output_data(),
                        "import_path": image.settings.import_path,
                        "repository": repository,
                        "digest": image.digest,
                        "reference": reference,
                        "tags": image.name.tags,
                    }
                ),
            )
        ]
    )


def rules():
    return [*collect_rules(), *KoImagePublishFieldSet.rules()]
