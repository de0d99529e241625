"""Certificate files: the HTML page escapes everything and embeds exactly its certificate."""

from __future__ import annotations

import html
import json
import re
from datetime import date
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import (
    ErasureRounds,
    Ledger,
    OutcomeEntry,
    ProofLog,
    TreeHeadSigner,
    check_certificate,
)
from lethe.certificates import (
    check_certificate_file,
    load_certificate,
    render_html,
    write_certificate,
)
from lethe.errors import LetheError
from tests.support.requests import ERASED, NOW, finished_request

HOSTILE = '<script>alert("x")</script> & <img src=x onerror=1>'


async def test_the_page_escapes_what_systems_said(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    entry = OutcomeEntry(
        "retained",
        retained_counts={"rows.retained": 1},
        evidence={"note": HOSTILE, "</script>": 1},
        legal_basis="contract",
        basis_note=HOSTILE,
        retained_until=date(2030, 1, 1),
    )
    await finished_request(sqlite_ledger, "er-x", {"crm": entry})
    log = ProofLog(sqlite_ledger, TreeHeadSigner(key))
    await log.seal("er-x", at=NOW)
    cert = await log.certificate("er-x", issued_at=NOW)

    page = render_html(cert)
    assert page == render_html(json.loads(json.dumps(cert)))  # deterministic
    assert "<script>alert" not in page and "<img" not in page
    assert page.count("<script") == 1 and page.count("</script>") == 1  # only the embedded JSON
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img" in page

    path = tmp_path / "x.html"
    write_certificate(cert, path)
    embedded, text = load_certificate(path)
    assert embedded == json.loads(json.dumps(cert)) and text == page
    assert check_certificate_file(path, key.public_key()).ok
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # written atomically


async def test_a_certificate_cannot_borrow_another_request_s_receipt(
    sqlite_ledger: Ledger,
) -> None:
    key = Ed25519PrivateKey.generate()
    log = ProofLog(sqlite_ledger, TreeHeadSigner(key))
    for rid in ("er-a", "er-b"):
        await finished_request(sqlite_ledger, rid)
        await log.seal(rid, at=NOW)
    a = await log.certificate("er-a", issued_at=NOW)
    b = await log.certificate("er-b", issued_at=NOW)
    a["receipts"].append(b["receipts"][0])  # a genuine receipt, of another request
    check = check_certificate(a, key.public_key())
    # er-b's first receipt: after er-a's 7 (crm, forum, its state, its 4 events)
    assert check.problems == ["receipt at leaf 7: belongs to request 'er-b'"]
    unsigned = check_certificate(b, None)
    assert unsigned.problems == ["no public key given: the tree head's signature was not checked"]


def test_only_json_and_html(tmp_path: Path) -> None:
    with pytest.raises(LetheError, match=r"ends in \.json or \.html"):
        load_certificate(tmp_path / "x.pdf")
    page = tmp_path / "p.html"
    page.write_text("<html>no certificate here</html>")
    with pytest.raises(LetheError, match="no embedded certificate"):
        load_certificate(page)


def _text(page: str) -> str:
    """The page as a reader sees it: tags gone, whitespace collapsed."""
    body = page.split('<script type="application/json"')[0]
    body = re.sub(r"<style>.*?</style>", "", body, flags=re.DOTALL)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


async def test_the_page_says_what_is_kept_now_and_how_identity_was_verified(
    sqlite_ledger: Ledger,
) -> None:
    key = Ed25519PrivateKey.generate()
    log = ProofLog(sqlite_ledger, TreeHeadSigner(key))
    await finished_request(sqlite_ledger, "er-x")  # crm: retained until 2036; forum: erased
    await log.seal("er-x", at=NOW)
    # Years later the sweeper erases crm in round 1: the exception has ended.
    await sqlite_ledger.begin_system(
        "er-x", "crm", 1, connector="sql", connector_version="1", at=NOW
    )
    await sqlite_ledger.finish_system("er-x", "crm", 1, ERASED, at=NOW)
    await ErasureRounds(sqlite_ledger).close_round("er-x", "crm", 1, at=NOW)
    await log.seal("er-x", at=NOW)
    cert = await log.certificate("er-x", issued_at=NOW)
    assert check_certificate(cert, key.public_key()).ok

    text = _text(render_html(cert))
    assert "Identity verified by a named operator, with a recorded reason operator" in text
    assert "Superseded by round 1: erased Outcome retained Round 0" in text
    kept_now = text.split("Exceptions: what is kept, and why ")[1].split(" Proof")[0]
    assert kept_now.startswith("None: nothing is kept.")  # not "kept until 2036"
    assert "Exceptions that have since ended: crm: kept under GDPR Art. 17(3)(b)" in kept_now

    # What the page says of identity comes from the sealed request receipt, proven above.
    [state] = [e for e in cert["receipts"] if e["receipt"]["kind"] == "request_status"][-1:]
    assert state["receipt"]["verification_method"] == "operator"


async def test_a_refused_request_s_page_says_nothing_was_erased(sqlite_ledger: Ledger) -> None:
    log = ProofLog(sqlite_ledger, TreeHeadSigner(Ed25519PrivateKey.generate()))
    await finished_request(sqlite_ledger, "er-r", {}, status="rejected")
    await log.seal("er-r", at=NOW)
    text = _text(render_html(await log.certificate("er-r", issued_at=NOW)))
    assert "No system was asked to erase anything: the requester's identity was not" in text
