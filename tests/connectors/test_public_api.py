"""``connectors`` exports what a connector author uses, and says so in its docstring."""

from __future__ import annotations

import re
import types

import connectors


def test_the_package_exports_exactly_its_curated_api() -> None:
    for name in connectors.__all__:  # each loads when first asked for (PEP 562)
        getattr(connectors, name)
    assert set(dir(connectors)) == set(connectors.__all__)
    public = {
        name
        for name, value in vars(connectors).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(connectors.__all__)


def test_the_docstring_maps_every_exported_name() -> None:
    doc = connectors.__doc__ or ""
    mapped = set(re.findall(r"[A-Za-z_]+", doc[doc.index("the contract") :]))
    assert set(connectors.__all__) <= mapped, set(connectors.__all__) - mapped
