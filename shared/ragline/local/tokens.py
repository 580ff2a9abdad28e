"""Bearer tokens for the local API: RS256 JWTs with the claims a Cognito ID token carries.

The stack creates its signing key once under its home folder; ``ragline token`` signs with it and the
local API Gateway verifies with it, as API Gateway verifies Cognito's tokens against the pool's keys.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "ragline-local"
AUDIENCE = "ragline"
KEY_FILE = "signing-key.pem"


class InvalidToken(Exception):
    pass


def _signing_key(home: Path) -> rsa.RSAPrivateKey:
    path = home / KEY_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.touch(mode=0o600)
        path.write_bytes(pem)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ValueError(f"{path} holds no RSA private key: delete it and a new one is made")
    return loaded


def local_user_id(username: str) -> str:
    """The ``sub`` of a local user: the same for a username on every stack, as Cognito's is for one user."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ragline-local/{username}"))


def issue_token(home: Path, user: str, groups: list[str], ttl_seconds: int = 3600) -> str:
    now = int(time.time())
    claims = {
        "sub": local_user_id(user),
        "cognito:username": user,
        "cognito:groups": sorted(set(groups)),
        "token_use": "id",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    return jwt.encode(claims, _signing_key(home), algorithm="RS256")


class TokenVerifier:
    """Checks signature, expiry, issuer and audience, as API Gateway's Cognito authorizer does."""

    def __init__(self, home: Path) -> None:
        self._public_key = _signing_key(home).public_key()

    def verify(self, token: str) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                self._public_key,
                algorithms=["RS256"],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(str(error)) from error


def authorizer_claims(claims: dict[str, Any]) -> dict[str, str]:
    """Claims as a REST API's Cognito authorizer hands them to the function: every value a string,
    groups comma-separated."""
    rendered = {}
    for name, value in claims.items():
        rendered[name] = ",".join(value) if isinstance(value, list) else str(value)
    return rendered
