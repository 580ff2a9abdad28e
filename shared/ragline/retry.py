"""Retrying throttled AWS calls: exponential backoff with full jitter.

Bedrock throttles per account and model (``ThrottlingException``) and now and then answers with a 5xx
or ``ModelNotReadyException``. Those are worth another try after a pause; everything else (a
``ValidationException``, ``AccessDeniedException``, a bug) is raised at once, unchanged.

The pause before retry ``n`` (0-based) is drawn uniformly from ``[0, min(max_delay, base_delay * 2**n)]``
("full jitter"), which spreads concurrent callers out instead of having them retry in lock-step.

Example:
    >>> calls = []
    >>> def flaky():
    ...     calls.append(1)
    ...     if len(calls) < 3:
    ...         raise ClientError({"Error": {"Code": "ThrottlingException"}}, "InvokeModel")
    ...     return "ok"
    >>> call_with_backoff(flaky, max_retries=5, base_delay=0.1, sleep=lambda s: None)
    'ok'
    >>> len(calls)
    3

Note that botocore has its own retries (``legacy`` mode retries throttling up to 4 times). This helper adds
a longer, jittered budget on top; configure the client with ``Config(retries={"max_attempts": 1})`` if you
want this helper to be the only layer.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
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


def backoff_delay(retry: int, base_delay: float, max_delay: float, rand: Callable[[], float] = random.random) -> float:
    """Full-jitter delay before retry number ``retry`` (0-based): uniform in [0, min(max, base * 2**retry)]."""
    return rand() * min(max_delay, base_delay * (2**retry))


def call_with_backoff(
    fn: Callable[[], T],
    *,
    max_retries: int = 6,
    base_delay: float = 0.2,
    max_delay: float = 20.0,
    sleep: Callable[[float], None] = time.sleep,
    retryable: Callable[[BaseException], bool] = is_retryable,
    description: str = "AWS call",
    rand: Callable[[], float] = random.random,
) -> T:
    """Call ``fn()``; on a retryable error sleep and call again, up to ``max_retries`` more times.

    Returns what ``fn`` returns. A non-retryable error propagates unchanged on the spot. When the retries
    are used up, raises :class:`~ragline.errors.TransientError` naming ``description`` and the last error
    code, chained to the last error (``raise ... from``).
    """
    if max_retries < 0:
        raise ValueError("max_retries must be >= 0")
    retry = 0
    while True:
        try:
            return fn()
        except Exception as exc:
            if not retryable(exc):
                raise
            if retry >= max_retries:
                raise TransientError(
                    f"{description} still failing after {retry + 1} attempts: {error_code(exc)}"
                ) from exc
            sleep(backoff_delay(retry, base_delay, max_delay, rand))
            retry += 1
