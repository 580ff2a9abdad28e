"""The ragline stack: storage, search, ingestion and reconcile, API, the web app and observability, on one layer.

Settings come from CDK context (see :mod:`infra.config` and ``cdk.json``).
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.api import Api
from infra.config import Config
from infra.deferred import Deferred
from infra.functions import SharedLayer
from infra.ingestion import Ingestion
from infra.observability import Observability
from infra.reconcile import METRICS_DIMENSIONS as RECONCILE_METRICS_DIMENSIONS
from infra.reconcile import METRICS_NAMESPACE as RECONCILE_METRICS_NAMESPACE
from infra.reconcile import Reconcile
from infra.search import Search
from infra.signin import SignIn
from infra.storage import Storage
from infra.webapp import WebApp, app_config


class RaglineStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: Config | None = None, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config = config or Config.of(self.node)
        storage = Storage(self, "Storage", adopt_bucket=config.bucket, log_retention_days=config.log_retention_days)
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
        reconcile = Reconcile(
            self,
            "Reconcile",
            bucket=storage.bucket,
            registry=storage.registry,
            queue=ingestion.queue,
            layer=layer,
            search=search,
            environment=environment,
            config=config,
        )
        # After the notifications (the bucket's "Notifications" child) and the ingest path: from then on an
        # object is listed by the deploy-time reconcile or notified (or both), never neither, and what the
        # reconcile queues finds the ingest function there.
        reconcile.run_at_deployment(
            storage.bucket,
            after=[ingestion, *storage.bucket.node.children],
            log_retention_days=config.log_retention_days,
        )
        # The web app and what it calls name each other, and CloudFormation creates a resource only after
        # those it names, so the template must have no cycle. It has none:
        #
        #   the REST API's id ──┐
        #   hosted UI domain  ──┼─▶ headers policy (CSP) ─▶ distribution ─▶ its domain, in: the API's preflights
        #   documents bucket  ──┘                                           and gateway responses, the query
        #                                                                   function (RAGLINE_CORS_ORIGIN), the
        #                                                                   web client (callback URL), the
        #                                                                   documents bucket's CORS rule
        #   the API's methods ─▶ stage ─▶ config.json (with the web client's id and the distribution's domain)
        #
        # The CSP names the API by its id, not by its stage (which follows the methods, which follow the
        # distribution), and the documents bucket's CORS rule is a call made once the bucket exists, not the
        # bucket's own property, which the CSP would then wait for (infra/storage.py). Constructs, unlike
        # resources, are built one after the other: the API is built before the distribution exists, so it
        # takes the app's origin as a Deferred token, set once the distribution is built.
        web_origin = Deferred("the web app's origin")
        api = Api(
            self,
            "Api",
            bucket=storage.bucket,
            registry=storage.registry,
            audit=storage.audit,
            audit_key=storage.audit_key,
            layer=layer,
            search=search,
            environment=environment,
            config=config,
            web_origin=web_origin.token,
        )
        sign_in = SignIn(self, "SignIn", user_pool=api.user_pool, domain_prefix=config.auth_domain_prefix)
        webapp = WebApp(
            self,
            "WebApp",
            api_origin=api.origin,
            sign_in_url=sign_in.url,
            documents=storage.bucket,
            access_logs=storage.access_logs,
            log_retention_days=config.log_retention_days,
        )
        web_origin.set(webapp.origin)
        web_client = sign_in.add_web_client(webapp.url)
        storage.allow_browser_origin(webapp.origin, log_retention_days=config.log_retention_days)
        webapp.publish(
            app_config(
                api_url=api.stage_url,
                sign_in_url=sign_in.url,
                client_id=web_client.user_pool_client_id,
                app_url=webapp.url,
            )
        )
        observability = Observability(
            self,
            "Observability",
            queue=ingestion.queue,
            dead_letters=ingestion.dead_letters,
            functions={
                "Ingest": ingestion.function.function,
                "Query": api.function.function,
                "Reconcile": reconcile.function.function,
            },
            api=api.rest_api,
            query_logs=api.function.log_group,
            alarm_email=config.alarm_email,
            reconcile_metrics=(RECONCILE_METRICS_NAMESPACE, RECONCILE_METRICS_DIMENSIONS),
        )
        self.storage, self.search, self.ingestion, self.api, self.observability = (
            storage, search, ingestion, api, observability
        )  # fmt: skip
        self.layer, self.sign_in, self.webapp, self.web_client = layer, sign_in, webapp, web_client
        self.reconcile = reconcile

        CfnOutput(self, "ApiUrl", value=api.url, description="base URL of the HTTP API")
        CfnOutput(self, "BucketName", value=storage.bucket.bucket_name, description="documents bucket")
        CfnOutput(self, "UserPoolId", value=api.user_pool.user_pool_id)
        CfnOutput(self, "UserPoolClientId", value=api.client.user_pool_client_id)
        CfnOutput(self, "RegistryTable", value=storage.registry.table_name)
        CfnOutput(self, "AuditTable", value=storage.audit.table_name, description="the access audit trail")
        CfnOutput(self, "SearchEndpoint", value=search.url, description="OpenSearch endpoint (SigV4)")
        CfnOutput(self, "IngestQueueUrl", value=ingestion.queue.queue_url)
        CfnOutput(self, "DeadLetterQueueUrl", value=ingestion.dead_letters.queue_url)
        CfnOutput(
            self,
            "ReconcileFunctionName",
            value=reconcile.function.function.function_name,
            description="the reconcile function (aws lambda invoke it to run one now)",
        )
        CfnOutput(self, "AlarmTopicArn", value=observability.topic.topic_arn)
        CfnOutput(self, "WebAppUrl", value=webapp.url, description="the web app (sign in with a user of the pool)")
        CfnOutput(self, "HostedUiDomain", value=sign_in.url, description="Cognito's hosted sign-in pages")
        if api.generation.api_key is not None:
            CfnOutput(
                self,
                "OpenAIKeySecret",
                value=api.generation.api_key.secret_arn,
                description="the secret holding the chat model server's API key",
            )

    @staticmethod
    def _environment(storage: Storage, config: Config) -> dict[str, str]:
        """What the functions read (settings.py); each construct adds its own on top."""
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
