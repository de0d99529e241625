"""Settings for processor-held systems, their controllers, and the retention sweeper."""

from __future__ import annotations

from pathlib import Path

import pytest

import worker as worker_module
from lethe.errors import ConfigError
from lethe.settings import RetentionSettings, load_settings

LMS = """
[systems.lms]
connector = "sql"
url = "sqlite:///lms.db"
role = "processor"
controller = "acme-university"

[systems.crm]
connector = "sql"
url = "sqlite:///crm.db"
"""
ACME = """
[controllers.acme-university]
webhook_url_env = "ACME_URL"
secret_env = "ACME_SECRET"
answer_within_days = 10
disclose = ["email"]
status_callback = "https://privacy.example.org/referrals"
"""
ENV = {"ACME_URL": "https://acme.example/dsr", "ACME_SECRET": "hunter2-acme"}


def test_processor_systems_and_their_controllers(tmp_path: Path) -> None:
    (tmp_path / "lethe.toml").write_text(LMS + ACME + "[retention]\nshred_grace_days = 7\n")
    s = load_settings(ENV, cwd=tmp_path)
    lms, crm = s.systems["lms"], s.systems["crm"]
    assert (lms.role, lms.controller) == ("processor", "acme-university")
    assert (crm.role, crm.controller) == ("controller", None)
    assert "role" not in lms.options and "controller" not in lms.options  # not the connector's
    acme = s.controllers["acme-university"]
    assert acme.webhook(s.environ) == ("https://acme.example/dsr", "hunter2-acme")
    assert acme.answer_within_days == 10
    assert acme.disclose == ("email",) and "hunter2" not in repr(acme)
    assert s.retention == RetentionSettings(shred_grace_days=7)
    assert worker_module.processor_systems(s) == {"lms": "acme-university"}
    endpoint = worker_module.controller_endpoints(s)["acme-university"]
    assert endpoint.secret == b"hunter2-acme" and "hunter2" not in repr(endpoint)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/dsr", "http://[::1]/dsr", "http://localhost/dsr"]
)
def test_identifiers_may_go_over_plain_http_only_to_this_machine(tmp_path: Path, url: str) -> None:
    (tmp_path / "lethe.toml").write_text(LMS + ACME)
    assert worker_module.controller_endpoints(load_settings({**ENV, "ACME_URL": url}, cwd=tmp_path))
    no_disclosure = ACME.replace('disclose = ["email"]\n', "")
    (tmp_path / "lethe.toml").write_text(LMS + no_disclosure)  # a pseudonym may go anywhere
    plain = load_settings({**ENV, "ACME_URL": "http://acme.example/dsr"}, cwd=tmp_path)
    assert worker_module.controller_endpoints(plain)


@pytest.mark.parametrize(
    ("config", "env", "message"),
    [
        (LMS, ENV, "has no [controllers.acme-university] section"),
        (LMS.replace('role = "processor"\n', ""), ENV, 'needs role = "processor"'),
        (LMS.replace('"processor"', '"owner"'), ENV, 'role must be "controller" or "processor"'),
        (LMS.replace('controller = "acme-university"\n', ""), ENV, 'needs controller = "NAME"'),
        (LMS + ACME.replace('["email"]', '["shoe_size"]'), ENV, "unknown identifier 'shoe_size'"),
        (LMS + ACME.replace("answer_within_days = 10", "answer_within_days = 0"), ENV, "greater"),
        (LMS + ACME + "[retention]\nsweep_every_minutes = 0\n", ENV, "sweep_every_minutes"),
        (LMS + ACME + "[controllers.acme-university.extra]\n", ENV, "extra"),
    ],
)
def test_bad_processor_configuration(
    tmp_path: Path, config: str, env: dict[str, str], message: str
) -> None:
    (tmp_path / "lethe.toml").write_text(config)
    with pytest.raises(ConfigError) as err:
        load_settings(env, cwd=tmp_path)
    assert message in str(err.value)
    assert "hunter2" not in str(err.value)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ACME_URL": "https://acme.example/dsr"}, "$ACME_SECRET, which is not set"),
        ({**ENV, "ACME_URL": "ftp://acme"}, "not an http(s) URL"),
        ({**ENV, "ACME_URL": "http://acme.example/dsr"}, "must be an https URL"),
        ({**ENV, "ACME_URL": "http://127.0.0.1.nip.io/dsr"}, "must be an https"),
    ],
)
def test_a_controllers_webhook_is_checked_when_the_worker_reads_it(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    """Loading needs none of the controller's variables (list, status, audit run without
    them); the worker reads and checks them before it connects to anything."""
    (tmp_path / "lethe.toml").write_text(LMS + ACME)
    s = load_settings(env, cwd=tmp_path)
    assert s.controllers["acme-university"].webhook_url_env == "ACME_URL"
    with pytest.raises(ConfigError) as err:
        worker_module.controller_endpoints(s)
    assert message in str(err.value) and "[controllers.acme-university]" in str(err.value)
    assert "hunter2" not in str(err.value)
