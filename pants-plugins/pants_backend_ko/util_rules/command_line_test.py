"""The one private Pants API the backend uses (`command_line.py`), checked against the Pants that
runs it. If these fail after a Pants upgrade, `pants publish` still works but checks and pushes
every image on its own: read the new Pants' options code, fix `command_line_specs`, or drop the
batch (see `goals/publish.py`)."""

from __future__ import annotations

from pants.core.goals.package import PackageSubsystem
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner
from pants.version import VERSION

from pants_backend_ko.util_rules import command_line
from pants_backend_ko.util_rules.command_line import CommandLineGoals, CommandLineSpecs

UPGRADE = (
    f"Pants {VERSION} no longer keeps the command line's specs where util_rules/command_line.py reads "
    "them (pants.engine.internals.options_parsing._Options.options.specs); publish falls back to one "
    "registry check and one push per image"
)


def test_pants_private_options_are_where_the_batch_reads_them() -> None:
    assert command_line._Options is not None, UPGRADE
    rule_runner = RuleRunner(rules=[*command_line.rules(), QueryRule(CommandLineSpecs, ())])
    rule_runner.set_options(["src/go::", "app/cmd/api:img"])
    assert rule_runner.request(CommandLineSpecs, []) == CommandLineSpecs(("src/go::", "app/cmd/api:img")), UPGRADE


def test_pants_private_options_hold_the_goals() -> None:
    # `package` writes its docker archive only when `package` is on the command line.
    rule_runner = RuleRunner(rules=[*command_line.rules(), *PackageSubsystem.rules(), QueryRule(CommandLineGoals, ())])
    rule_runner.set_options(["package", "src/go::"])
    goals = rule_runner.request(CommandLineGoals, [])
    assert goals == CommandLineGoals(("package",)), (
        f"Pants {VERSION} no longer keeps the goals in _Options.options.goals: package writes its docker "
        "archive inside publish too"
    )
