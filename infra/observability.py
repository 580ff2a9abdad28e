"""Alarms, published to one SNS topic: poison messages, function errors, the API's 5xx, a stuck queue, an
audit record not written, a reconcile that withheld deletions."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

PERIOD = Duration.minutes(5)
# An event older than this has waited through several ingest attempts: ingest is failing or starved.
MAX_EVENT_AGE = Duration.minutes(15)
# The query function's log line for an audit record it could not keep (functions/query/handler.py).
AUDIT_NOT_WRITTEN = "audit record not written"
METRICS_NAMESPACE = "ragline"


class Observability(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queue: sqs.IQueue,
        dead_letters: sqs.IQueue,
        functions: dict[str, lambda_.IFunction],
        api: apigw.RestApi,
        query_logs: logs.ILogGroup,
        alarm_email: str = "",
        reconcile_metrics: tuple[str, dict[str, str]] | None = None,
    ) -> None:
        """``reconcile_metrics``: the namespace and dimensions of the reconcile function's metrics."""
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "Alarms", display_name="ragline alarms", enforce_ssl=True)
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self.alarms: dict[str, cloudwatch.Alarm] = {}

        self._alarm(
            "DeadLetters",
            dead_letters.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
            "S3 events that failed ingest three times wait in the dead-letter queue",
        )
        self._alarm(
            "IngestBacklog",
            queue.metric_approximate_age_of_oldest_message(period=PERIOD, statistic="Maximum"),
            "the oldest S3 event in the ingest queue is older than 15 minutes",
            threshold=MAX_EVENT_AGE.to_seconds(),
        )
        for name, function in functions.items():
            self._alarm(
                f"{name}Errors",
                function.metric_errors(period=PERIOD, statistic="Sum"),
                f"the {name} function failed (an invocation error, not a failed document)",
            )
        self._alarm("Api5xx", api.metric_server_error(period=PERIOD, statistic="Sum"), "the API answered 5xx")
        audit_failures = logs.MetricFilter(
            self,
            "AuditNotWrittenLines",
            log_group=query_logs,
            filter_pattern=logs.FilterPattern.string_value("$.message", "=", AUDIT_NOT_WRITTEN),
            metric_namespace=METRICS_NAMESPACE,
            metric_name="AuditRecordsNotWritten",
            metric_value="1",
        )
        self._alarm(
            "AuditNotWritten",
            audit_failures.metric(period=PERIOD, statistic="Sum"),
            "an audit record was not written: reads were refused (500), a delete was done unrecorded (its record is "
            "in the query function's log)",
        )

        if reconcile_metrics is not None:
            namespace, dimensions = reconcile_metrics
            self._alarm(
                "DeletionsWithheld",
                cloudwatch.Metric(
                    namespace=namespace,
                    metric_name="DeletionsWithheld",
                    dimensions_map=dimensions,
                    period=PERIOD,
                    statistic="Maximum",
                ),
                "a reconcile found more documents to remove than ragline:sync_max_delete_share allows and removed "
                "none of them (the mass-deletion guard); check the bucket, then run it with allow_mass_delete",
            )

    def _alarm(self, name: str, metric: cloudwatch.Metric, description: str, threshold: float = 0) -> None:
        alarm = metric.create_alarm(
            self,
            name,
            alarm_description=f"ragline: {description}",
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        alarm.add_ok_action(actions.SnsAction(self.topic))
        self.alarms[name] = alarm
