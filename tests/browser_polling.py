"""Waiting on a page condition from Python, for the browser tests.

Playwright's ``wait_for_function`` polls by evaluating a string inside the page; the report and
listening pages' Content-Security-Policy (no 'unsafe-eval') rightly blocks that, so the wait is
done from Python with ``page.evaluate``, which the policy does not cover.
"""

from __future__ import annotations

import time
from typing import Any


def wait_until(page: Any, expression: str, timeout_s: float = 15.0) -> None:
    """Poll the JavaScript ``expression`` until it is truthy; AssertionError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout_s} s: {expression}")
        time.sleep(0.1)
