"""The demo's hosted services: a Mailchimp newsletter (two audiences) and a Discourse forum,
local fakes that speak the vendors' protocols (``connectors.testing.fakes``, held to their
contracts), started by the demo on 127.0.0.1 and stopped with it. Lethe erases from them
through the ``http`` connector's presets, as it would from the real services:

    mailchimp    the member deleted permanently from both audiences; a suppression entry kept
                 (retained, under ``suppression``) so a later import cannot re-subscribe them
    discourse    the user anonymised: posts kept, author gone

Their API keys are made up for each run and handed to the connectors as the variables the
systems name (``password_env``, ``api_key_env``), never written into the demo's lethe.toml.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from connectors.testing.fakes.discourse import FakeDiscourse
from connectors.testing.fakes.mailchimp import FakeMailchimp
from connectors.testing.fakes.server import serve

from ..settings import SystemConfig

__all__ = ["AUDIENCES", "HostedServices", "hosted_services"]

AUDIENCES = ("news4b2c7e", "events9d1f")
MAILCHIMP_KEY_VAR = "MAILCHIMP_API_KEY"
DISCOURSE_KEY_VAR = "DISCOURSE_API_KEY"


@dataclass
class HostedServices:
    mailchimp: FakeMailchimp
    discourse: FakeDiscourse
    subject_email: str
    #: The variables the systems' ``*_env`` options name, with this run's keys.
    env: dict[str, str]
    snapshot: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    subject_keys: set[tuple[Any, ...]] = field(default_factory=set)

    def systems(self) -> dict[str, SystemConfig]:
        return {
            "mailchimp": SystemConfig(
                "mailchimp",
                "http",
                {
                    "preset": "mailchimp",
                    "base_url": self.mailchimp.url,
                    "password_env": MAILCHIMP_KEY_VAR,
                    "params": {"list_ids": list(AUDIENCES)},
                    "max_items": 10,
                },
            ),
            "discourse": SystemConfig(
                "discourse",
                "http",
                {
                    "preset": "discourse",
                    "base_url": self.discourse.url,
                    "api_key_env": DISCOURSE_KEY_VAR,
                    "params": {"mode": "anonymize"},
                    "max_items": 10,
                },
            ),
        }

    def records(self) -> dict[tuple[Any, ...], Any]:
        """Every record the two services hold, by key, as comparable values."""
        out: dict[tuple[Any, ...], Any] = {}
        with self.mailchimp.lock:
            for lid, members in self.mailchimp.lists.items():
                for h, m in members.items():
                    out[("mailchimp", lid, h)] = repr(sorted(m.items()))
        with self.discourse.lock:
            for uid, u in self.discourse.users.items():
                out[("discourse", "users", uid)] = repr(sorted(u.items()))
            for pid, p in self.discourse.posts.items():
                out[("discourse", "posts", pid)] = repr(sorted(p.items()))
        return out

    def check(self) -> tuple[int, list[str]]:
        """(records of other people checked, problems): others unchanged, the subject's
        members gone, their forum user anonymised and their posts kept."""
        now = self.records()
        problems: list[str] = []
        checked = 0
        for key, before in self.snapshot.items():
            if key in self.subject_keys:
                continue
            checked += 1
            if now.get(key) != before:
                problems.append(f"{key[0]} record {key[1:]} of another person changed")
        for key in set(now) - set(self.snapshot):
            problems.append(f"{key[0]} record {key[1:]} appeared")
        for key in self.subject_keys:
            after = now.get(key)
            if key[0] == "mailchimp" and after is not None:
                problems.append(f"mailchimp member in {key[1]} of the subject is still there")
            if key[:2] == ("discourse", "posts") and after != self.snapshot[key]:
                problems.append(f"discourse post {key[2]} of the subject was not kept")
            if key[:2] == ("discourse", "users") and (
                after is None or self.subject_email in after.lower()
            ):
                problems.append(f"discourse user {key[2]} was not anonymised")
        return checked, problems


@contextmanager
def hosted_services(people: Sequence[Any], subject: Any) -> Iterator[HostedServices]:
    """The two services, running and seeded with ``people`` (``email``, ``name``,
    ``username``), for the length of the block."""
    mailchimp_key, discourse_key = secrets.token_hex(16), secrets.token_hex(16)
    with ExitStack() as stack:
        mailchimp = stack.enter_context(serve(FakeMailchimp(mailchimp_key, AUDIENCES)))
        discourse = stack.enter_context(serve(FakeDiscourse(discourse_key, page_size=2)))
        hosted = HostedServices(
            mailchimp,
            discourse,
            subject.email,
            env={MAILCHIMP_KEY_VAR: mailchimp_key, DISCOURSE_KEY_VAR: discourse_key},
        )
        for person in people:
            mine = person is subject
            for lid in AUDIENCES:
                h = mailchimp.add(lid, person.email, person.name)
                if mine and h is not None:
                    hosted.subject_keys.add(("mailchimp", lid, h))
            for kind, key in discourse.add(person.email, person.username, person.name, posts=2):
                if mine:
                    hosted.subject_keys.add(("discourse", kind, key))
        hosted.snapshot = hosted.records()
        yield hosted
