"""The OpenSearch REST API specification, vendored, and a validator of requests and responses against it."""
