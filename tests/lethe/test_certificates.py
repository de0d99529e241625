"""Certificate files: the HTML page escapes everything and embeds exactly its certificate."""

from __future__ import annotations

import html
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

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
from tests.support.cli import lethe
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
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;img" in page

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
    assert "2 systems: 2 erased" in text  # crm's round 1 is the receipt in force
    assert "crm: Erased erased" in text
    assert "Round 0: Kept under a legal basis retained , kept under GDPR Art. 17(3)(b)" in text
    kept_now = text.split("What is kept, and why ")[1].split(" What happened")[0]
    assert kept_now.startswith("Nothing is kept.")  # not "kept until 2036"
    assert (
        "Kept earlier, not any more: crm: kept under GDPR Art. 17(3)(b): legal obligation or"
        " public task (round 0); round 1: Erased erased"
    ) in kept_now

    # What the page says of identity comes from the sealed request receipt, proven above.
    [state] = [e for e in cert["receipts"] if e["receipt"]["kind"] == "request_status"][-1:]
    assert state["receipt"]["verification_method"] == "operator"


async def test_a_refused_request_s_page_says_nothing_was_erased(sqlite_ledger: Ledger) -> None:
    log = ProofLog(sqlite_ledger, TreeHeadSigner(Ed25519PrivateKey.generate()))
    await finished_request(sqlite_ledger, "er-r", {}, status="rejected")
    await log.seal("er-r", at=NOW)
    text = _text(render_html(await log.certificate("er-r", issued_at=NOW)))
    assert "No system was asked to erase anything: the requester's identity was not" in text


FIXTURES = Path(__file__).parent.parent / "fixtures" / "certificates"
#: A page `lethe demo` wrote before the template (``lethe certificate-html/3``), and its key.
OLD_PAGE = FIXTURES / "demo-certificate-html-3.html"
OLD_KEY = FIXTURES / "demo-proof-log-public-key.pem"


def _old_key() -> Any:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    return load_pem_public_key(OLD_KEY.read_bytes())


def test_a_page_issued_before_the_template_still_verifies(
    tmp_path: Path, bare_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert 'content="lethe certificate-html/3"' in OLD_PAGE.read_text()
    assert check_certificate_file(OLD_PAGE, _old_key()).ok
    assert lethe("audit", "verify", str(OLD_PAGE), "--public-key", str(OLD_KEY)) == 0
    assert "VERIFIED" in capsys.readouterr().out
    # Its visible text is still held to what it embeds.
    edited = tmp_path / "edited.html"
    edited.write_text(OLD_PAGE.read_text().replace("copies.retained: 3", "copies.retained: 0"))
    problems = check_certificate_file(edited, _old_key()).problems
    assert problems == ["the page's visible text differs from the certificate it embeds (edited)"]


def test_the_page_says_the_outcome_first_in_words_with_the_tokens_beside(
    tmp_path: Path,
) -> None:
    cert, _ = load_certificate(OLD_PAGE)  # the demo's: four systems
    issuer = {"organisation": "Example Forum Ltd", "contact": "privacy@example.org"}
    page = render_html(cert, issuer=issuer)
    assert page == render_html(json.loads(json.dumps(cert)), issuer=dict(issuer))
    assert 'content="lethe certificate-html/4"' in page
    text = _text(page)
    summary = "4 systems: 2 erased, 2 kept under a legal basis"
    assert text.index("Example Forum Ltd privacy@example.org") < text.index(summary)
    assert text.index(summary) < text.index("The request")
    assert "Done, with exceptions the law allows completed_with_exceptions" in text
    assert "backups: Kept under a legal basis retained" in text
    assert "forum: Erased erased" in text
    assert "GDPR Art. 17(3)(b): legal obligation or public task gdpr-17-3-b" in text
    # Evidence as key/value lines, not JSON; no empty rows; one time format.
    assert "copies.1.name: crm-nightly-2026-11-15.db copies.1.taken_on: 2026-11-15" in text
    assert "{" not in text and "—" not in text
    assert "Ticket" not in text and "Referred to" not in text and "Error" not in text
    assert not re.search(r"\d{4}-\d\d-\d\dT\d", text)
    assert "2026-12-06 09:18 UTC" in text
    assert "@media print" in page and "lethe audit verify THIS_FILE" in text

    path = tmp_path / "c.html"
    write_certificate(cert, path, issuer=issuer)
    assert path.read_text() == page
    assert check_certificate_file(path, _old_key()).ok
    edited = "the page's visible text differs from the certificate it embeds (edited)"
    for before, after in (
        ("<strong>Example Forum Ltd</strong>", "<strong>Other Ltd</strong>"),
        ('"organisation": "Example Forum Ltd"', '"organisation": "Other Ltd"'),
        ("2 erased, 2 kept", "4 erased, 0 kept"),
    ):
        assert before in page, before
        path.write_text(page.replace(before, after))
        assert check_certificate_file(path, _old_key()).problems == [edited], before


def test_a_page_without_an_issuer_has_no_issuer_block(tmp_path: Path) -> None:
    cert, _ = load_certificate(OLD_PAGE)
    page = render_html(cert, issuer={"organisation": None, "contact": None})
    assert page == render_html(cert)
    assert 'class="issuer"' not in page and "lethe-issuer" not in page
    path = tmp_path / "c.html"
    write_certificate(cert, path)
    assert check_certificate_file(path, _old_key()).ok
