"""Finding connector classes and building configured systems from them.

Classes come from the entry-point group ``lethe.connectors`` (what ``pip install`` registers)
or from a ``module:Class`` reference written straight into the configuration.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any, cast

from pydantic import ValidationError

from ._errors import ConnectorConfigError, MissingExtra
from ._protocol import CAPABILITY_METHODS, BaseConnector, Capability, Connector, ConnectorOptions

__all__ = ["ENTRY_POINT_GROUP", "ConnectorRegistry", "format_validation_error"]

ENTRY_POINT_GROUP = "lethe.connectors"


def format_validation_error(err: ValidationError) -> str:
    """One line per problem, without echoing input values (they may be secrets)."""
    parts = []
    for e in err.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in e["loc"]) or "options"
        parts.append(f"{where}: {e['msg']}")
    return "; ".join(parts)


def _check_class(ref: str, obj: object) -> type[Connector]:
    if not isinstance(obj, type):
        raise ConnectorConfigError(f"connector {ref!r} is not a class")
    for attr in ("kind", "version", "capabilities", "Options", "erase", "check"):
        if not hasattr(obj, attr):
            raise ConnectorConfigError(f"connector {ref!r} lacks {attr!r}")
    options = getattr(obj, "Options", None)
    if not (isinstance(options, type) and issubclass(options, ConnectorOptions)):
        raise ConnectorConfigError(f"connector {ref!r}: Options must subclass ConnectorOptions")
    capabilities = getattr(obj, "capabilities", None)
    if not isinstance(capabilities, frozenset) or not all(
        isinstance(c, Capability) for c in capabilities
    ):
        raise ConnectorConfigError(
            f"connector {ref!r}: capabilities must be a frozenset of Capability"
        )
    for capability in sorted(capabilities):
        method = CAPABILITY_METHODS[capability]
        mine = getattr(obj, method, None)
        if mine is None or mine is getattr(BaseConnector, method):
            raise ConnectorConfigError(
                f"connector {ref!r} claims {capability.value!r} but does not implement {method}()"
            )
    return cast("type[Connector]", obj)


class ConnectorRegistry:
    """Connector classes by kind."""

    def __init__(
        self,
        classes: Mapping[str, type[Connector]] | None = None,
        missing: Mapping[str, str] | None = None,
    ) -> None:
        self._classes: dict[str, type[Connector]] = dict(classes or {})
        #: Kinds whose optional client library is not installed: why, for whoever uses one.
        self._missing: dict[str, str] = dict(missing or {})

    @classmethod
    def from_entry_points(cls, group: str = ENTRY_POINT_GROUP) -> ConnectorRegistry:
        return cls.from_entries(entry_points(group=group))

    @classmethod
    def from_entries(cls, entries: Iterable[EntryPoint]) -> ConnectorRegistry:
        seen: dict[str, EntryPoint] = {}
        classes: dict[str, type[Connector]] = {}
        missing: dict[str, str] = {}
        for ep in entries:
            if ep.name in seen:
                if seen[ep.name].value == ep.value:
                    continue  # the same distribution seen twice on sys.path
                raise ConnectorConfigError(
                    f"two plugins register the connector {ep.name!r}: "
                    f"{seen[ep.name].value} and {ep.value}; uninstall one"
                )
            seen[ep.name] = ep
            try:
                loaded = ep.load()
            except MissingExtra as exc:
                missing[ep.name] = str(exc)
                continue
            except Exception as exc:
                raise ConnectorConfigError(
                    f"connector plugin {ep.name!r} ({ep.value}) failed to import: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            cls_ = _check_class(ep.name, loaded)
            if cls_.kind != ep.name:
                raise ConnectorConfigError(
                    f"connector plugin {ep.name!r} ({ep.value}) declares kind {cls_.kind!r}; "
                    "the entry-point name and the class's kind must agree"
                )
            classes[ep.name] = cls_
        return cls(classes, missing)

    @staticmethod
    def validate_class(ref: str, obj: object) -> type[Connector]:
        """``obj`` as a connector class, or :class:`ConnectorConfigError` saying what is wrong."""
        return _check_class(ref, obj)

    def kinds(self) -> dict[str, type[Connector]]:
        return dict(sorted(self._classes.items()))

    def resolve(self, ref: str) -> type[Connector]:
        """A class by registered kind, or by ``package.module:Class``."""
        if ref in self._classes:
            return self._classes[ref]
        if ref in self._missing:
            raise ConnectorConfigError(self._missing[ref])
        if ":" in ref:
            module_name, _, attr = ref.partition(":")
            try:
                obj: Any = importlib.import_module(module_name)
                for part in attr.split("."):
                    obj = getattr(obj, part)
            except (ImportError, AttributeError) as exc:
                raise ConnectorConfigError(f"cannot import connector {ref!r}: {exc}") from exc
            return _check_class(ref, obj)
        known = ", ".join(sorted(self._classes)) or "none installed"
        raise ConnectorConfigError(f"unknown connector {ref!r} (known: {known})")

    def build(self, system: str, ref: str, options: Mapping[str, Any]) -> Connector:
        """Validate ``options`` and construct the connector for ``system``."""
        try:
            cls = self.resolve(ref)
        except ConnectorConfigError as exc:
            raise ConnectorConfigError(f"system {system!r}: {exc}") from None
        try:
            opts = cls.Options.model_validate(dict(options))
        except ValidationError as exc:
            raise ConnectorConfigError(
                f"system {system!r} ({ref}): {format_validation_error(exc)}"
            ) from None
        try:
            return cls(system, opts)  # type: ignore[call-arg]
        except ConnectorConfigError as exc:
            raise ConnectorConfigError(f"system {system!r} ({ref}): {exc}") from None
