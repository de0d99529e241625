"""The codec server records every decode: a request's payloads as a ``payload_decoded`` event
of that request, and what no request holds (the retention sweep's payloads, bound to no
workflow; a workflow whose request the ledger does not have) in ``payload_decodes``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from temporalio.api.common.v1 import Payload

from ledger import Ledger
from lethe.codec import EncryptionCodec
from lethe.codec_server import CodecService
from lethe.keys import Keyring


def plain(data: dict[str, object]) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(data).encode())


async def test_decodes_tied_to_no_request_are_recorded(
    sqlite_ledger: Ledger, keys: Keyring
) -> None:
    codec = EncryptionCodec(keys.payload)
    service = CodecService(codec=codec, tokens={"t" * 20: "kim"}, ledger=sqlite_ledger)
    before = datetime.now(UTC) - timedelta(seconds=1)

    # The sweep's payloads: bound to no workflow (only erasure/… workflows are bound).
    sweep = await codec.encode([plain({"swept": 3}), plain({"round": 1})])
    # A request's workflow id that this ledger does not hold.
    elsewhere = await EncryptionCodec(keys.payload, workflow_id="erasure/er-notours").encode(
        [plain({"x": 1})]
    )
    opened = await service.decode([*sweep, *elsewhere], who="kim", namespace="default")

    assert [json.loads(p.data) for p in opened] == [{"swept": 3}, {"round": 1}, {"x": 1}]
    rows = [
        (d.actor, d.namespace, d.workflow_id, d.payloads) for d in await sqlite_ledger.decodes()
    ]
    assert sorted(rows, key=str) == sorted(
        [("codec:kim", "default", None, 2), ("codec:kim", "default", "erasure/er-notours", 1)],
        key=str,
    )
    assert all(before <= d.at <= datetime.now(UTC) for d in await sqlite_ledger.decodes())


async def test_nothing_is_recorded_for_nothing_decoded(
    sqlite_ledger: Ledger, keys: Keyring
) -> None:
    service = CodecService(
        codec=EncryptionCodec(keys.payload), tokens={"t" * 20: "kim"}, ledger=sqlite_ledger
    )
    assert await service.decode([], who="kim", namespace="default") == []
    assert await sqlite_ledger.decodes() == []
