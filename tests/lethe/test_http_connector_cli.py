"""``connector = "http"`` in lethe.toml: a preset checked against its fake, and bad presets,
spec files and inline secrets refused in one line, before anything runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.testing.fakes.hubspot import FakeHubSpot
from connectors.testing.fakes.server import serve
from tests.support.cli import lethe, one_line_error

CONFIG = """
[systems.crm_hubspot]
connector = "http"
preset = "hubspot"
base_url = "{url}"
token_env = "HUBSPOT_TOKEN"
"""


@pytest.fixture
def config(lethe_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    monkeypatch.setenv("HUBSPOT_TOKEN", "pat-cli")
    with serve(FakeHubSpot("pat-cli")) as fake:
        yield lethe_home.parent / "lethe.toml", fake.url
        assert not fake.violations


def test_a_preset_is_checked_against_the_service(
    config: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path, url = config
    path.write_text(CONFIG.format(url=url))
    assert lethe("connectors", "check") == 0
    assert capsys.readouterr().out.split() == ["crm_hubspot", "http", "ok"]


def test_a_revoked_token_fails_the_check(
    config: tuple[Path, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, url = config
    path.write_text(CONFIG.format(url=url))
    monkeypatch.setenv("HUBSPOT_TOKEN", "revoked")
    assert lethe("connectors", "check") == 69
    out = capsys.readouterr().out
    assert "FAILED" in out and "credentials refused" in out and "revoked" not in out


def test_bad_http_configuration_is_one_line(
    config: tuple[Path, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path, url = config
    good = CONFIG.format(url=url)
    spec = tmp_path / "mine.toml"
    spec.write_text(
        (Path(__file__).parents[1] / "connectors" / "specs" / "acmedesk.toml")
        .read_text()
        .replace("/api/v2/customers/{id}", "/api/v2/customers/{email}")
    )
    cases = [
        (good.replace('"hubspot"', '"hubspoot"'), "unknown preset 'hubspoot'"),
        (good.replace('token_env = "HUBSPOT_TOKEN"', 'token = "pat-inline"'), "token_env"),
        (good.replace('preset = "hubspot"', f'spec = "{spec}"'), f"{spec}:"),
        (
            good.replace('"hubspot"', '"discourse"').replace("token_env", "api_key_env")
            + 'params = { mode = "wipe" }\n',
            "params.mode: one of anonymize, delete",
        ),
    ]
    for text, message in cases:
        path.write_text(text)
        assert lethe("connectors", "check") == 78, text
        line = one_line_error(capsys)
        assert message in line and "Traceback" not in line, (message, line)
