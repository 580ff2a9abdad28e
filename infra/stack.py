"""The ragline stack: storage, search, ingestion, API and observability, on one Lambda layer.

Settings come from CDK context (see :mod:`infra.config` and ``cdk.json``).
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.api import Api
from infra.config import Config
from infra.functions import SharedLayer
from infra.ingestion import Ingestion
from infra.observability import Observability
from infra.search import Search
from infra.storage import Storage


class RaglineStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: Config | None = None, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config = config or Config.of(self.node)
        storage = Storage(self, "Storage")
        search = Search(self, "Search", config=config)
        layer = SharedLayer(self, "Shared", skip_bundling=config.skip_bundling).layer
        environment = self._environment(storage, config)
        ingestion = Ingestion(
            self,
            "Ingestion",
            storage.bucket,
            registry=storage.registry,
            layer=layer,
            search=search,
            environment=environment,
            config=config,
        )
        api = Api(
            self,
            "Api",
            bucket=storage.bucket,
            registry=storage.registry,
            layer=layer,
            search=search,
            environment=environment,
            config=config,
        )
        observability = Observability(
            self,
            "Observability",
            queue=ingestion.queue,
            dead_letters=ingestion.dead_letters,
            functions={"Ingest": ingestion.function.function, "Query": api.function.function},
            api=api.rest_api,
            alarm_email=config.alarm_email,
        )
        self.storage, self.search, self.ingestion, self.api, self.observability = (
            storage, search, ingestion, api, observability
        )  # fmt: skip

        CfnOutput(self, "ApiUrl", value=api.url, description="base URL of the HTTP API")
        CfnOutput(self, "BucketName", value=storage.bucket.bucket_name, description="documents bucket")
        CfnOutput(self, "UserPoolId", value=api.user_pool.user_pool_id)
        CfnOutput(self, "UserPoolClientId", value=api.client.user_pool_client_id)
        CfnOutput(self, "RegistryTable", value=storage.registry.table_name)
        CfnOutput(self, "SearchEndpoint", value=search.url, description="OpenSearch endpoint (SigV4)")
        CfnOutput(self, "IngestQueueUrl", value=ingestion.queue.queue_url)
        CfnOutput(self, "DeadLetterQueueUrl", value=ingestion.dead_letters.queue_url)
        CfnOutput(self, "AlarmTopicArn", value=observability.topic.topic_arn)

    @staticmethod
    def _environment(storage: Storage, config: Config) -> dict[str, str]:
        """What both functions read (settings.py); each construct adds its own on top."""
        environment = {
            "RAGLINE_BUCKET": storage.bucket.bucket_name,
            "RAGLINE_REGISTRY_TABLE": storage.registry.table_name,
            "RAGLINE_EMBEDDER": "bedrock",
            "RAGLINE_EMBED_MODEL": config.embed_model,
            "RAGLINE_EMBED_DIMENSIONS": str(config.embed_dimensions),
        }
        if config.prefix_roles:
            environment["RAGLINE_PREFIX_ROLES"] = json.dumps({k: list(v) for k, v in config.prefix_roles.items()})
        if config.default_roles:
            environment["RAGLINE_DEFAULT_ROLES"] = ",".join(config.default_roles)
        return environment
