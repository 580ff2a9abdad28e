"""The reconcile function: the bucket, the registry and the index compared, and each drift sent through the
ingest queue (docs/deploy.md, "The scheduled reconcile"); its schedule, and its run at deployment.

It reads and sends only: it lists the bucket and reads (HEADs) its objects, reads the registry (no
write), searches the index (the same read-only access as the query function), and sends messages to the
ingest queue, where the ingest function does every repair. One runs at a time (reserved concurrency 1).

- Schedule: an EventBridge rule every ``ragline:sync_interval_hours`` hours (none at 0), event
  ``{"source": "schedule"}``.
- Deployment: once the notifications and the ingest function exist, an asynchronous invocation with
  ``{"source": "deploy"}``, so that an adopted bucket's existing documents are backfilled without the
  deployment waiting for it. It runs again when the documents bucket changes (its name is in the resource's
  physical id), not on every deployment: the schedule catches any other drift.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk import custom_resources as cr
from constructs import Construct, IConstruct

from infra.config import Config
from infra.functions import RaglineFunction, log_group
from infra.nag import acknowledge, acknowledge_sdk_calls, finding_detail
from infra.search import Search

RECONCILE_TIMEOUT = Duration.minutes(15)
RECONCILE_MEMORY_MB = 1024
# Two reconciles at once would queue the same repairs twice.
RECONCILE_CONCURRENCY = 1
# The events the function is invoked with (functions/reconcile/handler.py reads "source").
SCHEDULE_EVENT = {"source": "schedule"}
DEPLOY_EVENT = {"source": "deploy"}
# Where the function's metrics are (functions/reconcile/handler.py: Powertools' Metrics, in the embedded
# metric format, with a "service" dimension): DriftFound, Enqueued, DeletionsWithheld...
METRICS_NAMESPACE = "ragline"
METRICS_DIMENSIONS = {"service": "reconcile"}
# The registry is read, never written: a reconcile repairs through the ingest queue only.
REGISTRY_READ_ACTIONS = ("dynamodb:Scan", "dynamodb:GetItem", "dynamodb:BatchGetItem")


class Reconcile(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        registry: dynamodb.ITable,
        queue: sqs.IQueue,
        layer: lambda_.ILayerVersion,
        search: Search,
        environment: Mapping[str, str],
        config: Config,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = RaglineFunction(
            self,
            "Reconcile",
            name="reconcile",
            description="ragline reconcile: bucket, registry and index compared, drift queued for ingest",
            layer=layer,
            environment={
                **environment,
                **search.environment,
                "RAGLINE_INGEST_QUEUE_URL": queue.queue_url,
                "RAGLINE_SYNC_MAX_DELETE_SHARE": str(config.sync_max_delete_share),
            },
            timeout=RECONCILE_TIMEOUT,
            memory_mb=RECONCILE_MEMORY_MB,
            log_retention_days=config.log_retention_days,
            reserved_concurrency=RECONCILE_CONCURRENCY,
        )
        self._permissions(bucket, registry, queue, search)
        self.schedule = self._schedule(config.sync_interval_hours)
        self.backfill: cr.AwsCustomResource | None = None

    def _permissions(self, bucket: s3.IBucket, registry: dynamodb.ITable, queue: sqs.IQueue, search: Search) -> None:
        role = self.function.role
        role.add_to_principal_policy(
            iam.PolicyStatement(sid="ListDocuments", actions=["s3:ListBucket"], resources=[bucket.bucket_arn])
        )
        # HEAD of an object (its ETag and metadata) is authorized as s3:GetObject.
        role.add_to_principal_policy(
            iam.PolicyStatement(sid="HeadDocuments", actions=["s3:GetObject"], resources=[bucket.arn_for_objects("*")])
        )
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{finding_detail(bucket.stack, bucket.arn_for_objects('*'))}]",
            "Reconcile compares every document of the documents bucket with the registry (keys are not known "
            "in advance); it may read them, not write them, and no other bucket.",
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(sid="ReadRegistry", actions=list(REGISTRY_READ_ACTIONS), resources=[registry.table_arn])
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(sid="QueueRepairs", actions=["sqs:SendMessage"], resources=[queue.queue_arn])
        )
        search.grant_read(self.function)
        # The next window of a large bucket (functions/reconcile/handler.py): a policy of its own, not the
        # role's default one, which the function depends on and so could not name the function's ARN. With
        # reserved concurrency 1 the next window waits in Lambda's asynchronous queue until this one ends.
        iam.Policy(
            self,
            "InvokeNextWindow",
            roles=[role],
            statements=[
                iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.function.function.function_arn])
            ],
        )

    def _schedule(self, interval_hours: int) -> events.Rule | None:
        if not interval_hours:
            return None
        rule = events.Rule(
            self,
            "Schedule",
            description=f"ragline: reconcile the documents bucket, registry and index every {interval_hours} h",
            schedule=events.Schedule.rate(Duration.hours(interval_hours)),
        )
        rule.add_target(
            targets.LambdaFunction(self.function.function, event=events.RuleTargetInput.from_object(SCHEDULE_EVENT))
        )
        return rule

    def run_at_deployment(self, bucket: s3.IBucket, *, after: list[IConstruct], log_retention_days: int) -> None:
        """Invokes the function once, asynchronously, when ``after`` (the notifications, the ingest queue and
        function) exist, and again whenever the documents bucket changes.

        Not ``aws_cdk.triggers.Trigger``: its handler invokes the function with an empty event, and the
        reconcile is told where it was started from (``{"source": "deploy"}``). This is CDK's own
        AwsCustomResource calling Lambda's Invoke with that payload; ``InvocationType: Event`` returns at
        once, so a long backfill does not hold the deployment (its errors reach the Errors alarm).
        """
        if self.backfill is not None:
            raise ValueError("the reconcile runs once at deployment")
        function = self.function.function
        invoke = cr.AwsSdkCall(
            service="Lambda",
            action="invoke",
            parameters={
                "FunctionName": function.function_name,
                "InvocationType": "Event",
                "Payload": json.dumps(DEPLOY_EVENT),
            },
            # The bucket in the id: adopting another bucket is an update, and so another backfill.
            physical_resource_id=cr.PhysicalResourceId.of(f"ragline-backfill-{bucket.bucket_name}"),
        )
        self.backfill = cr.AwsCustomResource(
            self,
            "Backfill",
            on_create=invoke,
            on_update=invoke,
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[function.function_arn])]
            ),
            install_latest_aws_sdk=False,  # the runtime's SDK knows Invoke; no download at deploy time
            log_group=log_group(self, "BackfillLogs", log_retention_days),
        )
        self.backfill.node.add_dependency(*after)
        acknowledge_sdk_calls(Stack.of(self))
