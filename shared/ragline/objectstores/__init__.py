"""Object stores: where documents live. ``s3`` is the only one (S3, moto or LocalStack)."""
