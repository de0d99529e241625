"""The part of phpBB 3.3's schema that ``user_delete()`` touches, as SQLAlchemy tables.

Column names are phpBB's; types are simplified (phpBB uses unsigned integers and fixed
lengths). Tests create it on SQLite, PostgreSQL and MariaDB to run the ``phpbb`` connector
against; the demo's forum is built from it. Only the columns the connector reads or writes,
plus enough content to see that bystanders' rows stay byte-identical, are here.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

__all__ = ["USER_COLUMNS", "phpbb_metadata"]

#: For each table (without prefix), the columns that hold a user id.
USER_COLUMNS: dict[str, tuple[str, ...]] = {
    "users": ("user_id",),
    "user_group": ("user_id",),
    "topics_watch": ("user_id",),
    "forums_watch": ("user_id",),
    "topics_track": ("user_id",),
    "topics_posted": ("user_id",),
    "bookmarks": ("user_id",),
    "drafts": ("user_id",),
    "profile_fields_data": ("user_id",),
    "sessions_keys": ("user_id",),
    "reports": ("user_id",),
    "sessions": ("session_user_id",),
    "forums": ("forum_last_poster_id",),
    "topics": ("topic_poster", "topic_last_poster_id", "topic_delete_user"),
    "posts": ("poster_id", "post_edit_user", "post_delete_user"),
    "attachments": ("poster_id",),
    "privmsgs": ("author_id", "message_edit_user"),
    "privmsgs_to": ("user_id", "author_id"),
    "zebra": ("user_id", "zebra_id"),
    "banlist": ("ban_userid",),
    "log": ("user_id", "reportee_id"),
}


def phpbb_metadata(prefix: str = "phpbb_", schema: str | None = None) -> sa.MetaData:
    md = sa.MetaData(schema=schema)
    uint = sa.Integer
    name = sa.String(255)

    def table(short: str, *columns: sa.Column[Any]) -> None:
        sa.Table(prefix + short, md, *columns)

    def pk(column: str) -> sa.Column[Any]:
        return sa.Column(column, uint, primary_key=True, autoincrement=False)

    def col(column: str, type_: Any = uint) -> sa.Column[Any]:
        return sa.Column(column, type_, nullable=False)

    table(
        "users",
        pk("user_id"),
        col("username", name),
        col("username_clean", name),
        col("user_email", sa.String(100)),
        col("user_ip", sa.String(40)),
        col("user_regdate"),
    )
    table("user_group", pk("group_id"), pk("user_id"), col("user_pending"))
    table("topics_watch", pk("topic_id"), pk("user_id"), col("notify_status"))
    table("forums_watch", pk("forum_id"), pk("user_id"), col("notify_status"))
    table("topics_track", pk("user_id"), pk("topic_id"), col("forum_id"), col("mark_time"))
    table("topics_posted", pk("user_id"), pk("topic_id"), col("topic_posted"))
    table("bookmarks", pk("topic_id"), pk("user_id"))
    table(
        "drafts",
        pk("draft_id"),
        col("user_id"),
        col("topic_id"),
        col("draft_subject", name),
        col("draft_message", sa.Text),
    )
    table("profile_fields_data", pk("user_id"), col("pf_phpbb_location", name))
    table("sessions_keys", pk("key_id"), pk("user_id"), col("last_ip", sa.String(40)))
    table("reports", pk("report_id"), col("post_id"), col("user_id"), col("report_text", sa.Text))
    table(
        "sessions",
        sa.Column("session_id", sa.String(32), primary_key=True),
        col("session_user_id"),
        col("session_ip", sa.String(40)),
        col("session_browser", sa.String(150)),
    )
    table(
        "forums",
        pk("forum_id"),
        col("forum_name", name),
        col("forum_last_poster_id"),
        col("forum_last_poster_name", name),
        col("forum_last_poster_colour", sa.String(6)),
    )
    table(
        "topics",
        pk("topic_id"),
        col("forum_id"),
        col("topic_title", name),
        col("topic_poster"),
        col("topic_first_poster_name", name),
        col("topic_first_poster_colour", sa.String(6)),
        col("topic_last_poster_id"),
        col("topic_last_poster_name", name),
        col("topic_last_poster_colour", sa.String(6)),
        col("topic_delete_user"),
    )
    table(
        "posts",
        pk("post_id"),
        col("topic_id"),
        col("forum_id"),
        col("poster_id"),
        col("poster_ip", sa.String(40)),
        col("post_username", name),
        col("post_text", sa.Text),
        col("post_edit_user"),
        col("post_delete_user"),
    )
    table(
        "attachments",
        pk("attach_id"),
        col("post_msg_id"),
        col("poster_id"),
        col("real_filename", name),
    )
    table(
        "privmsgs",
        pk("msg_id"),
        col("author_id"),
        col("author_ip", sa.String(40)),
        col("message_subject", name),
        col("message_text", sa.Text),
        col("message_edit_user"),
    )
    table("privmsgs_to", pk("msg_id"), pk("user_id"), col("author_id"), col("folder_id"))
    table("zebra", pk("user_id"), pk("zebra_id"), col("friend"), col("foe"))
    table(
        "banlist",
        pk("ban_id"),
        col("ban_userid"),
        col("ban_ip", sa.String(40)),
        col("ban_email", sa.String(100)),
        col("ban_reason", name),
    )
    table(
        "log",
        pk("log_id"),
        col("log_type"),
        col("user_id"),
        col("reportee_id"),
        col("log_ip", sa.String(40)),
        col("log_operation", sa.Text),
    )
    return md
