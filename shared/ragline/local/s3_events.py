"""S3 event sequencers for moto, so the local stack orders events the way S3 does.

S3 puts a ``sequencer`` in every object event: a hex string that, for the events of one key, grows with the
order of the writes (compare after zero-padding to one width; S3's widths vary). moto leaves it out, which
would leave the ingest function's ordering path (the one every event on AWS takes) untested. This stamps
each event moto builds with the next value of a process-wide counter: one order for all keys, which is one
valid per-key order. The counter starts just below a power of 16, so widths change early, as S3's do.

Example:
    >>> install_sequencers()  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import itertools
import threading
from typing import Any

_START = 0xFFFF_FFF0  # eight hex digits, then nine after 16 events
_counter = itertools.count(_START)
_lock = threading.Lock()


def next_sequencer() -> str:
    """The next sequencer, as S3 writes them: upper-case hex with an even number of digits."""
    with _lock:
        value = next(_counter)
    digits = f"{value:X}"
    return digits.rjust(len(digits) + len(digits) % 2, "0")


def install_sequencers() -> None:
    """Make moto's S3 notifications carry sequencers (idempotent; moto must be importable)."""
    from moto.s3 import notifications  # local only: never on a Lambda's import path

    if getattr(notifications._get_s3_event, "ragline_sequencers", False):
        return
    build = notifications._get_s3_event

    @functools.wraps(build)
    def with_sequencer(*args: Any, **kwargs: Any) -> dict[str, list[dict[str, Any]]]:
        event = build(*args, **kwargs)
        for record in event.get("Records", []):
            record["s3"]["object"].setdefault("sequencer", next_sequencer())
        return event

    with_sequencer.ragline_sequencers = True  # type: ignore[attr-defined]
    notifications._get_s3_event = with_sequencer
