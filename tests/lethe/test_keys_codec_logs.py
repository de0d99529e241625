from __future__ import annotations

import base64
import logging
import os
import secrets
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
import structlog
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.common import RawValue
from temporalio.converter import ActivitySerializationContext, WorkflowSerializationContext
from temporalio.exceptions import ApplicationError

from ledger import create_ledger_engine
from lethe.codec import PAYLOAD_REFUSED, REFUSED_ENCODING, EncryptionCodec
from lethe.errors import ConfigError
from lethe.keys import Keyring, create_keys, load_keyring
from lethe.logs import configure_logging
from lethe.temporal import data_converter


def test_keys_are_created_once_by_init_private_and_reused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no pseudonym key at .*: run `lethe init`"):
        load_keyring(tmp_path, {})  # reading never creates
    assert not (tmp_path / "keys").exists()
    made = create_keys(tmp_path, {})
    assert made == {n: f"created {tmp_path / 'keys' / f'{n}.key'}" for n in made}
    assert set(made) == {"pseudonym", "vault", "payload", "signing"}
    first = load_keyring(tmp_path, {})
    again = load_keyring(tmp_path, {})
    assert first == again and len({first.pseudonym, first.vault, first.payload}) == 3
    assert create_keys(tmp_path, {})["vault"].startswith("found ")  # idempotent
    assert load_keyring(tmp_path, {}) == first
    mode = stat.S_IMODE(os.stat(tmp_path / "keys" / "vault.key").st_mode)
    assert mode == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "keys").st_mode) == 0o700
    assert repr(first) == "Keyring(<hidden>)"


def test_keys_from_environment(tmp_path: Path) -> None:
    raw = secrets.token_bytes(32)
    env = {
        f"LETHE_{n}_KEY": base64.b64encode(raw).decode() for n in ("PSEUDONYM", "VAULT", "PAYLOAD")
    }
    assert load_keyring(tmp_path, env).vault == raw
    assert not (tmp_path / "keys").exists()
    with pytest.raises(ConfigError, match="32 bytes"):
        load_keyring(tmp_path, {**env, "LETHE_VAULT_KEY": base64.b64encode(b"short").decode()})
    with pytest.raises(ConfigError, match="not valid base64"):
        load_keyring(tmp_path, {**env, "LETHE_VAULT_KEY": "%%%"})
    with pytest.raises(ConfigError, match="run `lethe init`"):
        load_keyring(tmp_path / "none", {})
    # init names where each key comes from, and makes only the one not in the environment.
    said = create_keys(tmp_path, env)
    assert said["vault"] == "LETHE_VAULT_KEY" and said["signing"].startswith("created ")


async def test_codec_round_trip_and_refusals() -> None:
    """A payload not encrypted under the key is never decoded and never an exception (which
    would fail the workflow task for ever): it becomes a marker that refuses to be read."""
    key = secrets.token_bytes(32)
    codec = EncryptionCodec(key)
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"subject_ref":"ps_1"}')
    [sealed] = await codec.encode([plain])
    assert b"ps_1" not in sealed.data and sealed.metadata["encoding"] == b"binary/encrypted"
    assert await codec.decode([sealed]) == [plain]
    forged = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + b"\x00")
    [theirs] = await EncryptionCodec(secrets.token_bytes(32)).encode([plain])
    reasons = {
        "is not encrypted": plain,
        "is encrypted under payload key": theirs,
        "does not authenticate": forged,
        "does not authenticate under": Payload(metadata=dict(sealed.metadata), data=b"x"),
    }
    converter = data_converter(Keyring(b"p" * 32, b"v" * 32, key)).payload_converter
    for reason, payload in reasons.items():
        [marked] = await codec.decode([payload])
        assert marked.metadata["encoding"] == REFUSED_ENCODING and not marked.data
        with pytest.raises(ApplicationError) as refused:
            converter.from_payloads([marked], [dict])
        assert refused.value.type == PAYLOAD_REFUSED and refused.value.non_retryable
        assert f"refused: the payload {reason}" in refused.value.message
    # Whoever reads it raw (a signal handler) gets the marker, to refuse it themselves.
    [marked] = await codec.decode([plain])
    assert converter.from_payloads([marked], [RawValue]) == [RawValue(marked)]


async def test_payloads_are_bound_to_their_request_s_workflow() -> None:
    key = secrets.token_bytes(32)
    codec = EncryptionCodec(key)

    def of(workflow_id: str) -> EncryptionCodec:
        return codec.with_context(WorkflowSerializationContext("default", workflow_id))

    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"operator":"kim"}')
    [sealed] = await of("erasure/er-a").encode([plain])
    assert await of("erasure/er-a").decode([sealed]) == [plain]
    assert sealed.metadata["encryption-workflow-id"] == b"erasure/er-a"
    for elsewhere in (of("erasure/er-b"), of("erasure/er-a/crm/0")):
        [marked] = await elsewhere.decode([sealed])
        assert marked.metadata["encoding"] == REFUSED_ENCODING
    # The id is authenticated: renaming it does not move the payload to another workflow.
    renamed = Payload(data=sealed.data, metadata={**sealed.metadata})
    renamed.metadata["encryption-workflow-id"] = b"erasure/er-b"
    [marked] = await of("erasure/er-b").decode([renamed])
    assert marked.metadata["encoding"] == REFUSED_ENCODING
    # A reader outside any workflow (a tool decoding a history) reads it under its own id.
    assert await codec.decode([sealed]) == [plain]
    # An activity of the workflow reads what its workflow wrote.
    activity_context = ActivitySerializationContext(
        "default", "1", "erase_in_system", None, "erasure/er-a", None, False
    )
    assert await codec.with_context(activity_context).decode([sealed]) == [plain]
    # What an older Lethe wrote (unbound) is still read, and the sweep's payloads stay unbound.
    [legacy] = await codec.encode([plain])
    assert await of("erasure/er-b").decode([legacy]) == [plain]
    [swept] = await of("lethe-retention-sweeper/lethe-2026").encode([plain])
    assert "encryption-workflow-id" not in swept.metadata


async def test_a_refusal_stays_readable_by_the_refused_and_other_failures_are_encrypted() -> None:
    converter = data_converter(Keyring(b"p" * 32, b"v" * 32, b"k" * 32))
    refusal = ApplicationError("refused: the payload is not encrypted", type=PAYLOAD_REFUSED)
    other = ApplicationError("connector said ada@example.org is gone", type="PermanentError")
    refused, failed = Failure(), Failure()
    await converter.encode_failure(refusal, refused)
    await converter.encode_failure(other, failed)
    assert refused.message == "refused: the payload is not encrypted"
    assert not refused.HasField("encoded_attributes") and not refused.stack_trace
    assert failed.message == "Encoded failure" and b"ada" not in failed.SerializeToString()
    assert "ada@example.org" in str(await converter.decode_failure(failed))


def test_logs_never_carry_an_email(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="INFO", fmt="json")
    structlog.get_logger("t").info(
        "erase.start", note="for ada@example.org", nested={"to": ["b@c.io"]}
    )
    logging.getLogger("temporalio.worker").warning("activity failed for %s", "ada@example.org")
    err = capsys.readouterr().err
    assert "erase.start" in err and "activity failed" in err
    assert "ada@example.org" not in err and "b@c.io" not in err
    assert err.count("[email redacted]") == 3


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_tracebacks_are_scrubbed_like_messages(
    fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Temporal logs a failed activity with its traceback; the exception's text is the part
    most likely to name someone (a KeyError of an address, a database's DETAIL line)."""
    configure_logging(level="INFO", fmt=fmt)
    try:
        raise KeyError("no row for ada@example.org")
    except KeyError:
        logging.getLogger("temporalio.activity").warning(
            "Completing activity as failed", exc_info=True
        )
        structlog.get_logger("t").exception("erase.crashed")
        structlog.get_logger("t").warning("erase.crashed_again", exc_info=True)
    logging.getLogger("t").warning("with a stack", stack_info=True)
    err = capsys.readouterr().err
    assert "ada@example.org" not in err
    assert err.count("KeyError: 'no row for [email redacted]'") == 3
    assert "with a stack" in err and "test_tracebacks_are_scrubbed" in err  # the stack is kept


async def test_query_parameters_never_reach_the_log_even_at_debug(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """aiosqlite logs each call with its bound values at DEBUG, past ``hide_parameters``."""
    configure_logging(level="DEBUG")
    engine = create_ledger_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with engine.connect() as conn:
            value = await conn.scalar(sa.text("SELECT :name"), {"name": "Zoë Kanarie"})
    finally:
        await engine.dispose()
    assert value == "Zoë Kanarie"
    err = capfd.readouterr().err
    assert "Kanarie" not in err
    assert logging.getLogger("aiosqlite").getEffectiveLevel() == logging.INFO
