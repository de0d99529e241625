"""phpBB: a preset of the ``sql`` connector that mirrors phpBB's own ``user_delete()``.

The user is found by address (``users.user_email``, by the email matching policy: letters A-Z
in either case, accents precomposed or decomposed) and everything keyed by
their ``user_id`` follows, in one transaction, in either of phpBB's two modes:

``retain``  posts, topics, forums' "last post" and attachments are kept under the anonymous
            user (``anonymous_user_id``) with the poster's name rewritten to ``post_username``
            (phpBB's ``$retain_username = false``: the name would otherwise identify them)
``remove``  the user's posts and attachment rows are deleted; topics and forums that name
            them as first or last poster are re-pointed at the anonymous user

Both modes delete the user row and their rows in user_group, topics_watch, forums_watch,
topics_track, topics_posted, bookmarks, drafts, profile_fields_data, sessions, sessions_keys,
reports they filed, zebra (both directions), banlist (``ban_userid``), private messages
delivered to them (``privmsgs_to``), and log entries about them (``reportee_id``); they re-point
at the anonymous user the log entries they caused, the private messages they wrote, and posts,
topics and messages they edited or deleted, exactly as phpBB does.

Beyond phpBB: the IP addresses kept in retained posts, log entries and messages they wrote are
blanked (phpBB keeps them; an IP address is personal data).

Each erase keeps its receipt in the board's database, in the erase's own transaction
(``{table_prefix}lethe_erasure_receipts`` in ``db_schema``, or ``receipts_table``), as ``sql``
does: a repeat after a worker died replays what the first attempt changed.

Not mirrored (phpBB does these in PHP after the SQL): recounting post and topic totals
(run *Resynchronise* in the ACP), deleting topics a ``remove`` left empty, removing attachment
files from disk, deleting private messages that no one else holds any more, and resetting the
"reported" flags of posts they reported.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from ._protocol import ConnectorOptions
from .sql import DEFAULT_RECEIPTS_TABLE, SqlConnector, SqlOptions

__all__ = ["PhpbbConnector", "PhpbbOptions", "phpbb_table_map"]

_PREFIX = re.compile(r"^[A-Za-z0-9_]{0,30}$")
_SCHEMA = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

#: Tables phpBB clears with ``DELETE … WHERE user_id IN (…)``, present in every 3.3 install.
USER_KEYED_TABLES = (
    "user_group",
    "topics_watch",
    "forums_watch",
    "topics_track",
    "topics_posted",
    "bookmarks",
    "drafts",
    "profile_fields_data",
    "sessions_keys",
    "reports",
)


class PhpbbOptions(ConnectorOptions):
    url: str = Field(description="SQLAlchemy URL of the phpBB database (url_env in lethe.toml)")
    mode: Literal["retain", "remove"] = Field(
        description="retain: keep posts under the anonymous user; remove: delete them"
    )
    table_prefix: str = "phpbb_"
    db_schema: str | None = Field(default=None, description="PostgreSQL schema, if not default")
    anonymous_user_id: int = Field(default=1, ge=1)
    post_username: str = Field(
        default="Guest", min_length=1, max_length=255, description="Name kept posts show"
    )
    chunk_size: int = Field(default=500, ge=1, le=10_000)
    receipts_table: str | None = Field(
        default=None,
        description="Where erases keep their receipts ([schema.]table; default"
        " {table_prefix}lethe_erasure_receipts in db_schema)",
    )

    @field_validator("table_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not _PREFIX.match(v):
            raise ValueError("table_prefix may hold letters, digits and '_' only")
        return v

    @field_validator("db_schema")
    @classmethod
    def _schema(cls, v: str | None) -> str | None:
        if v is not None and not _SCHEMA.match(v):
            raise ValueError("db_schema must be a plain SQL identifier")
        return v


def phpbb_table_map(opts: PhpbbOptions) -> list[dict[str, Any]]:
    """The ``sql`` table map equivalent to phpBB's ``user_delete(mode)``."""
    prefix = f"{opts.db_schema}.{opts.table_prefix}" if opts.db_schema else opts.table_prefix
    anon = opts.anonymous_user_id
    name = opts.post_username

    def t(table: str) -> str:
        return prefix + table

    users = f"{t('users')}.user_id"

    def follow(table: str, key: str, action: str, label: str, **extra: Any) -> dict[str, Any]:
        rule = {"table": t(table), "key": key, "parent": users, "action": action}
        return {**rule, "label": label, **extra}

    def to_anonymous(table: str, key: str, label: str, **also: Any) -> dict[str, Any]:
        return follow(table, key, "anonymize", label, set={key: anon, **also})

    rules: list[dict[str, Any]] = [
        {
            "table": t("users"),
            "key": "user_email",
            "identifier": "email",
            "action": "delete",
            "label": "users",
        }
    ]
    if opts.mode == "retain":
        rules += [
            to_anonymous("posts", "poster_id", "posts", post_username=name, poster_ip=""),
            follow("attachments", "poster_id", "anonymize", "attachments", set={"poster_id": anon}),
        ]
    else:
        rules += [
            follow("posts", "poster_id", "delete", "posts"),
            follow("attachments", "poster_id", "delete", "attachments"),
        ]
    rules += [
        to_anonymous(
            "topics",
            "topic_poster",
            "topics_started",
            topic_first_poster_name=name,
            topic_first_poster_colour="",
        ),
        to_anonymous(
            "topics",
            "topic_last_poster_id",
            "topics_last_post",
            topic_last_poster_name=name,
            topic_last_poster_colour="",
        ),
        to_anonymous(
            "forums",
            "forum_last_poster_id",
            "forums_last_post",
            forum_last_poster_name=name,
            forum_last_poster_colour="",
        ),
        *(follow(table, "user_id", "delete", table) for table in USER_KEYED_TABLES),
        to_anonymous("posts", "post_edit_user", "posts_edited"),
        to_anonymous("posts", "post_delete_user", "posts_deleted_by"),
        to_anonymous("topics", "topic_delete_user", "topics_deleted_by"),
        to_anonymous("privmsgs", "message_edit_user", "privmsgs_edited"),
        follow("log", "reportee_id", "delete", "log_about_user"),
        to_anonymous("log", "user_id", "log_by_user", log_ip=""),
        follow("zebra", "user_id", "delete", "zebra"),
        follow("zebra", "zebra_id", "delete", "zebra_of_others"),
        follow("banlist", "ban_userid", "delete", "banlist"),
        follow("sessions", "session_user_id", "delete", "sessions"),
        follow("privmsgs_to", "user_id", "delete", "privmsgs_received"),
        to_anonymous("privmsgs_to", "author_id", "privmsgs_sent_copies"),
        to_anonymous("privmsgs", "author_id", "privmsgs_written", author_ip=""),
    ]
    return rules


class PhpbbConnector(SqlConnector):
    kind: ClassVar[str] = "phpbb"
    version: ClassVar[str] = "2"
    Options: ClassVar[type[ConnectorOptions]] = PhpbbOptions

    def __init__(self, name: str, options: PhpbbOptions) -> None:
        schema = f"{options.db_schema}." if options.db_schema else ""
        receipts = (
            options.receipts_table or f"{schema}{options.table_prefix}{DEFAULT_RECEIPTS_TABLE}"
        )
        sql_options = SqlOptions.model_validate(
            {
                "url": options.url,
                "tables": phpbb_table_map(options),
                "max_items": options.max_items,
                "chunk_size": options.chunk_size,
                "receipts_table": receipts,
            }
        )
        super().__init__(name, sql_options)
        #: The phpBB options it was configured with; ``options`` are the SQL ones it runs.
        self.preset = options
