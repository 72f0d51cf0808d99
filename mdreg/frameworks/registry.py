"""The framework plugin registry: entry-point group ``mdreg.frameworks``.

Built-in plugins are declared in mdreg's own pyproject.toml under the same group, so
they load exactly as third-party ones do. A duplicate name is an error; a plugin that
fails to import is skipped with a warning naming it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mdreg.errors import DetectionError, MdregError, UsageError
from mdreg.frameworks.base import Detection, Framework
from mdreg.frameworks.probe import Probe

if TYPE_CHECKING:
    import importlib.metadata

ENTRY_POINT_GROUP = "mdreg.frameworks"


class PluginError(MdregError):
    """Two plugins claim one name, or a plugin is not a Framework."""


@dataclass
class Registry:
    plugins: dict[str, Framework] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def from_entry_points(
        cls, entry_points: Iterable[importlib.metadata.EntryPoint] | None = None
    ) -> Registry:
        """Each entry point's plugin class, in ``importlib.metadata``'s order; the group is
        read by ``_entry_points`` (the same answer without importing importlib.metadata)."""
        from mdreg.frameworks._entry_points import entry_points as group_entry_points

        reg = cls()
        eps: Iterable[Any] = (
            entry_points if entry_points is not None else group_entry_points(ENTRY_POINT_GROUP)
        )
        for ep in eps:
            try:
                plugin_cls = ep.load()
            except Exception as exc:  # noqa: BLE001 - a broken third-party plugin must not stop mdreg
                reg.warnings.append(
                    f"framework plugin {ep.name!r} ({ep.value}) failed to load: "
                    f"{type(exc).__name__}: {exc}"
                )
                continue
            reg.add(plugin_cls, source=ep.value)
        if not reg.plugins:
            reg.warnings.append(
                "no framework plugins are registered: is mdreg installed (pip install -e .)?"
            )
        return reg

    def add(self, plugin_cls: type[Framework], source: str = "") -> None:
        if not (isinstance(plugin_cls, type) and issubclass(plugin_cls, Framework)):
            raise PluginError(
                f"framework plugin {source or plugin_cls!r} is not a Framework subclass"
            )
        missing = sorted(getattr(plugin_cls, "__abstractmethods__", ()))
        if missing:
            raise PluginError(
                f"framework plugin {source or plugin_cls!r} does not write {', '.join(missing)}"
            )
        plugin = plugin_cls()
        if not plugin.name:
            raise PluginError(f"framework plugin {source or plugin_cls!r} has no name")
        if plugin.name in self.plugins:
            other = type(self.plugins[plugin.name])
            raise PluginError(
                f"two framework plugins are named {plugin.name!r}: "
                f"{other.__module__}.{other.__qualname__} and {source}"
            )
        self.plugins[plugin.name] = plugin

    def get(self, name: str) -> Framework:
        try:
            return self.plugins[name]
        except KeyError:
            known = ", ".join(sorted(self.plugins)) or "none"
            raise UsageError(f"unknown framework {name!r} (known: {known})") from None

    def detect(
        self, path: Path, override: str | None = None, *, probe: Probe | None = None
    ) -> tuple[Framework, Detection, Probe]:
        """Pick the plugin for a model file from its bytes, or the one ``override`` names
        (``probe``: one already made of ``path``)."""
        probe = probe or Probe.of(path)
        if override:
            plugin = self.get(override)
            claim = plugin.sniff(probe)
            evidence = claim.evidence if claim else "no evidence in the file's bytes"
            return (
                plugin,
                Detection(plugin.name, 1.0, f"chosen with --framework ({evidence})"),
                probe,
            )
        claims = sorted(
            (c for p in self.plugins.values() if (c := p.sniff(probe)) and c.confidence > 0),
            key=lambda c: -c.confidence,
        )
        if not claims:
            from mdreg.scan.gate import refuse_unclaimed

            refuse_unclaimed(path, probe.pickle)
            raise DetectionError(
                f"{path}: cannot tell the framework: {probe.describe()}; "
                "pass --framework NAME if you know it, or --framework other "
                "for a score.py template to fill in"
            )
        if len(claims) > 1 and claims[0].confidence == claims[1].confidence:
            tied = " / ".join(
                f"{c.framework} ({c.evidence})"
                for c in claims
                if c.confidence == claims[0].confidence
            )
            raise DetectionError(f"{path}: ambiguous framework: {tied}; pass --framework NAME")
        best = claims[0]
        return self.plugins[best.framework], best, probe


_default: Registry | None = None


def default_registry() -> Registry:
    global _default
    if _default is None:
        _default = Registry.from_entry_points()
    return _default
