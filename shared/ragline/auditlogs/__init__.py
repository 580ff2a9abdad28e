"""Audit logs: where the access audit trail is kept. ``dynamodb`` is the only one (DynamoDB or moto); ``keys``
reads the HMAC key that questions are hashed with."""
