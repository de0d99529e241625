"""``migrations.HEAD``, which the ledger reads to tell a current schema without Alembic, is
the head Alembic itself finds: a new migration that forgets to move it fails here."""

from __future__ import annotations

from alembic.script import ScriptDirectory

import migrations
from ledger.database import alembic_config, known_revisions


def test_head_is_alembics_head() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert set(script.get_heads()) == {migrations.HEAD}
    assert migrations.HEAD in known_revisions()


def test_the_revisions_read_without_alembic_are_alembics() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert known_revisions() == {rev.revision for rev in script.walk_revisions()}
