"""A local Discourse forum (users and their posts): the admin users list, anonymise and
delete, as ``contracts/discourse.yaml`` writes them down from docs.discourse.org."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .server import Answer, FakeService

_NOT_FOUND = {
    "errors": ["The requested URL or resource could not be found."],
    "error_type": "not_found",
}


class FakeDiscourse(FakeService):
    contract_name = "discourse"
    unauthorised: Answer = (
        403,
        {},
        {
            "errors": ["You are not permitted to view the requested resource."],
            "error_type": "invalid_access",
        },
    )

    def __init__(self, api_key: str, *, api_username: str = "system", page_size: int = 5):
        super().__init__(page_size=page_size)
        self.api_key = api_key
        self.api_username = api_username
        self.users: dict[int, dict[str, Any]] = {}
        self.posts: dict[int, dict[str, Any]] = {}
        self.last_user = 0
        self.last_post = 0
        self.anonymised = 0

    def add(self, email: str, username: str, name: str, posts: int = 1) -> list[tuple[str, int]]:
        """A user and their posts; the records' keys."""
        with self.lock:
            self.last_user += 1
            uid = self.last_user
            self.users[uid] = {
                "id": uid,
                "username": username,
                "name": name,
                "email": email,
                "active": True,
                "admin": False,
                "moderator": False,
                "trust_level": 1,
            }
            keys = [("users", uid)]
            for n in range(posts):
                self.last_post += 1
                self.posts[self.last_post] = {
                    "id": self.last_post,
                    "user_id": uid,
                    "raw": f"post {n} about the weather",
                }
                keys.append(("posts", self.last_post))
            return keys

    def error_body(self, status: int) -> Any:
        if status == 429:
            return {
                "errors": ["You've performed this action too many times. Please wait."],
                "error_type": "rate_limit",
                "extras": {"wait_seconds": 30, "time_left": "30 seconds"},
            }
        return {"errors": ["Something went wrong."], "error_type": "server_error"}

    def authorised(self, headers: Mapping[str, str]) -> bool:
        return (
            headers.get("api-key") == self.api_key
            and headers.get("api-username") == self.api_username
        )

    def route(self, method: str, path: str, query: Mapping[str, str], body: Any) -> Answer:
        if (method, path) == ("GET", "/admin/users/list/all.json"):
            return self._list(query)
        m = re.fullmatch(r"/admin/users/(\d+)/anonymize\.json", path)
        if method == "PUT" and m:
            return self._anonymise(int(m.group(1)))
        m = re.fullmatch(r"/admin/users/(\d+)\.json", path)
        if method == "DELETE" and m:
            return self._delete(int(m.group(1)), bool((body or {}).get("delete_posts")))
        return 404, {}, _NOT_FOUND

    def _list(self, query: Mapping[str, str]) -> Answer:
        needle = query.get("filter", "").lower()
        show = query.get("show_emails") == "true"
        hits = [
            u
            for u in sorted(self.users.values(), key=lambda u: u["id"])
            if needle in u["email"].lower() or needle in u["username"].lower()
        ]
        page = int(query.get("page", "1"))
        start = (page - 1) * self.page_size
        rows = []
        for u in hits[start : start + self.page_size]:
            row = {k: v for k, v in u.items() if k != "email"}
            if show:
                row["email"] = u["email"]
            rows.append(row)
        return 200, {}, rows

    def _anonymise(self, uid: int) -> Answer:
        user = self.users.get(uid)
        if user is None:
            return 404, {}, _NOT_FOUND
        self.anonymised += 1
        username = f"anon{self.anonymised}"
        user.update(
            username=username, name="", email=f"{username}@anonymized.invalid", active=False
        )
        return 200, {}, {"success": "OK", "username": username}

    def _delete(self, uid: int, delete_posts: bool) -> Answer:
        if uid not in self.users:
            return 404, {}, _NOT_FOUND
        theirs = [pid for pid, p in self.posts.items() if p["user_id"] == uid]
        if theirs and not delete_posts:
            return (
                403,
                {},
                {
                    "errors": ["User has posts and cannot be deleted."],
                    "error_type": "invalid_access",
                },
            )
        for pid in theirs:
            del self.posts[pid]
        del self.users[uid]
        return 200, {}, {"deleted": True}
