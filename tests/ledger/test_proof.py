"""Canonical JSON, signed tree heads and receipt commitments: the bytes are what we say."""

from __future__ import annotations

import base64
import hashlib
import struct
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from ledger.proof import (
    ProofError,
    TreeHead,
    TreeHeadSigner,
    canonical_json,
    key_fingerprint,
    load_public_key,
    parse_receipt,
    public_key_pem,
    read_json,
    receipt_commitment,
    tree_head_message,
    verify_receipt_commitment,
)


def test_canonical_json_by_example() -> None:
    value = {
        "b": [1, 2.5, 300.0, -0.0, 1e-7, True, None],
        "a": 'é\n"\\\u0001\u007f😀',
        "A": {"z": date(2036, 1, 31), "y": datetime(2026, 1, 31, 12, 0, tzinfo=UTC)},
        "c": (1,),
    }
    assert canonical_json(value) == (
        '{"A":{"y":"2026-01-31T12:00:00.000000Z","z":"2036-01-31"},'
        '"a":"é\\n\\"\\\\\\u0001\u007f😀",'
        '"b":[1,2.5,300,0,1e-07,true,null],"c":[1]}'
    ).encode("utf-8")


def test_datetimes_are_written_in_utc() -> None:
    cet = timezone(timedelta(hours=1))
    assert canonical_json(datetime(2026, 1, 31, 13, 0, 0, 5, tzinfo=cet)) == (
        b'"2026-01-31T12:00:00.000005Z"'
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("nan"), "NaN"),
        (float("inf"), "infinities"),
        (datetime(2026, 1, 1), "naive"),
        ({1: "x"}, "keys must be strings"),
        ("\ud800", "surrogate"),
        (b"bytes", "bytes has no canonical"),
        ({1.5}, "set has no canonical"),
    ],
)
def test_what_has_no_canonical_form_is_refused(value: Any, message: str) -> None:
    with pytest.raises(ProofError, match=message):
        canonical_json(value)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), json_values, max_size=6))
def test_reading_back_and_encoding_again_gives_the_same_bytes(value: dict[str, Any]) -> None:
    try:
        data = canonical_json(value)
    except ProofError:
        return  # lone surrogates in generated text
    assert parse_receipt(data) == parse_receipt(canonical_json(parse_receipt(data)))
    assert canonical_json(parse_receipt(data)) == data


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}',  # whitespace
        '{"b":1,"a":2}',  # unsorted
        '{"a":300.0}',  # a whole float
        '{"a":1,"a":2}',  # a repeated key
        '{"a":"\\u00e9"}',  # an escape JSON does not require
        "[1]",  # not an object
        "{",  # not JSON
    ],
)
def test_parse_receipt_refuses_what_is_not_canonical(text: str) -> None:
    with pytest.raises(ProofError):
        parse_receipt(text.encode())


def test_read_json_refuses_repeated_keys() -> None:
    with pytest.raises(ProofError, match="appears twice"):
        read_json('{"ok": true, "ok": false}')


def test_tree_heads_sign_the_rfc_6962_structure() -> None:
    key = Ed25519PrivateKey.generate()
    signer = TreeHeadSigner(key)
    root = hashlib.sha256(b"root").digest()
    head = signer.sign_head(7, root, 1_767_225_600_123)
    message = tree_head_message(7, root, 1_767_225_600_123)
    # version v1 (0), signature_type tree_hash (1), uint64 timestamp, uint64 size, root
    assert message == b"\x00\x01" + struct.pack(">QQ", 1_767_225_600_123, 7) + root
    key.public_key().verify(head.signature, message)  # raises if not
    assert head.verify(key.public_key())
    assert TreeHead.from_dict(head.to_dict()) == head
    assert head.to_dict()["timestamp"] == "2026-01-01T00:00:00.123000Z"

    for changed in (
        TreeHead(8, root, head.timestamp_ms, head.signature, head.key_fingerprint),
        TreeHead(7, bytes(32), head.timestamp_ms, head.signature, head.key_fingerprint),
        TreeHead(7, root, head.timestamp_ms + 1, head.signature, head.key_fingerprint),
    ):
        assert not changed.verify(key.public_key())
    assert not head.verify(Ed25519PrivateKey.generate().public_key())
    shown = head.to_dict()
    shown["timestamp"] = "2030-01-01T00:00:00.000000Z"
    with pytest.raises(ProofError, match="readable timestamp"):
        TreeHead.from_dict(shown)


def test_receipt_commitments_bind_the_index() -> None:
    key = Ed25519PrivateKey.generate()
    leaf = hashlib.sha256(b"leaf").digest()
    signature = TreeHeadSigner(key).commit_receipt(5, leaf)
    assert receipt_commitment(5, leaf) == b"lethe receipt v1\x00" + struct.pack(">Q", 5) + leaf
    assert verify_receipt_commitment(key.public_key(), 5, leaf, signature)
    assert not verify_receipt_commitment(key.public_key(), 6, leaf, signature)
    assert not verify_receipt_commitment(key.public_key(), 5, bytes(32), signature)


def test_keys_load_from_pem_or_raw_base64_and_fingerprint_as_ct_log_ids() -> None:
    public = Ed25519PrivateKey.generate().public_key()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert key_fingerprint(public) == hashlib.sha256(der).hexdigest()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    for form in (public_key_pem(public).encode(), base64.b64encode(raw)):
        assert key_fingerprint(load_public_key(form)) == key_fingerprint(public)
    with pytest.raises(ProofError, match="not an Ed25519 public key"):
        load_public_key(b"hello")
