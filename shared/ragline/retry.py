"""Retrying transient failures: one policy, exponential backoff with full jitter.

Bedrock throttles per account and model (``ThrottlingException``) and now and then answers with a 5xx
or ``ModelNotReadyException``; OpenSearch answers 429 or 5xx under load. Those are worth another try after
a pause; everything else (a ``ValidationException``, ``AccessDeniedException``, a bug) is raised at once,
unchanged. Which errors are transient is the caller's to say: :func:`is_retryable` for AWS calls, the
OpenSearch adapter its own.

Every adapter that retries takes one :class:`RetryPolicy`. The pause before retry ``n`` (0-based) is drawn
uniformly from ``[0, min(max_delay, base_delay * 2**n)]`` ("full jitter"), which spreads concurrent callers
out instead of having them retry in lock-step.

Example:
    >>> calls = []
    >>> def flaky():
    ...     calls.append(1)
    ...     if len(calls) < 3:
    ...         raise ClientError({"Error": {"Code": "ThrottlingException"}}, "InvokeModel")
    ...     return "ok"
    >>> policy = RetryPolicy(attempts=6, base_delay=0.1, sleep=lambda seconds: None)
    >>> policy.call(flaky, is_retryable, description="Bedrock InvokeModel")
    'ok'
    >>> len(calls)
    3

Note that botocore has its own retries (``legacy`` mode retries throttling up to 4 times). The policy adds
a longer, jittered budget on top; configure the client with ``Config(retries={"max_attempts": 1})`` if you
want it to be the only layer.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.exceptions import ConnectionError as BotoConnectionError

from ragline.errors import TransientError

T = TypeVar("T")

#: Error codes that mean "try again later" on Bedrock (and most AWS services).
RETRYABLE_ERROR_CODES = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "ServiceUnavailableException",
        "ModelNotReadyException",
        "InternalServerException",
    }
)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ``ClientError`` (``"ThrottlingException"``), else the exception's class name."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or type(exc).__name__)
    return type(exc).__name__


def _status(exc: ClientError) -> int:
    try:
        return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    except (TypeError, ValueError):
        return 0


def is_retryable(exc: BaseException) -> bool:
    """Whether ``exc`` is a transient AWS failure: throttling, a 429 or 5xx, or a dropped connection."""
    if isinstance(exc, ClientError):
        status = _status(exc)
        return error_code(exc) in RETRYABLE_ERROR_CODES or status == 429 or 500 <= status <= 599
    return isinstance(exc, (BotoConnectionError, ReadTimeoutError))


@dataclass(frozen=True)
class RetryPolicy:
    """Up to ``attempts`` calls in all, with a full-jitter pause before each retry.

    ``sleep`` and ``rand`` are injectable so that tests neither wait nor draw: ``sleep=delays.append``
    records the pauses, ``rand=lambda: 1.0`` makes each the largest the backoff allows.

    >>> policy = RetryPolicy(base_delay=0.5, max_delay=3.0, rand=lambda: 1.0)
    >>> [policy.delay(retry) for retry in range(4)]
    [0.5, 1.0, 2.0, 3.0]
    """

    attempts: int = 7
    base_delay: float = 0.2
    max_delay: float = 20.0
    sleep: Callable[[float], None] = time.sleep
    rand: Callable[[], float] = random.random
    #: Seconds all the attempts together may take (None: no bound). A retry is made only when its pause and
    #: one more attempt of ``attempt_seconds`` (the client's own timeout) still end inside it, so a caller
    #: with a deadline (the query function inside API Gateway's 29 s) is never kept past it.
    budget: float | None = None
    attempt_seconds: float = 0.0
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int) or self.attempts < 1:
            raise ValueError(f"attempts must be a positive integer, got {self.attempts!r}")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("base_delay and max_delay must be >= 0")
        if self.attempt_seconds < 0 or (self.budget is not None and self.budget < self.attempt_seconds):
            raise ValueError("attempt_seconds must be >= 0 and the budget at least one attempt long")

    def next_pause(self, retry: int, started: float) -> float | None:
        """The pause before retry number ``retry`` of calls that began at ``started`` (``clock()``), or None
        when the attempts or the budget are used up."""
        if retry + 1 >= self.attempts:
            return None
        pause = self.delay(retry)
        if self.budget is not None and self.clock() - started + pause + self.attempt_seconds > self.budget:
            return None
        return pause

    def delay(self, retry: int) -> float:
        """The pause before retry number ``retry`` (0-based): uniform in [0, min(max, base * 2**retry)]."""
        return self.rand() * min(self.max_delay, self.base_delay * (2**retry))

    def pause(self, retry: int) -> None:
        """Sleep before retry number ``retry``: for callers that decide themselves what to try again."""
        self.sleep(self.delay(retry))

    def call(self, fn: Callable[[], T], retryable: Callable[[BaseException], bool], *, description: str) -> T:
        """Call ``fn()``; on an error ``retryable`` accepts, pause and call again, ``attempts`` times at most
        and within the ``budget``.

        Returns what ``fn`` returns. Any other error propagates unchanged on the spot. When the attempts are
        used up, raises :class:`~ragline.errors.TransientError` naming ``description`` and the last error
        code, chained to the last error (``raise ... from``).
        """
        started = self.clock()
        retry = 0
        while True:
            try:
                return fn()
            except Exception as exc:
                if not retryable(exc):
                    raise
                pause = self.next_pause(retry, started)
                if pause is None:
                    raise TransientError(
                        f"{description} still failing after {retry + 1} attempts: {error_code(exc)}"
                    ) from exc
                self.sleep(pause)
                retry += 1
