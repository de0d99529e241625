"""Reading a file of requests (``lethe submit --from``): JSON Lines or CSV, numbered as an
editor numbers lines, blank lines skipped, shape problems per line and never with a value."""

from __future__ import annotations

import pytest

from lethe.errors import LetheError
from lethe.request_file import read_request_file


def test_json_lines_numbered_as_in_the_file() -> None:
    text = (
        '{"email": "ada@example.org", "systems": ["crm", "mailer"]}\n'
        "\n"
        "   \n"
        '{"email": "grace@example.org", "jurisdiction": "ccpa", "username": "gh",'
        ' "channel": null}\n'
    )
    lines = read_request_file(text)
    assert [(x.number, x.problem) for x in lines] == [(1, None), (4, None)]
    assert dict(lines[0].fields) == {"email": "ada@example.org", "systems": ("crm", "mailer")}
    # null is absent: the command's option applies.
    assert dict(lines[1].fields) == {
        "email": "grace@example.org",
        "jurisdiction": "ccpa",
        "username": "gh",
    }


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"email": "ada@example.org", "emial": "x"}', "unknown field 'emial'"),
        ('["ada@example.org"]', "not a JSON object"),
        ('{"email": "ada@example.org",', "not a JSON object"),
        ('{"email": ["ada@example.org"]}', "field 'email' must be text"),
        ('{"email": "ada@example.org", "systems": [1]}', "field 'systems' must be text or a list"),
    ],
)
def test_a_json_line_of_the_wrong_shape(line: str, problem: str) -> None:
    [first, bad, last] = read_request_file(
        f'{{"email": "grace@example.org"}}\n{line}\n{{"email": "kim@example.org"}}\n'
    )
    assert first.problem is None and last.problem is None
    assert bad.number == 2 and bad.problem is not None and problem in bad.problem
    assert "ada@example.org" not in bad.problem


def test_csv_with_a_header_blank_lines_and_quoted_cells() -> None:
    text = (
        " Email ,Jurisdiction,systems,username\n"
        "\n"
        'ada@example.org,gdpr,"crm,mailer",adal\n'
        "grace@example.org,,,\n"
        ",,,\n"
        '"kim@example.org",ccpa,crm,"k\nm"\n'
        "lee@example.org,gdpr\n"
    )
    lines = read_request_file(text)
    assert [(x.number, x.problem) for x in lines] == [
        (3, None),
        (4, None),
        (6, None),  # a quoted cell over two lines: the request starts on line 6
        (8, "has 2 fields, the header names 4"),
    ]
    assert dict(lines[0].fields) == {
        "email": "ada@example.org",
        "jurisdiction": "gdpr",
        "systems": "crm,mailer",
        "username": "adal",
    }
    assert dict(lines[1].fields) == {"email": "grace@example.org"}  # empty cells: absent


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "holds no request"),
        ("\n  \n", "holds no request"),
        ("email,jurisdiction\n\n", "a CSV header and nothing after it"),
        ("address,jurisdiction\nada@example.org,gdpr\n", "unknown field 'address'"),
        ("jurisdiction\ngdpr\n", "names no 'email' field"),
        ("email,Email\nada@example.org,x\n", "names 'email' twice"),
        ('email\n"ada@example.org\n', "line 2: not CSV"),
    ],
)
def test_a_file_that_is_not_requests_is_one_error(text: str, message: str) -> None:
    with pytest.raises(LetheError) as refused:
        read_request_file(text)
    assert message in str(refused.value)
    assert "ada@example.org" not in str(refused.value)
