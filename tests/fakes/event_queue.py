"""FakeEventQueue: the EventQueue port as a list of the message bodies sent, for unit tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


class FakeEventQueue:
    """Keeps every body sent, in order; :meth:`records` reads them back as S3-shaped records."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    def send(self, bodies: Sequence[str]) -> None:
        self.bodies.extend(bodies)

    def records(self) -> list[dict[str, Any]]:
        return [record for body in self.bodies for record in json.loads(body)["Records"]]
