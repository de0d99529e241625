"""Four local systems for the demo, seeded with the subject and with other people.

    forum        a phpBB forum (the schema subset in connectors.phpbb_schema) on SQLite, erased
                 by the phpbb connector in retain mode: posts kept under the anonymous user
    crm          contacts and notes erased; invoices retained 10 years (a legal obligation:
                 GDPR Art. 17(3)(b) for a GDPR request, CCPA §1798.105(d)(8) for a CCPA one)
    newsletter   subscribers and delivery log erased
    backups      nightly copies of the CRM, kept beyond use until rotation (35 days)

With ``stores`` (what ``lethe demo`` runs), two more:

    uploads      an S3 bucket (moto's S3 server, started by the demo): everyone's avatars, in
                 several versions, erased; a signed contract under a COMPLIANCE Object Lock,
                 retained until the lock's date
    archive      a nightly archive encrypted per person (crypto_shred): the person's key is
                 destroyed, their records in the archive become unreadable, everyone else's
                 still restore; kept (unreadable) until the archive rotates

The seeding remembers which rows are the subject's, so that after the erasure the demo can
check, row by row, that nobody else's data changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateTable

from connectors.crypto_shred import key_id_of, key_table, seal, unseal
from connectors.phpbb_schema import phpbb_metadata
from lethe.settings import SystemConfig

__all__ = [
    "BYSTANDERS",
    "S3_SECRET_ENV",
    "SUBJECT",
    "DemoPerson",
    "DemoSystems",
    "check_bystanders",
    "check_stores",
    "restore_archive",
    "seed_demo_systems",
]


@dataclass(frozen=True)
class DemoPerson:
    email: str
    name: str
    username: str


SUBJECT = DemoPerson("ada@example.org", "Ada Byron", "ada_b")
BYSTANDERS = (
    DemoPerson("grace@example.org", "Grace Hopper", "amazing_grace"),
    DemoPerson("nada@example.org", "Nada Nadal", "nada"),  # contains the subject's address
    DemoPerson("alan@example.net", "Alan Turing", "turing"),
    DemoPerson("ADA@example.org.uk", "Ada Other", "ada_uk"),  # a different address entirely
)

FORUM_SCHEMA = ";\n".join(
    str(CreateTable(table).compile(dialect=sqlite.dialect())).strip()
    for table in phpbb_metadata().sorted_tables
)
CRM_SCHEMA = """
CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT NOT NULL, full_name TEXT NOT NULL,
                       phone TEXT, created_at TEXT NOT NULL);
CREATE TABLE notes (id INTEGER PRIMARY KEY, contact_id INTEGER NOT NULL REFERENCES contacts(id),
                    body TEXT NOT NULL);
CREATE TABLE invoices (id INTEGER PRIMARY KEY, customer_email TEXT NOT NULL,
                       customer_name TEXT NOT NULL, amount_cents INTEGER NOT NULL,
                       issued_on TEXT NOT NULL);
"""
NEWSLETTER_SCHEMA = """
CREATE TABLE subscribers (id INTEGER PRIMARY KEY, email TEXT NOT NULL, subscribed_at TEXT NOT NULL,
                          status TEXT NOT NULL);
CREATE TABLE deliveries (id INTEGER PRIMARY KEY,
                         subscriber_id INTEGER NOT NULL REFERENCES subscribers(id),
                         campaign TEXT NOT NULL);
"""

#: Per system and table: the primary-key column, to compare rows before and after.
PRIMARY_KEYS: dict[str, dict[str, tuple[str, ...]]] = {
    "forum": {
        "phpbb_users": ("user_id",),
        "phpbb_posts": ("post_id",),
        "phpbb_topics_watch": ("topic_id", "user_id"),
    },
    "crm": {"contacts": ("id",), "notes": ("id",), "invoices": ("id",)},
    "newsletter": {"subscribers": ("id",), "deliveries": ("id",)},
}


@dataclass
class DemoSystems:
    root: Path
    systems: dict[str, SystemConfig]
    subject_rows: dict[str, dict[str, set[tuple[Any, ...]]]] = field(default_factory=dict)
    snapshot: dict[str, dict[str, dict[tuple[Any, ...], tuple[Any, ...]]]] = field(
        default_factory=dict
    )
    backup_hashes: dict[str, str] = field(default_factory=dict)
    #: With ``stores``: the bucket's objects of other people ((key, version) -> body), the
    #: subject's versions, and the archive's records ((key id -> whose address)).
    s3_endpoint: str | None = None
    s3_others: dict[tuple[str, str], bytes] = field(default_factory=dict)
    s3_subject: set[tuple[str, str]] = field(default_factory=set)
    s3_locked: set[tuple[str, str]] = field(default_factory=set)
    archive_owners: dict[str, str] = field(default_factory=dict)

    def db(self, system: str) -> Path:
        return self.root / f"{system}.db"


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def _seed_forum(conn: sqlite3.Connection, people: list[DemoPerson]) -> dict[str, set[Any]]:
    conn.executescript(FORUM_SCHEMA)
    conn.execute("INSERT INTO phpbb_users VALUES (1, 'Anonymous', 'anonymous', '', '', 0)")
    mine: dict[str, set[Any]] = {
        "phpbb_users": set(),
        "phpbb_posts": set(),
        "phpbb_topics_watch": set(),
    }
    post_id = 100
    for i, p in enumerate(people, start=2):
        conn.execute(
            "INSERT INTO phpbb_users VALUES (?, ?, ?, ?, ?, ?)",
            (i, p.username, p.username.lower(), p.email, f"192.0.2.{i}", 1700000000 + i),
        )
        for topic in (1, 2):
            post_id += 1
            conn.execute(
                "INSERT INTO phpbb_posts VALUES (?, ?, 1, ?, ?, ?, ?, 0, 0)",
                (post_id, topic, i, f"192.0.2.{i}", p.username, f"Post {post_id} on {topic}"),
            )
            if p is SUBJECT:
                mine["phpbb_posts"].add((post_id,))
        conn.execute("INSERT INTO phpbb_topics_watch VALUES (1, ?, 0)", (i,))
        if p is SUBJECT:
            mine["phpbb_users"].add((i,))
            mine["phpbb_topics_watch"].add((1, i))
    return mine


def _seed_crm(conn: sqlite3.Connection, people: list[DemoPerson]) -> dict[str, set[Any]]:
    conn.executescript(CRM_SCHEMA)
    mine: dict[str, set[Any]] = {"contacts": set(), "notes": set(), "invoices": set()}
    note = invoice = 0
    for i, p in enumerate(people, start=1):
        conn.execute(
            "INSERT INTO contacts VALUES (?, ?, ?, ?, ?)",
            (i, p.email, p.name, f"+44 20 7946 0{i:03d}", "2024-05-01"),
        )
        for _ in range(2):
            note += 1
            conn.execute(
                "INSERT INTO notes VALUES (?, ?, ?)", (note, i, f"called about order {note}")
            )
            invoice += 1
            conn.execute(
                "INSERT INTO invoices VALUES (?, ?, ?, ?, ?)",
                (invoice, p.email, p.name, 1000 * invoice, "2025-03-01"),
            )
            if p is SUBJECT:
                mine["notes"].add((note,))
                mine["invoices"].add((invoice,))
        if p is SUBJECT:
            mine["contacts"].add((i,))
    return mine


def _seed_newsletter(conn: sqlite3.Connection, people: list[DemoPerson]) -> dict[str, set[Any]]:
    conn.executescript(NEWSLETTER_SCHEMA)
    mine: dict[str, set[Any]] = {"subscribers": set(), "deliveries": set()}
    delivery = 0
    for i, p in enumerate(people, start=1):
        conn.execute(
            "INSERT INTO subscribers VALUES (?, ?, ?, 'active')", (i, p.email, "2025-01-01")
        )
        for campaign in ("spring", "autumn"):
            delivery += 1
            conn.execute("INSERT INTO deliveries VALUES (?, ?, ?)", (delivery, i, campaign))
            if p is SUBJECT:
                mine["deliveries"].add((delivery,))
        if p is SUBJECT:
            mine["subscribers"].add((i,))
    return mine


def _rows(path: Path, system: str) -> dict[str, dict[tuple[Any, ...], tuple[Any, ...]]]:
    out: dict[str, dict[tuple[Any, ...], tuple[Any, ...]]] = {}
    with _connect(path) as conn:
        for table, pk in PRIMARY_KEYS[system].items():
            cur = conn.execute(f"SELECT * FROM {table}")
            cols = [d[0] for d in cur.description]
            idx = [cols.index(c) for c in pk]
            out[table] = {tuple(r[i] for i in idx): tuple(r) for r in cur.fetchall()}
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _system_configs(root: Path) -> dict[str, SystemConfig]:
    def url(name: str) -> str:
        return f"sqlite+aiosqlite:///{root / f'{name}.db'}"

    return {
        "forum": SystemConfig(
            "forum",
            "phpbb",
            {"url": url("forum"), "mode": "retain", "max_rows": 100},
        ),
        "crm": SystemConfig(
            "crm",
            "sql",
            {
                "url": url("crm"),
                "max_rows": 100,
                "tables": [
                    {
                        "table": "contacts",
                        "key": "email",
                        "identifier": "email",
                        "action": "delete",
                    },
                    {
                        "table": "notes",
                        "key": "contact_id",
                        "parent": "contacts.id",
                        "action": "delete",
                    },
                    {
                        "table": "invoices",
                        "key": "customer_email",
                        "identifier": "email",
                        "action": "retain",
                        # Each law's own exception for a legal obligation to keep them.
                        "legal_basis": {"gdpr": "gdpr-17-3-b", "ccpa": "ccpa-105-d-8"},
                        "retain_days": 3650,
                        "note": "invoices are kept 10 years under tax law",
                    },
                ],
            },
        ),
        "newsletter": SystemConfig(
            "newsletter",
            "sql",
            {
                "url": url("newsletter"),
                "max_rows": 100,
                "tables": [
                    {
                        "table": "subscribers",
                        "key": "email",
                        "identifier": "email",
                        "action": "delete",
                    },
                    {
                        "table": "deliveries",
                        "key": "subscriber_id",
                        "parent": "subscribers.id",
                        "action": "delete",
                    },
                ],
            },
        ),
        "backups": SystemConfig(
            "backups",
            "backup_files",
            {
                "path": str(root / "backups"),
                "pattern": "*.db",
                "retention_days": 35,
            },
        ),
    }


#: The bucket of the demo's object store, and the date its signed contract is locked until.
BUCKET = "demo-uploads"
LOCKED_UNTIL = datetime(2034, 12, 31, tzinfo=UTC)
#: The environment variable the demo's configuration names for the object store's secret.
S3_SECRET_ENV = "LETHE_DEMO_S3_SECRET"  # noqa: S105  (a variable's name, not a secret)


def _store_configs(root: Path, s3_endpoint: str) -> dict[str, SystemConfig]:
    return {
        "uploads": SystemConfig(
            "uploads",
            "s3",
            {
                "bucket": BUCKET,
                "endpoint_url": s3_endpoint,
                "access_key_id": "demo",
                "secret_access_key_env": S3_SECRET_ENV,
                "prefixes": ["avatars/{email}/", "contracts/{email}/"],
                "max_items": 100,
            },
        ),
        "archive": SystemConfig(
            "archive",
            "crypto_shred",
            {
                "url": f"sqlite+aiosqlite:///{root / 'archive-keys.db'}",
                "table": "subject_keys",
                "backup_retention_days": 90,
            },
        ),
    }


def _s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="demo",
        aws_secret_access_key=os.environ.get(S3_SECRET_ENV, "demo"),
    )


def _seed_uploads(demo: DemoSystems, people: list[DemoPerson]) -> None:
    assert demo.s3_endpoint is not None
    s3 = _s3_client(demo.s3_endpoint)
    s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    for p in people:
        put = []
        for version in (1, 2):
            key = f"avatars/{p.email}/avatar.png"
            body = f"{p.username} avatar v{version}".encode()
            put.append((key, s3.put_object(Bucket=BUCKET, Key=key, Body=body)["VersionId"], body))
        key, body = f"contracts/{p.email}/signed.pdf", f"contract of {p.name}".encode()
        answer = s3.put_object(
            Bucket=BUCKET,
            Key=key,
            Body=body,
            ObjectLockMode="COMPLIANCE",
            ObjectLockRetainUntilDate=LOCKED_UNTIL,
        )
        put.append((key, answer["VersionId"], body))
        for key, version_id, body in put:
            if p is SUBJECT:
                demo.s3_subject.add((key, version_id))
                if key.startswith("contracts/"):
                    demo.s3_locked.add((key, version_id))
            else:
                demo.s3_others[(key, version_id)] = body


def _seed_archive(demo: DemoSystems, people: list[DemoPerson], today: datetime) -> None:
    """The key store (one key per person) and last night's archive, each person's record
    sealed under their own key."""
    table = key_table("subject_keys")
    with _connect(demo.root / "archive-keys.db") as conn:
        conn.execute(str(CreateTable(table).compile(dialect=sqlite.dialect())))
        lines = []
        for p in people:
            key_id, key = os.urandom(16).hex(), os.urandom(32)
            conn.execute(
                "INSERT INTO subject_keys (key_id, email, key_material, created_at)"
                " VALUES (?, ?, ?, ?)",
                (key_id, p.email, key.hex(), today.replace(tzinfo=None).isoformat(" ")),
            )
            record = f'{{"email": "{p.email}", "name": "{p.name}", "orders": 3}}'.encode()
            lines.append(seal(key, key_id, record).hex())
            demo.archive_owners[key_id] = p.email
    (demo.root / "archive-nightly.bak").write_text("\n".join(lines), encoding="ascii")


def restore_archive(demo: DemoSystems) -> tuple[list[str], int]:
    """What a restore of the archive gives now: the addresses it reads back, and how many
    records it cannot read (their key was destroyed)."""
    with _connect(demo.root / "archive-keys.db") as conn:
        keys = dict(conn.execute("SELECT key_id, key_material FROM subject_keys").fetchall())
    read, unreadable = [], 0
    for line_ in (demo.root / "archive-nightly.bak").read_text(encoding="ascii").splitlines():
        blob = bytes.fromhex(line_)
        material = keys.get(key_id_of(blob))
        if material is None:
            unreadable += 1
            continue
        read.append(json.loads(unseal(bytes.fromhex(material), blob))["email"])
    return read, unreadable


def seed_demo_systems(
    root: Path, *, today: datetime | None = None, s3_endpoint: str | None = None
) -> DemoSystems:
    """Create the systems from scratch under ``root`` (anything there is replaced): four, and
    with ``s3_endpoint`` (a running S3 server) the object store and the archive too."""
    today = today or datetime.now(UTC)
    if root.exists():
        shutil.rmtree(root)
    (root / "backups").mkdir(parents=True)
    systems = _system_configs(root)
    if s3_endpoint is not None:
        systems |= _store_configs(root, s3_endpoint)
    demo = DemoSystems(root=root, systems=systems, s3_endpoint=s3_endpoint)

    # The oldest backup predates the subject's sign-up; the later two contain them.
    with _connect(root / "crm-before.db") as conn:
        _seed_crm(conn, list(BYSTANDERS))
    everyone = [BYSTANDERS[0], SUBJECT, *BYSTANDERS[1:]]
    for system, seed in (
        ("forum", _seed_forum),
        ("crm", _seed_crm),
        ("newsletter", _seed_newsletter),
    ):
        with _connect(demo.db(system)) as conn:
            mine = seed(conn, everyone)
        demo.subject_rows[system] = {t: set(keys) for t, keys in mine.items()}
    copies = [
        (root / "crm-before.db", today - timedelta(days=21)),
        (demo.db("crm"), today - timedelta(days=14)),
        (demo.db("crm"), today - timedelta(days=7)),
    ]
    for source, taken in copies:
        dest = root / "backups" / f"crm-nightly-{taken:%Y-%m-%d}.db"
        shutil.copyfile(source, dest)
        os.utime(dest, (taken.timestamp(), taken.timestamp()))
        demo.backup_hashes[dest.name] = _sha256(dest)
    (root / "crm-before.db").unlink()
    for system in PRIMARY_KEYS:
        demo.snapshot[system] = _rows(demo.db(system), system)
    if s3_endpoint is not None:
        _seed_uploads(demo, everyone)
        _seed_archive(demo, everyone, today)
    return demo


def check_stores(demo: DemoSystems) -> tuple[int, list[str]]:
    """The bucket: other people's versions unchanged, the subject's gone but the locked one;
    the archive: everyone else's records restore, the subject's does not."""
    assert demo.s3_endpoint is not None
    problems: list[str] = []
    s3 = _s3_client(demo.s3_endpoint)
    now: dict[tuple[str, str], bytes] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=BUCKET):
        for v in page.get("Versions", []):
            key = (v["Key"], v["VersionId"])
            now[key] = s3.get_object(Bucket=BUCKET, Key=key[0], VersionId=key[1])["Body"].read()
        for m in page.get("DeleteMarkers", []):
            problems.append(f"uploads: a delete marker appeared ({m['VersionId']})")
    for key, body in demo.s3_others.items():
        if now.get(key) != body:
            problems.append(f"uploads: an object version of another person changed ({key[1]})")
    left = demo.s3_subject & set(now)
    if left != demo.s3_locked:
        problems.append(f"uploads: {len(left - demo.s3_locked)} of the subject's versions left")
    read, unreadable = restore_archive(demo)
    others = sorted(e for e in demo.archive_owners.values() if e != SUBJECT.email)
    if sorted(read) != others or unreadable != 1:
        problems.append(
            f"archive: {len(read)} records restore and {unreadable} do not;"
            f" expected {len(others)} and 1 (the subject's)"
        )
    return len(demo.s3_others) + len(others), problems


def check_bystanders(demo: DemoSystems) -> tuple[int, list[str]]:
    """Compare every non-subject row and every backup with the snapshot taken at seeding.

    Returns (rows checked, problems). Subject rows must be gone, except anonymised forum
    posts (kept under the anonymous user) and retained invoices (unchanged).
    """
    problems: list[str] = []
    checked = 0
    for system, tables in demo.snapshot.items():
        now = _rows(demo.db(system), system)
        for table, before in tables.items():
            after = now[table]
            mine = demo.subject_rows[system][table]
            for key, row in before.items():
                if key in mine:
                    continue
                checked += 1
                if after.get(key) != row:
                    problems.append(f"{system}.{table} row {key} of another person changed")
            for key in set(after) - set(before):
                problems.append(f"{system}.{table} row {key} appeared")
            for key in mine:
                kept = after.get(key)
                if table == "invoices":
                    if kept != before[key]:
                        problems.append(f"{system}.{table} retained row {key} changed")
                elif table == "phpbb_posts":
                    # post_id, topic_id, forum_id, poster_id, poster_ip, post_username, …
                    if kept is None or kept[3] != 1 or kept[4] != "" or kept[5] != "Guest":
                        problems.append(f"{system}.{table} row {key} was not anonymised")
                elif kept is not None:
                    problems.append(f"{system}.{table} row {key} of the subject is still there")
    for name, digest in demo.backup_hashes.items():
        checked += 1
        if _sha256(demo.root / "backups" / name) != digest:
            problems.append(f"backup copy {name} changed")
    return checked, problems
