"""Pseudonyms: keyed, stable, opaque (``lethe.pseudonym``)."""

from __future__ import annotations

import re
import secrets

import pytest

from lethe.pseudonym import Pseudonymizer


def test_pseudonyms_are_stable_keyed_and_opaque() -> None:
    key = secrets.token_bytes(32)
    p = Pseudonymizer(key)
    ref = p.subject_ref("ada@example.org")
    assert ref == Pseudonymizer(key).subject_ref("ada@example.org")
    assert ref != Pseudonymizer(secrets.token_bytes(32)).subject_ref("ada@example.org")
    assert ref != p.subject_ref("nada@example.org")
    # Opaque: 32 hex digits, which no address fits in ("ada" could occur by chance: a, d
    # are hex digits; that check failed about once in 150 runs).
    assert re.fullmatch(r"ps_[0-9a-f]{32}", ref)
    with pytest.raises(ValueError):
        Pseudonymizer(b"short")
