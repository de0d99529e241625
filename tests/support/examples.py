"""How many examples a property test tries: all of them in ``make test``, a tenth in ``make
check`` (``--hypothesis-profile=check``, registered in ``tests/conftest.py``).

A test that asks for more examples than Hypothesis's default says so with
``@settings(max_examples=examples(400))``; a test that does not gets the profile's own count.
"""

from __future__ import annotations

from hypothesis import settings

__all__ = ["CHECK_EXAMPLES", "examples"]

#: The examples per property test in ``make check`` (Hypothesis's default is 100).
CHECK_EXAMPLES = 10


def examples(full: int) -> int:
    """``full`` under the default profile; scaled like the profile's own count otherwise."""
    return max(1, full * settings.default.max_examples // 100)
