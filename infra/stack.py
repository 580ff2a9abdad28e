"""The ragline stack.

This first version deploys the data path that every later part builds on: the documents bucket, its
S3 -> SQS event notifications with a dead-letter queue, and the registry table. The functions, the
OpenSearch collection, the Cognito user pool and the REST API follow in the next version, with the
Lambda layer bundled locally.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.ingestion import Ingestion
from infra.storage import Storage


class RaglineStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)
        storage = Storage(self, "Storage")
        ingestion = Ingestion(self, "Ingestion", storage.bucket)
        CfnOutput(self, "BucketName", value=storage.bucket.bucket_name)
        CfnOutput(self, "RegistryTable", value=storage.registry.table_name)
        CfnOutput(self, "IngestQueueUrl", value=ingestion.queue.queue_url)
        CfnOutput(self, "DeadLetterQueueUrl", value=ingestion.dead_letters.queue_url)
