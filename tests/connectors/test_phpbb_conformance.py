"""The conformance kit against the phpbb preset, in both modes, on SQLite, PostgreSQL, MariaDB.

The fixture creates phpBB's user-keyed tables (``connectors.phpbb_schema``) and seeds a small
forum in which everyone is entangled with their neighbours: each person watches, bookmarks and
replies in the next person's topic, is its last poster, edited the previous person's post,
wrote them a private message, befriended them and logged a warning about them. Snapshots show
user ids as ``user#N`` so that a row still pointing at the subject counts as a trace of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors import Connector, ConnectorConfigError, ConnectorRegistry
from connectors.phpbb_schema import USER_COLUMNS, phpbb_metadata
from connectors.testing import (
    SUBJECT,
    ConformanceSuite,
    FaultInjector,
    Person,
    Seeded,
    built_with,
)
from tests.connectors.databases import OneSchemaPerClass, SystemDatabase

ANONYMOUS = 1
PREFIX = "phpbb_"


def forum_rows(people: Sequence[Person]) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {}

    def add(table: str, **values: Any) -> None:
        rows.setdefault(PREFIX + table, []).append(values)

    add("users", user_id=ANONYMOUS, username="Anonymous", username_clean="anonymous",
        user_email="", user_ip="", user_regdate=0)  # fmt: skip
    uids = [i + 2 for i in range(len(people))]
    for i, p in enumerate(people):
        u, nxt, prv = uids[i], uids[(i + 1) % len(uids)], uids[i - 1]
        ip = f"10.1.{i}.1"
        add("users", user_id=u, username=p.username, username_clean=p.username.lower(),
            user_email=p.email, user_ip=ip, user_regdate=1_700_000_000 + i)  # fmt: skip
        add("user_group", group_id=2, user_id=u, user_pending=0)
        add("topics_watch", topic_id=100 + nxt, user_id=u, notify_status=0)
        add("forums_watch", forum_id=u, user_id=u, notify_status=0)
        add("topics_track", user_id=u, topic_id=100 + u, forum_id=u, mark_time=1)
        add("topics_posted", user_id=u, topic_id=100 + nxt, topic_posted=1)
        add("bookmarks", topic_id=100 + nxt, user_id=u)
        add("drafts", draft_id=u, user_id=u, topic_id=100 + u, draft_subject="Draft",
            draft_message="unfinished thoughts")  # fmt: skip
        add("profile_fields_data", user_id=u, pf_phpbb_location="Somewhere")
        add("sessions_keys", key_id=u, user_id=u, last_ip=ip)
        add("reports", report_id=u, post_id=1000 + nxt, user_id=u, report_text="off topic?")
        add("sessions", session_id=f"s{u:031d}", session_user_id=u, session_ip=ip,
            session_browser="Firefox")  # fmt: skip
        add("forums", forum_id=u, forum_name=f"Forum {u}", forum_last_poster_id=u,
            forum_last_poster_name=p.username, forum_last_poster_colour="AA0000")  # fmt: skip
        add("topics", topic_id=100 + u, forum_id=u, topic_title=f"Topic {u}", topic_poster=u,
            topic_first_poster_name=p.username, topic_first_poster_colour="AA0000",
            topic_last_poster_id=nxt, topic_last_poster_name=people[(i + 1) % len(people)].username,
            topic_last_poster_colour="00AA00", topic_delete_user=0)  # fmt: skip
        add("posts", post_id=1000 + u, topic_id=100 + u, forum_id=u, poster_id=u, poster_ip=ip,
            post_username=p.username, post_text=f"first post {u}", post_edit_user=prv,
            post_delete_user=0)  # fmt: skip
        add("posts", post_id=2000 + u, topic_id=100 + nxt, forum_id=nxt, poster_id=u,
            poster_ip=ip, post_username=p.username, post_text=f"reply {u}", post_edit_user=0,
            post_delete_user=nxt)  # fmt: skip
        add("attachments", attach_id=u, post_msg_id=1000 + u, poster_id=u,
            real_filename="photo.jpg")  # fmt: skip
        add("privmsgs", msg_id=u, author_id=u, author_ip=ip, message_subject="hello",
            message_text="are you coming?", message_edit_user=0)  # fmt: skip
        add("privmsgs_to", msg_id=u, user_id=nxt, author_id=u, folder_id=0)
        if nxt != u:
            add("privmsgs_to", msg_id=u, user_id=u, author_id=u, folder_id=-1)
            add("zebra", user_id=u, zebra_id=nxt, friend=1, foe=0)
        add("banlist", ban_id=u, ban_userid=u, ban_ip="", ban_email="", ban_reason="")
        add("log", log_id=u, log_type=3, user_id=u, reportee_id=nxt, log_ip=ip,
            log_operation="LOG_USER_WARNING")  # fmt: skip
    return rows


class PhpbbHarness:
    def __init__(self, db: SystemDatabase, mode: str) -> None:
        self.db = db
        self.metadata = phpbb_metadata(PREFIX, db.schema)
        self.options: dict[str, Any] = {
            "url": db.url,
            "mode": mode,
            "db_schema": db.schema,
            "chunk_size": 3,
        }
        self._user_columns = {PREFIX + t: set(cols) for t, cols in USER_COLUMNS.items()}

    def build(self, **options: Any) -> Connector:
        registry = ConnectorRegistry.from_entry_points()
        return registry.build("forum", "phpbb", {**self.options, **options})

    async def seed(self, people: Sequence[Person]) -> Seeded:
        rows = forum_rows(people)
        await self.db.replace_rows(self.metadata, rows)
        snapshot = await self.snapshot()
        records: dict[Person, frozenset[Any]] = {}
        traces: dict[Person, frozenset[str]] = {}
        for i, p in enumerate(people):
            marker = f"user#{i + 2}"
            records[p] = frozenset(k for k, row in snapshot.items() if marker in row)
            traces[p] = frozenset({p.email, p.username, f"10.1.{i}.1", marker})
        return Seeded(records=records, traces=traces)

    async def snapshot(self) -> Mapping[Any, Any]:
        out: dict[Any, Any] = {}
        async with self.db.engine.connect() as conn:
            for table in self.metadata.sorted_tables:
                ids = self._user_columns[table.name]
                pk = [c.name for c in table.primary_key.columns]
                for row in (await conn.execute(sa.select(table))).mappings():
                    shown = tuple(
                        f"user#{v}" if c in ids else v for c, v in row.items()
                    )  # fmt: skip
                    out[(table.name, tuple(row[c] for c in pk))] = shown
        return out


class PhpbbSuite(OneSchemaPerClass, ConformanceSuite):
    kind = "phpbb"
    identifier_kinds = frozenset({"email"})
    mode = ""

    @classmethod
    def make_harness(cls, database: SystemDatabase) -> PhpbbHarness:
        return PhpbbHarness(database, cls.mode)

    @pytest.fixture
    def transient_fault(
        self, harness: PhpbbHarness, database: SystemDatabase, tmp_path: Path
    ) -> FaultInjector:
        return built_with(harness, url=database.unreachable_url(tmp_path))

    @pytest.fixture
    def permanent_fault(self, harness: PhpbbHarness) -> FaultInjector:
        return built_with(harness, table_prefix="phpbb3_")  # tables that do not exist

    async def test_mirrors_user_delete(self, harness: PhpbbHarness, seeded: Seeded) -> None:
        """What phpBB's user_delete(mode) leaves behind, row by row, for the fixed cast."""
        c = harness.build()
        try:
            outcome = await c.erase(SUBJECT.subject(), "er-phpbb")
        finally:
            await c.aclose()
        after = await harness.snapshot()
        subject_uid = 2  # SUBJECT is first in the cast
        mine = f"user#{subject_uid}"
        left = {k: row for k, row in after.items() if mine in row}
        assert not left, f"rows still point at the subject: {sorted(left)[:5]}"
        posts = {k[1][0]: row for k, row in after.items() if k[0] == "phpbb_posts"}
        if self.mode == "retain":
            assert posts[1000 + subject_uid][3] == "user#1"  # poster_id → anonymous
            assert posts[1000 + subject_uid][5] == "Guest"  # post_username rewritten
            assert posts[1000 + subject_uid][4] == ""  # IP blanked (beyond phpBB)
            assert outcome.counts["posts.anonymized"] == 2
        else:
            assert 1000 + subject_uid not in posts and 2000 + subject_uid not in posts
            assert outcome.counts["posts.deleted"] == 2
        # A bystander's post the subject had edited stays, its editor now anonymous.
        assert posts[1000 + subject_uid + 1][7] == "user#1"
        assert ("phpbb_users", (ANONYMOUS,)) in after
        counts = outcome.counts
        for label in ("user_group", "sessions", "zebra", "banlist", "drafts", "privmsgs_received"):
            assert counts[f"{label}.deleted"] >= 1, label


class TestPhpbbRetainOnSqlite(PhpbbSuite):
    backend, mode = "sqlite", "retain"


class TestPhpbbRemoveOnSqlite(PhpbbSuite):
    backend, mode = "sqlite", "remove"


@pytest.mark.services
@pytest.mark.slow  # ~10 s a class; make check runs the suite on SQLite
class TestPhpbbRetainOnPostgres(PhpbbSuite):
    backend, mode = "postgresql", "retain"


@pytest.mark.services
@pytest.mark.slow  # ~10 s a class; make check runs the suite on SQLite
class TestPhpbbRemoveOnPostgres(PhpbbSuite):
    backend, mode = "postgresql", "remove"


@pytest.mark.services
@pytest.mark.slow  # ~10 s a class; make check runs the suite on SQLite
class TestPhpbbRetainOnMariadb(PhpbbSuite):
    backend, mode = "mariadb", "retain"


@pytest.mark.services
@pytest.mark.slow  # ~10 s a class; make check runs the suite on SQLite
class TestPhpbbRemoveOnMariadb(PhpbbSuite):
    backend, mode = "mariadb", "remove"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mode": "shred"}, "mode"),
        ({"table_prefix": "phpbb_; DROP"}, "table_prefix"),
        ({"db_schema": "a b"}, "db_schema"),
        ({"post_username": ""}, "post_username"),
        ({"anonymous_user_id": 0}, "anonymous_user_id"),
        ({"max_rows": 0}, "max_rows"),
    ],
)
def test_bad_options_fail_at_load_with_the_system_name(
    change: dict[str, Any], message: str
) -> None:
    options = {"url": "sqlite:///forum.db", "mode": "retain", **change}
    with pytest.raises(ConnectorConfigError) as err:
        ConnectorRegistry.from_entry_points().build("forum", "phpbb", options)
    assert "system 'forum'" in str(err.value) and message in str(err.value)
