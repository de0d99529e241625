"""Operations called in process, on a SQLite ledger, with a runtime whose Temporal must not
be asked: what these tests see is decided before any workflow is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client

from ledger import Ledger
from lethe.keys import Keyring
from lethe.runtime import Runtime
from lethe.settings import load_settings


@dataclass
class NoTemporal(Runtime):
    async def client(self) -> Client:
        raise AssertionError("no workflow may be asked or started here")


@pytest.fixture
def runtime(sqlite_ledger: Ledger, bare_home: Path, keys: Keyring) -> Runtime:
    return NoTemporal(load_settings(), keys, sqlite_ledger)
