"""The local stack: moto server (S3, SQS, DynamoDB), the ingest worker and a local API Gateway.

It runs the same Lambda handlers as AWS, fed with the same event shapes, so what works here works there.
"""
