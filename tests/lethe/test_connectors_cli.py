"""``lethe connectors list|check|new``: output, exit codes, bad input, and the scaffold's
conformance test failing until the connector is written (then passing)."""

from __future__ import annotations

import glob
import json
import os
import re
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support.cli import lethe, one_line_error

# -- list -------------------------------------------------------------------------------------


def test_list_shows_installed_kinds_with_capabilities(
    lethe_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lethe("connectors", "list") == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert {"sql", "phpbb", "redis", "backup_files"} <= set(lines)
    assert "erase, plan, verify" in lines["redis"] and "v3" in lines["sql"]
    # http and its presets, listed as specs of it.
    assert "async, erase, plan, verify" in lines["http"]
    for preset in ("discourse", "hubspot", "mailchimp"):
        assert f'preset = "{preset}"' in lines[f"http:{preset}"]
        assert "a spec of http" in lines[f"http:{preset}"]
    # A processor that answers later (OpenDSR over signed webhooks).
    assert "async, erase" in lines["webhook"] and "v1" in lines["webhook"]

    assert lethe("connectors", "list", "--json") == 0
    rows = {r["kind"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["backup_files"]["capabilities"] == ["erase"]
    assert rows["phpbb"]["class"] == "connectors.phpbb:PhpbbConnector"
    assert rows["webhook"]["class"] == "connectors.webhook:WebhookConnector"
    assert rows["sql"]["distribution"].startswith("lethe-erasure ")
    specs = {s["name"]: s for s in rows["http"]["specs"]}
    assert specs["hubspot"] == {"name": "hubspot", "title": "HubSpot", "records": "contacts"}
    assert set(specs) == {"discourse", "hubspot", "mailchimp"} and rows["sql"]["specs"] == []


# -- check ------------------------------------------------------------------------------------

CHECK_CONFIG = """
[systems.crm]
connector = "sql"
url_env = "CRM_URL"
[[systems.crm.tables]]
table = "contacts"
key = "email"
identifier = "email"
action = "delete"
"""
BROKEN_CACHE = """
[systems.cache]
connector = "redis"
url_env = "CACHE_URL"
keys = { profile = "user:{email}" }
"""


@pytest.fixture
def crm(lethe_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = lethe_home.parent / "crm.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT)")
    monkeypatch.setenv("CRM_URL", f"sqlite:///{db}")
    monkeypatch.setenv("CACHE_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    return lethe_home.parent / "lethe.toml"


def test_check_passes_when_every_system_answers(
    crm: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crm.write_text(CHECK_CONFIG)
    assert lethe("connectors", "check") == 0
    assert capsys.readouterr().out.split() == ["crm", "sql", "ok"]


def test_check_names_each_failing_system_and_exits_non_zero(
    crm: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crm.write_text(CHECK_CONFIG + BROKEN_CACHE)
    assert lethe("connectors", "check", "--timeout", "5") == 69
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert out[0].startswith("cache") and "FAILED" in out[0] and "redis unavailable" in out[0]
    assert out[1].split() == ["crm", "sql", "ok"]

    assert lethe("connectors", "check", "--json") == 69
    rows = {r["system"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["crm"] == {"system": "crm", "connector": "sql", "ok": True}
    assert rows["cache"]["ok"] is False and "unavailable" in rows["cache"]["error"]


def test_check_reports_a_missing_table(crm: Path, capsys: pytest.CaptureFixture[str]) -> None:
    crm.write_text(CHECK_CONFIG.replace('table = "contacts"', 'table = "contactz"'))
    assert lethe("connectors", "check") == 69
    assert "contactz" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("", "no systems are configured"),
        (CHECK_CONFIG.replace("action", "acton"), "system 'crm'"),
        (BROKEN_CACHE.replace("user:{email}", "user:*"), "needs an identifier"),
        (
            CHECK_CONFIG.replace('url_env = "CRM_URL"', 'url_env = "CRM_URL"\nhash_secret = "x" '),
            "option 'hash_secret' is a secret: write hash_secret_env",
        ),
    ],
)
def test_check_bad_configuration_is_one_line(
    crm: Path, capsys: pytest.CaptureFixture[str], config: str, message: str
) -> None:
    crm.write_text(config)
    assert lethe("connectors", "check") == 78
    assert message in one_line_error(capsys)


# -- new --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Acme", "lower-case"),
        ("a", "lower-case"),
        ("1acme", "lower-case"),
        ("ac-me", "lower-case"),
        ("ac__me", "lower-case"),
        ("class", "Python keyword"),
        ("sql", "already installed"),
    ],
)
def test_new_refuses_bad_names(
    bare_home: Path, capsys: pytest.CaptureFixture[str], name: str, message: str
) -> None:
    assert lethe("connectors", "new", name) == 1
    assert message in one_line_error(capsys)
    assert list(bare_home.parent.iterdir()) == []  # nothing written


def test_new_refuses_to_overwrite(lethe_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = lethe_home.parent / "lethe-connector-acme"
    target.mkdir()
    (target / "mine.txt").write_text("keep me")
    assert lethe("connectors", "new", "acme") == 1
    assert "already exists" in one_line_error(capsys)
    assert [p.name for p in target.iterdir()] == ["mine.txt"]
    assert lethe("connectors", "new", "acme", "--dir", "no/such/dir") == 1
    assert "not a directory" in one_line_error(capsys)


def test_new_package_does_not_depend_on_the_unrelated_pypi_lethe(
    lethe_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Lethe is not on PyPI; the project called "lethe" there is another library. A scaffold
    # that lists it would install that library in a fresh environment.
    assert lethe("connectors", "new", "acme", "--json") == 0
    package = Path(json.loads(capsys.readouterr().out)["path"])
    project = tomllib.loads((package / "pyproject.toml").read_text())["project"]
    requirements = [
        *project["dependencies"],
        *(r for extra in project["optional-dependencies"].values() for r in extra),
    ]
    names = {re.split(r"[\s<>=!~\[;@]", r, maxsplit=1)[0].lower() for r in requirements}
    assert "lethe" not in names, requirements
    assert "pypi.org/project/lethe" not in (package / "README.md").read_text()


def test_the_scaffold_is_written_from_templates_installed_with_lethe(
    lethe_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every template is package data (an editable install would hide one that is not: the
    wheel would lack it), and every file ``new`` writes comes from one, placeholders filled."""
    root = Path(__file__).resolve().parents[2]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["lethe"]
    shipped = {f for pattern in patterns for f in glob.glob(pattern, root_dir=root / "lethe")}
    # Every template: the connector's, the lethe.toml `lethe init` writes, the web's.
    on_disk = {
        str(p.relative_to(root / "lethe"))
        for p in (root / "lethe" / "templates").rglob("*")
        if p.is_file()
    }
    templates = root / "lethe" / "templates" / "connector"
    assert on_disk and on_disk == shipped

    assert lethe("connectors", "new", "my_crm", "--json") == 0
    made = json.loads(capsys.readouterr().out)
    package = Path(made["path"])
    written = {str(p.relative_to(package)) for p in package.rglob("*") if p.is_file()}
    expected = {
        str(p.relative_to(templates)).removesuffix(".tmpl").replace("package/", "lethe_my_crm/")
        for p in templates.rglob("*.tmpl")
    }
    assert written == expected == set(made["files"])
    for name in written:
        text = (package / name).read_text()
        assert "${" not in text, name
    connector = (package / "lethe_my_crm" / "connector.py").read_text()
    assert "class MyCrmConnector(BaseConnector" in connector
    compile(connector, "connector.py", "exec")
    compile((package / "tests" / "test_conformance.py").read_text(), "test_conformance.py", "exec")


WRITTEN_CONNECTOR = """
import json
from pathlib import Path
from typing import ClassVar

from connectors import (REPLAYED_FROM_RECEIPT, BaseConnector, Capability, ConnectorOptions,
                        Erased, IdentifierMatch, NotFound, Outcome, Plan, Residual, Subject,
                        TransientError, guard_blast_radius, receipt_of, replayed)


class AcmeOptions(ConnectorOptions):
    url: str


class AcmeConnector(BaseConnector[AcmeOptions]):
    kind: ClassVar[str] = "acme"
    version: ClassVar[str] = "0.1.0"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.ERASE, Capability.VERIFY, Capability.PLAN})

    def _load(self):
        path = Path(self.options.url)
        if not path.exists():
            raise TransientError("acme: the store is not reachable")
        return path, json.loads(path.read_text())

    def _mine(self, rows, subject, lookalikes=False):
        email = IdentifierMatch.of("email", subject.email)
        if email is None:
            return []
        test = email.looks_like if lookalikes else email.equals
        return [r for r in rows if test(r["email"])]

    async def check(self):
        self._load()

    async def plan(self, subject: Subject) -> Plan:
        _, rows = self._load()
        n = len(self._mine(rows, subject))
        return Plan(counts={"contacts.deleted": n} if n else {}, limit=self.options.max_items)

    async def erase(self, subject: Subject, request_id: str) -> Outcome:
        # No transaction: the receipt goes to the journal, before the change and after it.
        entry = await self.journal.get(request_id) or {}
        if "outcome" in entry:
            return replayed(entry["outcome"])
        path, rows = self._load()
        planned = entry.get("deleting", [])
        ids = planned + [r["id"] for r in self._mine(rows, subject) if r["id"] not in planned]
        if not ids:
            return NotFound()
        guard_blast_radius(len(ids), self.options, where=self.name)
        await self.journal.put(request_id, {"deleting": ids})
        path.write_text(json.dumps([r for r in rows if r["id"] not in ids]))
        evidence = {REPLAYED_FROM_RECEIPT: True} if planned else {}
        outcome = Erased(counts={"contacts.deleted": len(ids)}, evidence=evidence)
        await self.journal.put(request_id, {"deleting": ids, "outcome": receipt_of(outcome)})
        return outcome

    async def verify(self, subject: Subject) -> Residual:
        _, rows = self._load()
        n = len(self._mine(rows, subject))
        alike = len(self._mine(rows, subject, lookalikes=True))
        remaining = {"contacts.remaining": n} if n else {}
        return Residual(remaining={**remaining, **({"contacts.lookalike": alike} if alike else {})})
"""

WRITTEN_HARNESS = """
    def __init__(self, tmp_path):
        self.path = tmp_path / "acme.json"
        self.path.write_text("[]")
        self.options = {"url": str(self.path)}

    def build(self, **options):
        return ConnectorRegistry().build(
            "test", "lethe_acme.connector:AcmeConnector", {**self.options, **options})

    async def seed(self, people):
        rows = [{"id": f"{n}-{k}", "email": p.email, "note": "hi"}
                for n, p in enumerate(people) for k in (1, 2)]
        self.path.write_text(json.dumps(rows))
        return Seeded(
            records={p: frozenset(f"{n}-{k}" for k in (1, 2)) for n, p in enumerate(people)},
            traces={p: frozenset({p.email}) for p in people})

    async def snapshot(self):
        return {r["id"]: tuple(r.values()) for r in json.loads(self.path.read_text())}
"""


def _pytest(package: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["LETHE_KIT_EXAMPLES"] = "5"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x"],
        cwd=package,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
    )


@pytest.mark.slow
def test_new_package_fails_its_conformance_test_until_written(
    lethe_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lethe("connectors", "new", "acme", "--json") == 0
    made = json.loads(capsys.readouterr().out)
    package = Path(made["path"])
    assert made["kind"] == "acme" and package.name == "lethe-connector-acme"
    assert "tests/test_conformance.py" in made["files"]
    assert 'acme = "lethe_acme.connector:AcmeConnector"' in (package / "pyproject.toml").read_text()

    first = _pytest(package)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "not written yet" in first.stdout

    # Write the harness: now the kit reaches the connector and fails there.
    test_file = package / "tests" / "test_conformance.py"
    source = test_file.read_text()
    start = source.index("    def __init__(self, tmp_path")
    end = source.index("class TestAcmeConnector")
    source = source[:start] + WRITTEN_HARNESS + "\n\n" + source[end:]
    source = source.replace("from typing import Any\n", "import json\nfrom typing import Any\n")
    test_file.write_text(source)
    second = _pytest(package)
    assert second.returncode == 1, second.stdout[-3000:]
    assert "is not written yet (connector.py)" in second.stdout

    # Write the connector: the whole kit passes.
    (package / "lethe_acme" / "connector.py").write_text(WRITTEN_CONNECTOR)
    third = _pytest(package)
    assert third.returncode == 0, third.stdout[-3000:] + third.stderr[-2000:]
    assert " passed" in third.stdout
