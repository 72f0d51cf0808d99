"""Help text worked out only when help is shown, so that running a command costs nothing
for it: the choices of an option whose values come from installed plugins or from a
module the command imports only when it runs."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from typer.core import TyperCommand


class _ChoicesInHelp(TyperCommand):
    """A command whose options' help ends with their choices (``choices``: parameter
    name -> a function listing them), looked up when ``--help`` is formatted."""

    choices: ClassVar[dict[str, Callable[[], Iterable[str]]]] = {}

    def format_help(self, ctx: Any, formatter: Any) -> None:
        for param in self.params:
            find = self.choices.get(param.name or "")
            help_text = getattr(param, "help", None)
            if find is not None and help_text and "Choices:" not in help_text:
                param.help = f"{help_text}  Choices: {', '.join(find())}."  # type: ignore[attr-defined]
        super().format_help(ctx, formatter)


def choices_in_help(**choices: Callable[[], Iterable[str]]) -> type[TyperCommand]:
    """The command class (``@app.command(cls=...)``) listing each named option's
    choices in its help."""
    return type("ChoicesInHelp", (_ChoicesInHelp,), {"choices": choices})


def framework_names() -> list[str]:
    """The installed framework plugins' names, as the registry finds them (the entry-point
    group read without importing a plugin)."""
    from mdreg.frameworks._entry_points import entry_points

    # registry.ENTRY_POINT_GROUP, without importing the registry (and the plugin base)
    return list(dict.fromkeys(ep.name for ep in entry_points("mdreg.frameworks")))


def use_case_types() -> tuple[str, ...]:
    from mdreg.artifact.metadata import USE_CASE_TYPES

    return USE_CASE_TYPES
