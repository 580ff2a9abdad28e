"""The key that audit records hash questions with (``RAGLINE_AUDIT_QUESTIONS=hash``).

On AWS it is a Secrets Manager secret the stack generates (``RAGLINE_AUDIT_KEY_SECRET``), read once per
execution environment; locally a file under the stack's home (``RAGLINE_AUDIT_KEY_FILE``), made on first
use, readable by its owner only. Either way the key is its text's UTF-8 bytes.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

MIN_KEY_BYTES = 32  # HMAC-SHA256's block of security: a shorter key is refused


def key_from_secret(secretsmanager: Any, secret_id: str) -> bytes:
    """The key held by the secret ``secret_id`` (its name or ARN)."""
    return _checked(secretsmanager.get_secret_value(SecretId=secret_id)["SecretString"].encode(), secret_id)


def key_from_file(path: Path) -> bytes:
    """The key in ``path``; a new random one (64 hex digits) is written there first when there is none."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # made meanwhile by another process of the stack
        else:
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_hex(32))
    return _checked(path.read_bytes().strip(), str(path))


def _checked(key: bytes, source: str) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the audit key in {source} is shorter than {MIN_KEY_BYTES} bytes")
    return key
