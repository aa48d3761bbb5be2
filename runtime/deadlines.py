"""Deadlines for the Lambda function: no endpoint request starts that could outlive the invocation.

botocore retries inside one call, and each attempt may wait its connect and read timeouts; in a
batch processed record after record, that can run past the function's timeout, which loses the
partial batch response and burns a receive count of every message. ``RequestDeadline`` is a
``before-send`` hook: before each attempt (the first and every retry) it checks that the
attempt's worst case still ends before the current record's deadline, and otherwise raises
``DeadlineExceeded``, which fails that record alone so SQS redelivers it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from botocore.config import Config


class DeadlineExceeded(TimeoutError):
    """Not enough time is left to finish this work before the invocation ends."""


def attempt_seconds(config: Config) -> float:
    """The longest one attempt of a client's request can take: its connect and read timeouts."""
    return float(config.connect_timeout) + float(config.read_timeout)  # type: ignore[attr-defined]


class RequestDeadline:
    """Refuses to start requests (and retries) of the clients it is attached to that could not
    finish before the deadline set with ``until``. Outside ``until`` nothing is checked."""

    def __init__(self) -> None:
        self._until: ContextVar[float | None] = ContextVar("request_deadline", default=None)

    def attach(self, client: BaseClient, operation: str) -> float:
        """Check every attempt of ``operation`` (e.g. ``sagemaker-runtime.InvokeEndpoint``).

        Returns:
            The seconds one attempt may take, from the client's own timeouts.
        """
        budget = attempt_seconds(client.meta.config)

        def before_send(**_: object) -> None:
            self.check(budget, operation)

        # Last: after the adaptive retry mode's own rate limiting, which may sleep.
        client.meta.events.register_last(f"before-send.{operation}", before_send)
        return budget

    @contextmanager
    def until(self, deadline: float) -> Iterator[None]:
        """Within the block, work must end by ``deadline`` (a ``time.monotonic()`` value)."""
        token = self._until.set(deadline)
        try:
            yield
        finally:
            self._until.reset(token)

    def remaining(self) -> float | None:
        """Seconds left before the current deadline (None outside ``until``)."""
        deadline = self._until.get()
        return None if deadline is None else deadline - time.monotonic()

    def check(self, needed: float, what: str) -> None:
        """Raise unless ``needed`` seconds of work still end before the deadline.

        Raises:
            DeadlineExceeded: naming ``what`` and the seconds needed and left.
        """
        left = self.remaining()
        if left is not None and needed > left:
            raise DeadlineExceeded(
                f"{what} was not started: it may take {needed:.1f} s and {max(left, 0):.1f} s "
                "are left before the invocation's deadline; it will be retried"
            )
