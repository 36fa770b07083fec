from __future__ import annotations

import pytest

from pants_backend_ko.oci.registries import ALL_DEFAULT_REGISTRIES, Registries, RegistryOptionError, RegistryOptions

OPTION = {
    "prod": {"address": "ghcr.io/acme", "default": True, "extra_image_tags": ["stable"]},
    "staging": {"address": "localhost:5000", "skip_push": "true", "extra_tags": "s", "repository": "{name}/"},
    "default": {"address": "quay.io/acme"},
}


def test_entries_are_read_as_pants_docker_registries() -> None:
    registries = Registries.from_option(OPTION)
    prod, staging, default = registries.entries
    assert prod == RegistryOptions("ghcr.io/acme", "prod", default=True, extra_image_tags=("stable",))
    assert staging == RegistryOptions(
        "localhost:5000", "staging", skip_push=True, extra_image_tags=("s",), repository="{name}"
    )
    assert default.default  # the alias `default` is a default registry unless it says otherwise
    assert registries.defaults == (prod, default)


def test_select_by_alias_address_and_all_defaults() -> None:
    registries = Registries.from_option(OPTION)
    prod, staging, default = registries.entries
    assert registries.select(["@staging", ALL_DEFAULT_REGISTRIES, "@prod"], "`registries`") == (staging, prod, default)
    assert registries.select(["ghcr.io/acme"], "`registries`") == (prod,)
    assert registries.select(["example.com:8443/x"], "`registries`") == (RegistryOptions("example.com:8443/x"),)


def test_unknown_alias_is_one_line_listing_the_known_ones() -> None:
    with pytest.raises(RegistryOptionError) as e:
        Registries.from_option(OPTION).select(["@prd"], "src/x:img: `registries`")
    assert str(e.value).startswith(
        "src/x:img: `registries`: no registry has the alias '@prd' (known: @default, @prod, @staging"
    )
    assert "[ko.registries.prd]" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"adress": "x.io"}, "[ko].registries.r: unknown key 'adress'"),
        ({"default": True}, "[ko].registries.r has no address"),
        ({"address": "https://x.io"}, "[ko].registries.r.address"),
        ({"address": "x.io", "default": "yes"}, "[ko].registries.r.default must be true or false"),
        ({"address": "x.io", "extra_tags": [1]}, "[ko].registries.r.extra_image_tags must be a list of strings"),
        (
            {"address": "x.io", "extra_tags": ["a"], "extra_image_tags": ["b"]},
            "sets both extra_image_tags and extra_tags",
        ),
    ],
)
def test_bad_entries_name_the_entry_and_key(entry: dict, message: str) -> None:
    with pytest.raises(RegistryOptionError) as e:
        Registries.from_option({"r": entry})
    assert message in str(e.value) and "\n" not in str(e.value)
