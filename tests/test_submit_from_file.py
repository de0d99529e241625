"""``lethe submit --from FILE`` as an operator runs it, against the real dev server and a real
ledger: JSON Lines from stdin, then a CSV file with a header, blank lines, a bad line in the
middle, the same person twice, and a person who already has an open request. Each request
received is recorded and its workflow started exactly as ``lethe submit`` does it; with a bad
line nothing is, unless ``--keep-going``. No output carries an address or an identifier.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from lethe.keys import Keyring
from tests.support.cli import Lethe

pytestmark = [pytest.mark.devserver, pytest.mark.slow]

SECRETS = ("ada@example.org", "grace@example.org", "adal_1815", "kim@example.org", "lee@")

CONFIG = """
[systems.crm]
connector = "sql"
url = "sqlite+aiosqlite:///{root}/crm.db"
[[systems.crm.tables]]
table = "contacts"
key = "email"
identifier = "email"
action = "delete"
"""


async def test_a_file_of_requests(
    dev_server_env: WorkflowEnvironment, keys: Keyring, tmp_path: Path, task_queue: str
) -> None:
    (tmp_path / "lethe.toml").write_text(CONFIG.format(root=tmp_path))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LETHE_")},
        "LETHE_HOME": str(tmp_path / ".lethe"),
        "LETHE_CONFIG": str(tmp_path / "lethe.toml"),
        "LETHE_TEMPORAL_ADDRESS": dev_server_env.client.service_client.config.target_host,
        "LETHE_TASK_QUEUE": task_queue,  # no worker: the workflows wait, started
        "LETHE_PSEUDONYM_KEY": base64.b64encode(keys.pseudonym).decode(),
        "LETHE_VAULT_KEY": base64.b64encode(keys.vault).decode(),
        "LETHE_PAYLOAD_KEY": base64.b64encode(keys.payload).decode(),
    }
    said: list[str] = []

    cli = Lethe(env, tmp_path)  # in this process: the file is read as the program reads it

    async def lethe(*args: str, stdin: str = "") -> tuple[int, str, str]:
        code, out, err = await cli(*args, stdin=stdin)
        said.extend((out, err))
        assert "Traceback" not in err
        return code, out, err

    async def requests() -> list[dict[str, object]]:
        code, out, _ = await lethe("list", "--json")
        assert code == 0
        found: list[dict[str, object]] = json.loads(out)
        return found

    assert (await lethe("init"))[0] == 0

    # JSON Lines on stdin, a blank line between: one result a line, numbered as in the file.
    code, out, err = await lethe(
        "submit",
        "--from",
        "-",
        "--json",
        "--verification",
        "operator",
        stdin='{"email": "ada@example.org"}\n'
        "\n"
        '{"email": "grace@example.org", "jurisdiction": "ccpa", "username": "adal_1815"}\n',
    )
    assert (code, err) == (0, ""), err
    first = [json.loads(line) for line in out.splitlines()]
    assert [(r["line"], r["result"], r["jurisdiction"]) for r in first] == [
        (1, "received", "gdpr"),
        (3, "received", "ccpa"),
    ]
    for r in first:
        described = await dev_server_env.client.get_workflow_handle(r["workflow_id"]).describe()
        assert described.status == WorkflowExecutionStatus.RUNNING
    assert {r["request_id"] for r in await requests()} == {r["request_id"] for r in first}

    # A CSV file: a bad address in the middle, a person twice, a person already open.
    requests_csv = tmp_path / "requests.csv"
    requests_csv.write_text(
        " Email ,Jurisdiction\n"  # line 1
        "\n"
        "kim@example.org,gdpr\n"  # 3
        "ada@example.org,\n"  # 4: has an open request (line 1 above)
        "no-at-sign,gdpr\n"  # 5
        "lee@example.org,ccpa\n"  # 6
        "LEE@example.org,gdpr\n"  # 7: the same person as line 6
    )
    code, out, err = await lethe("submit", "--from", str(requests_csv))
    assert code == 1 and out == ""
    assert [line.split(":")[2].strip() for line in err.splitlines()[:-1]] == [
        "line 4",
        "line 5",
        "line 7",
    ]
    assert f"open request {first[0]['request_id']}" in err
    assert "the same person as line 6" in err
    assert "nothing was submitted" in err.splitlines()[-1]
    assert len(await requests()) == 2  # nothing of the file

    code, out, err = await lethe("submit", "--from", str(requests_csv), "--keep-going")
    assert code == 1
    received = [line for line in out.splitlines() if line.startswith("line ")]
    assert [line.split(":")[0] for line in received] == ["line 3", "line 6"]
    assert "2 received" in err.splitlines()[-1]
    listed = await requests()
    assert len(listed) == 4
    new = {str(r["request_id"]) for r in listed} - {r["request_id"] for r in first}
    assert all(any(rid in line for line in received) for rid in new)

    for secret in SECRETS:
        assert not any(secret.lower() in text.lower() for text in said), secret
