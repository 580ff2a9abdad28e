"""``DIR/endpoints.json``: how the CLI and tests find a running local stack."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

FILE = "endpoints.json"


class StackNotRunning(Exception):
    pass


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
        path = home / FILE
        if not path.exists():
            raise StackNotRunning(f"no local stack at {home} (start one with `ragline up --home {home}`)")
        values = json.loads(path.read_text())
        return cls(**{name: values[name] for name in cls.__dataclass_fields__ if name in values})

    @staticmethod
    def remove(home: Path) -> None:
        (home / FILE).unlink(missing_ok=True)
