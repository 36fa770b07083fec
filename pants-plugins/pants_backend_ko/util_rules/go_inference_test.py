"""Dependency inference of the Go targets, in-process: what each target depends on, and the one
line every kind of bad input gets (an unowned package, a package in two targets, unowned
embedded or kodata files, an `!!` exclusion the build needs)."""

from __future__ import annotations

import gzip
import json

import pytest
from pants.engine.addresses import Address
from pants.engine.fs import DigestContents
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import QueryRule
from pants.engine.target import (
    Dependencies,
    DependenciesRequest,
    Targets,
    TransitiveTargets,
    TransitiveTargetsRequest,
)
from pants.testutil.rule_runner import RuleRunner

from pants_backend_ko.target_types import KoImageFieldSet
from pants_backend_ko.testutil import ko_error_message, ko_rule_runner, with_go_targets
from pants_backend_ko.util_rules.ko_build import BuiltKoImage, KoImageRequest

MAIN = 'package main\n\nimport (\n\t"fmt"\n\n{imports})\n\nfunc main() {{ fmt.Println("x") }}\n'


def main_importing(*imports: str) -> str:
    return MAIN.format(imports="".join(f'\t_ "{i}"\n' for i in imports))


@pytest.fixture
def rule_runner() -> RuleRunner:
    return ko_rule_runner(extra_rules=[QueryRule(TransitiveTargets, (TransitiveTargetsRequest,))])


def direct_dependencies(rule_runner: RuleRunner, address: Address) -> set[str]:
    target = rule_runner.get_target(address)
    deps = rule_runner.request(Targets, [DependenciesRequest(target[Dependencies])])
    return {str(t.address) for t in deps}


def dependency_error(rule_runner: RuleRunner, address: Address) -> str:
    with pytest.raises(ExecutionError) as excinfo:
        direct_dependencies(rule_runner, address)
    return ko_error_message(excinfo)


SHOP = {
    "shop/go.mod": "module example.com/shop\n\ngo 1.21\n",
    "shop/cmd/web/main.go": main_importing("example.com/shop/internal/cart", "embed"),
    "shop/cmd/web/kodata/index.html": "<h1>shop</h1>\n",
    "shop/cmd/web/BUILD": "ko_image(name='img', platforms=['linux/amd64'])\n",
    "shop/internal/cart/cart.go": (
        'package cart\n\nimport (\n\t_ "embed"\n\n\t"example.com/shop/internal/money"\n)\n\n'
        "//go:embed prices.json\nvar Prices string\n\nvar _ = money.Zero\n"
    ),
    "shop/internal/cart/prices.json": "{}\n",
    "shop/internal/cart/BUILD": "ko_go_package(name='pkg', sources=['*.go', 'prices.json'])\n",
    "shop/internal/money/money.go": "package money\n\nconst Zero = 0\n",
}


def test_each_target_depends_on_what_go_reads(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(with_go_targets(SHOP))
    image = Address("shop/cmd/web", target_name="img")
    assert direct_dependencies(rule_runner, image) == {"shop/cmd/web:pkg", "shop/cmd/web:kodata", "shop:mod"}
    assert direct_dependencies(rule_runner, Address("shop/cmd/web", target_name="pkg")) == {
        "shop/internal/cart:pkg",
        "shop:mod",
    }
    assert direct_dependencies(rule_runner, Address("shop/internal/cart", target_name="pkg")) == {
        "shop/internal/money:pkg",
        "shop:mod",
    }
    closure = rule_runner.request(TransitiveTargets, [TransitiveTargetsRequest([image])])
    assert {str(t.address) for t in closure.dependencies} == {
        "shop/cmd/web:pkg",
        "shop/cmd/web:kodata",
        "shop/internal/cart:pkg",
        "shop/internal/money:pkg",
        "shop:mod",
    }


def test_import_of_a_package_no_target_owns(rule_runner: RuleRunner) -> None:
    files = with_go_targets(SHOP)
    del files["shop/internal/money/BUILD.ko"]
    rule_runner.write_files(files)
    assert dependency_error(rule_runner, Address("shop/internal/cart", target_name="pkg")) == (
        "shop/internal/cart/cart.go imports example.com/shop/internal/money: no ko_go_package target owns "
        "the Go package in shop/internal/money/: add `ko_go_package()` to shop/internal/money/BUILD, or run "
        "`pants tailor ::`."
    )


def test_a_package_in_two_targets(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {**with_go_targets(SHOP), "shop/internal/money/BUILD": "ko_go_package(name='again', sources=['money.go'])\n"}
    )
    assert dependency_error(rule_runner, Address("shop/internal/cart", target_name="pkg")) == (
        "shop/internal/cart/cart.go imports example.com/shop/internal/money: the Go package in "
        "shop/internal/money/ is in 2 ko_go_package targets (shop/internal/money:again, "
        "shop/internal/money:pkg); a package must be in one: remove its files from the `sources` of all "
        "but one."
    )


def test_embedded_file_no_target_owns(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({**with_go_targets(SHOP), "shop/internal/cart/BUILD": "ko_go_package(name='pkg')\n"})
    assert dependency_error(rule_runner, Address("shop/internal/cart", target_name="pkg")) == (
        "shop/internal/cart/cart.go: `//go:embed prices.json` names shop/internal/cart/prices.json, which no "
        "target owns: add it to the `sources` of shop/internal/cart:pkg (e.g. 'prices.json'), or to another "
        "target."
    )


def test_embedded_files_owned_by_another_target_are_dependencies(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {
            **with_go_targets(SHOP),
            "shop/internal/cart/BUILD": "ko_go_package(name='pkg')\nko_kodata(name='data', sources=['prices.json'])\n",
        }
    )
    assert "shop/internal/cart:data" in direct_dependencies(
        rule_runner, Address("shop/internal/cart", target_name="pkg")
    )


def test_kodata_file_no_target_owns(rule_runner: RuleRunner) -> None:
    files = with_go_targets(SHOP)
    files["shop/cmd/web/BUILD.ko"] = "ko_go_package(name='pkg')\n"  # no ko_kodata
    rule_runner.write_files(files)
    assert dependency_error(rule_runner, Address("shop/cmd/web", target_name="img")) == (
        "shop/cmd/web:img: the kodata file shop/cmd/web/kodata/index.html is not owned by any target: add "
        '`ko_kodata(name="kodata")` to shop/cmd/web/BUILD, or run `pants tailor ::`.'
    )


def test_transitive_exclusion_the_build_needs_is_one_line(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {
            **with_go_targets(SHOP),
            "shop/cmd/web/BUILD": (
                "ko_image(name='img', platforms=['linux/amd64'], dependencies=['!!shop/internal/money:pkg'])\n"
            ),
        }
    )
    image = Address("shop/cmd/web", target_name="img")
    field_set = KoImageFieldSet.create(rule_runner.get_target(image))
    with pytest.raises(ExecutionError) as excinfo:
        rule_runner.request(BuiltKoImage, [KoImageRequest(field_set)])
    assert ko_error_message(excinfo) == (
        "shop/cmd/web:img: go build example.com/shop/cmd/web needs shop/internal/money/money.go (package "
        "example.com/shop/internal/money), which is not among the files of its dependencies (`pants "
        "dependencies --transitive shop/cmd/web:img`): add the target owning it to `dependencies`, or "
        "remove the `!` that excludes it."
    )


SIBLINGS = {
    "repo/app/go.mod": (
        "module example.com/app\n\ngo 1.21\n\nrequire example.com/text v0.0.0\n\nreplace example.com/text => ../text\n"
    ),
    "repo/app/cmd/shout/main.go": (
        'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/text/upper"\n)\n\n'
        'func main() { fmt.Println(upper.Upper("replaced")) }\n'
    ),
    "repo/app/cmd/shout/BUILD": "ko_image(name='img', platforms=['linux/amd64'])\n",
    "repo/text/go.mod": "module example.com/text\n\ngo 1.21\n",
    "repo/text/upper/upper.go": 'package upper\n\nimport "strings"\n\nfunc Upper(s string) string { return strings.ToUpper(s) + " from-the-sibling-module" }\n',
    "repo/work/go.work": "go 1.22\n\nuse (\n\t./svc\n\t./quotes\n)\n",
    "repo/work/svc/go.mod": "module example.com/svc\n\ngo 1.22\n",
    "repo/work/svc/main.go": (
        'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/quotes"\n)\n\nfunc main() { fmt.Println(quotes.Quote) }\n'
    ),
    "repo/work/svc/BUILD": "ko_image(name='img', platforms=['linux/amd64'])\n",
    "repo/work/quotes/go.mod": "module example.com/quotes\n\ngo 1.22\n",
    "repo/work/quotes/quotes.go": 'package quotes\n\nconst Quote = "from the workspace"\n',
}


def test_replace_and_go_work_modules_are_dependencies_and_build(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(with_go_targets(SIBLINGS))
    assert direct_dependencies(rule_runner, Address("repo/app/cmd/shout", target_name="pkg")) == {
        "repo/text/upper:pkg",
        "repo/app:mod",
    }
    assert direct_dependencies(rule_runner, Address("repo/app", target_name="mod")) == {"repo/text:mod"}
    assert direct_dependencies(rule_runner, Address("repo/work/svc", target_name="img")) == {
        "repo/work/svc:pkg",
        "repo/work/svc:mod",
        "repo/work:work",
    }
    assert direct_dependencies(rule_runner, Address("repo/work", target_name="work")) == {
        "repo/work/svc:mod",
        "repo/work/quotes:mod",
    }
    assert direct_dependencies(rule_runner, Address("repo/work/svc", target_name="pkg")) == {
        "repo/work/quotes:pkg",
        "repo/work/svc:mod",
    }
    for folder, expected in (
        ("repo/app/cmd/shout", b"from-the-sibling-module"),
        ("repo/work/svc", b"from the workspace"),
    ):
        field_set = KoImageFieldSet.create(rule_runner.get_target(Address(folder, target_name="img")))
        image = rule_runner.request(BuiltKoImage, [KoImageRequest(field_set)])
        layout = {fc.path: fc.content for fc in rule_runner.request(DigestContents, [image.layout])}
        manifest = json.loads(layout["blobs/" + image.digest.replace(":", "/")])
        app_layer = gzip.decompress(layout["blobs/" + manifest["layers"][-1]["digest"].replace(":", "/")])
        assert expected in app_layer, folder
