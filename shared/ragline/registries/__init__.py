"""Document registries: one record and one lease per document. ``dynamodb`` is the only one (DynamoDB or moto)."""
