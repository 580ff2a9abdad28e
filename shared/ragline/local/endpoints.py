"""``DIR/endpoints.json``: how the CLI and tests find a running local stack."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ragline.local.lock import running_pid

FILE = "endpoints.json"


class StackNotRunning(Exception):
    """No stack was started on the home (no endpoints file)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        super().__init__(f"no local stack on {home}; start it with: ragline up --home {home}")


class StackNotResponding(Exception):
    """The home names a stack, but it does not answer: it crashed, or it refuses or drops connections."""

    def __init__(self, home: Path, url: str) -> None:
        self.home = home
        self.url = url
        super().__init__(f"the stack on {home} is not responding ({url}); start it with: ragline up --home {home}")


@dataclass(frozen=True)
class Endpoints:
    api_url: str
    s3_endpoint: str
    bucket: str
    region: str
    registry_table: str
    queue_url: str
    dead_letter_queue_url: str
    embedder: str
    dynamodb_endpoint: str = ""  # where the registry is, when not beside S3 (LocalStack without DynamoDB)

    def write(self, home: Path) -> None:
        temporary = home / (FILE + ".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2))
        temporary.replace(home / FILE)  # atomic: a reader never sees half a file

    @classmethod
    def read(cls, home: Path) -> Endpoints:
        """The endpoints of the stack running on ``home``. Raises :class:`StackNotRunning` when none was
        started there, :class:`StackNotResponding` when the file outlived its stack (no process holds the
        home's lock: the stack crashed)."""
        path = home / FILE
        if not path.exists():
            raise StackNotRunning(home)
        values = json.loads(path.read_text())
        endpoints = cls(**{name: values[name] for name in cls.__dataclass_fields__ if name in values})
        if running_pid(home) is None:
            raise StackNotResponding(home, endpoints.api_url)
        return endpoints

    @staticmethod
    def remove(home: Path) -> None:
        (home / FILE).unlink(missing_ok=True)
