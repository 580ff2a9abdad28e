"""FakeEventQueue: the EventQueue port as a list of the message bodies sent, for unit tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


class FakeEventQueue:
    """Keeps every body sent, in order; :meth:`records` reads them back as S3-shaped records.

    >>> queue = FakeEventQueue()
    >>> queue.send(['{"Records": [{"eventName": "Sync:Refresh"}]}'])
    >>> queue.records()
    [{'eventName': 'Sync:Refresh'}]
    >>> queue.take(), queue.bodies
    ([{'eventName': 'Sync:Refresh'}], [])
    """

    def __init__(self) -> None:
        self.bodies: list[str] = []
        self.delays: list[int] = []  # each body's delay_seconds, in the same order

    def send(self, bodies: Sequence[str], delay_seconds: int = 0) -> None:
        self.bodies.extend(bodies)
        self.delays.extend(delay_seconds for _ in bodies)

    def records(self) -> list[dict[str, Any]]:
        return [record for body in self.bodies for record in json.loads(body)["Records"]]

    def take(self) -> list[dict[str, Any]]:
        """The records waiting, as :meth:`records` gives them, and an empty queue: a consumer received them."""
        records = self.records()
        self.bodies, self.delays = [], []
        return records
