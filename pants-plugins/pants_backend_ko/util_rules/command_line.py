"""The targets and goals named on the command line, for rules that Pants gives only one target
(or no view of the goal they run under).

Pants 2.17 hands a publish rule one target (`PublishRequest` lets only `EnvironmentName` into
its scope, `pants/core/goals/publish.py`), so a rule that wants to batch work over everything
being published (one registry check, one parallel push) has no public way to see the other
targets. The goal's specs are in Pants' private `_Options`
(`pants/engine/internals/options_parsing.py`); `command_line_specs` is the one place that
reads them (and the goals: `package` writes its docker archive only when `package` is asked
for, not inside `publish`, which runs the package rule too). It asks nothing else of Pants'
internals: the specs are parsed and resolved with public API (`SpecsParser`,
`Get(FilteredTargets, Specs)`).

When Pants moves or changes `_Options` the answer is empty and callers fall back to working
one target at a time: slower, same result. `command_line_test.py` fails loudly when that
happens, so an upgrade cannot slow `pants publish` down unnoticed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pants.base.glob_match_error_behavior import GlobMatchErrorBehavior
from pants.base.specs import Specs
from pants.base.specs_parser import SpecsParser
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import FilteredTargets
from pants.util.logging import LogLevel

logger = logging.getLogger(__name__)

try:
    from pants.engine.internals.options_parsing import _Options
except ImportError:  # a Pants without it: see the module docstring
    _Options = None  # type: ignore[misc,assignment]


@dataclass(frozen=True)
class _CommandLine:
    """What Pants parsed from the command line; None for each part Pants did not let us read."""

    specs: tuple[str, ...] | None
    goals: tuple[str, ...] | None


def _read(options: Any, part: str) -> tuple[str, ...] | None:
    try:
        return tuple(getattr(options.options, part))
    except AttributeError as e:
        logger.debug("cannot read the command line's %s from Pants' options: %s", part, e)
        return None


if _Options is not None:

    @rule(desc="Read the command line", level=LogLevel.DEBUG)
    async def command_line(options: _Options) -> _CommandLine:
        return _CommandLine(_read(options, "specs"), _read(options, "goals"))

else:

    @rule(desc="Read the command line", level=LogLevel.DEBUG)
    async def command_line() -> _CommandLine:
        return _CommandLine(None, None)


@dataclass(frozen=True)
class CommandLineSpecs:
    """The command line's target specs as typed (`src/go::`, `src/go/cmd/api:img`); empty when unknown."""

    specs: tuple[str, ...]


@rule(level=LogLevel.DEBUG)
async def command_line_specs(line: _CommandLine) -> CommandLineSpecs:
    return CommandLineSpecs(line.specs or ())


@dataclass(frozen=True)
class CommandLineGoals:
    """The goals on the command line (`package`, `publish`); None when unknown."""

    goals: tuple[str, ...] | None


@rule(level=LogLevel.DEBUG)
async def command_line_goals(line: _CommandLine) -> CommandLineGoals:
    return CommandLineGoals(line.goals)


@dataclass(frozen=True)
class CommandLineTargets:
    """The targets the command line's specs name (filtered by `--tag` etc. as the goal does)."""

    targets: FilteredTargets


@rule(desc="Find the command line's targets", level=LogLevel.DEBUG)
async def command_line_targets(specs: CommandLineSpecs) -> CommandLineTargets:
    if not specs.specs:
        return CommandLineTargets(FilteredTargets(()))
    # The launcher runs Pants from the build root, where the goal parsed them too. A spec the
    # goal would reject is the goal's to report: here it only makes the batch smaller.
    try:
        parsed = SpecsParser(working_dir=".").parse_specs(
            specs.specs,
            description_of_origin="CLI arguments",
            unmatched_glob_behavior=GlobMatchErrorBehavior.ignore,
        )
    except Exception as e:  # noqa: BLE001
        logger.debug("cannot parse the command line's specs %s: %s", specs.specs, e)
        return CommandLineTargets(FilteredTargets(()))
    return CommandLineTargets(await Get(FilteredTargets, Specs, parsed))


def rules():
    return collect_rules()
