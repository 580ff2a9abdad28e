"""The reconcile function in the default stack: its settings, its least privilege, its schedule, its run at
deployment and its alarms (the stack with ``ragline:sync_interval_hours=0`` is in test_adopt.py)."""

from __future__ import annotations

import json

import pytest

from tests.infra.conftest import Synth, flat
from tests.infra.test_stack import REPO, _actions, _function, _granted, _resources, _role_statements

pytest.importorskip("aws_cdk")

# Every DynamoDB action that writes or deletes: the reconcile repairs through the ingest queue only.
DYNAMODB_WRITES = (
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:TransactWriteItems",
    "dynamodb:*",
)


def _events_queue(synth: Synth) -> str:
    (queue_id,) = [k for k, q in synth.resources("AWS::SQS::Queue").items() if "RedrivePolicy" in q["Properties"]]
    return queue_id


def _reconcile_id(synth: Synth) -> str:
    return synth.logical_id(synth.stack.reconcile.function.function)


def test_reconcile_runs_one_at_a_time_for_up_to_15_minutes(domain: Synth):
    function = _function(domain, "reconcile")
    assert function["Handler"] == "handler.lambda_handler"
    assert function["Runtime"] == "python3.12"
    assert function["Timeout"] == 15 * 60
    assert function["MemorySize"] == 1024
    assert function["ReservedConcurrentExecutions"] == 1
    assert function["Layers"] == [{"Ref": domain.logical_id(domain.stack.layer)}]


def test_reconcile_asset_is_only_its_handler(domain: Synth):
    key = _function(domain, "reconcile")["Code"]["S3Key"]
    asset = domain.outdir / f"asset.{key.removesuffix('.zip')}"
    assert sorted(path.name for path in asset.iterdir()) == ["handler.py"]
    assert (asset / "handler.py").read_bytes() == (REPO / "functions" / "reconcile" / "handler.py").read_bytes()


def test_reconcile_has_ingest_s_settings_the_queue_and_the_deletion_share(domain: Synth):
    ingest = flat(_function(domain, "ingest")["Environment"]["Variables"])
    reconcile = flat(_function(domain, "reconcile")["Environment"]["Variables"])
    shared = {name: value for name, value in ingest.items() if name.startswith("RAGLINE_")}
    assert {name: reconcile[name] for name in shared} == shared  # bucket, registry, store, embedder
    added = {name: value for name, value in reconcile.items() if name.startswith("RAGLINE_") and name not in shared}
    assert added == {
        "RAGLINE_INGEST_QUEUE_URL": f"${{{_events_queue(domain)}}}",  # a queue's Ref is its URL
        "RAGLINE_SYNC_MAX_DELETE_SHARE": "0.2",
    }
    assert reconcile["POWERTOOLS_SERVICE_NAME"] == "ragline-reconcile"


def test_reconcile_environment_is_what_settings_reads(domain: Synth):
    from ragline.settings import Settings

    settings = Settings.from_env(flat(_function(domain, "reconcile")["Environment"]["Variables"]))
    assert settings.ingest_queue_url == f"${{{_events_queue(domain)}}}"
    assert settings.sync_max_delete_share == 0.2
    assert settings.bucket == f"${{{domain.logical_id(domain.stack.storage.bucket)}}}"
    assert (settings.store, settings.opensearch_service, settings.embedder) == ("opensearch", "es", "bedrock")


def test_reconcile_reads_the_bucket_and_the_registry_and_writes_neither(domain: Synth):
    statements = _role_statements(domain, "reconcile")
    bucket = f"${{{domain.logical_id(domain.stack.storage.bucket)}.Arn}}"
    assert _granted(statements, "s3:ListBucket") == [bucket]
    assert _granted(statements, "s3:GetObject") == [f"{bucket}/*"]  # HEAD
    s3_actions = {a for s in statements for a in _actions(s) if a.startswith("s3:")}
    assert s3_actions == {"s3:ListBucket", "s3:GetObject"}
    registry = f"${{{domain.logical_id(domain.stack.storage.registry)}.Arn}}"
    dynamodb = {a: _resources(s) for s in statements for a in _actions(s) if a.startswith("dynamodb:")}
    assert dynamodb == {a: [registry] for a in ("dynamodb:Scan", "dynamodb:GetItem", "dynamodb:BatchGetItem")}
    for action in DYNAMODB_WRITES:
        assert not _granted(statements, action), action
    assert not any(a.startswith(("bedrock:", "secretsmanager:")) for s in statements for a in _actions(s))
    # Lambda: only the invocation of itself for the next window (the test below).
    assert {a for s in statements for a in _actions(s) if a.startswith("lambda:")} == {"lambda:InvokeFunction"}


def test_reconcile_sends_to_the_ingest_queue_only(domain: Synth):
    statements = _role_statements(domain, "reconcile")
    sqs = {a: _resources(s) for s in statements for a in _actions(s) if a.startswith("sqs:")}
    assert sqs == {"sqs:SendMessage": [f"${{{_events_queue(domain)}.Arn}}"]}  # SendMessageBatch is SendMessage


def test_reconcile_only_searches_the_index(domain: Synth):
    domain_id = domain.logical_id(domain.stack.search.domain)
    statements = _role_statements(domain, "reconcile")
    searches = sorted(f"${{{domain_id}.Arn}}/ragline-chunks*/{path}" for path in ("_search", "_msearch", "_count"))
    for action in ("es:ESHttpGet", "es:ESHttpPost"):
        assert sorted(_granted(statements, action)) == searches, action
    for action in ("es:ESHttpHead", "es:ESHttpPut", "es:ESHttpDelete", "es:ESHttpPatch"):
        assert not _granted(statements, action), action
    for statement in statements:
        if "*" in _resources(statement):
            assert sorted(_actions(statement)) == ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    role_id = _function(domain, "reconcile")["Role"]["Fn::GetAtt"][0]
    assert "ManagedPolicyArns" not in domain.raw["Resources"][role_id]["Properties"]


def test_reconcile_runs_every_24_hours_by_default(domain: Synth):
    (rule_id, rule), *others = domain.resources("AWS::Events::Rule").items()
    assert not others
    properties = rule["Properties"]
    assert properties["ScheduleExpression"] == "rate(1 day)"
    assert properties["State"] == "ENABLED"
    (target,) = properties["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [_reconcile_id(domain), "Arn"]}
    assert json.loads(target["Input"]) == {"source": "schedule"}
    (permission,) = [
        p["Properties"]
        for p in domain.resources("AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "events.amazonaws.com"
    ]
    assert permission["FunctionName"] == {"Fn::GetAtt": [_reconcile_id(domain), "Arn"]}
    assert permission["SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}


def _backfill(synth: Synth) -> dict:
    (backfill,) = [r for key, r in synth.resources("Custom::AWS").items() if key.startswith("ReconcileBackfill")]
    return backfill


def test_the_deployment_starts_one_reconcile_without_waiting_for_it(domain: Synth):
    backfill = _backfill(domain)
    create = json.loads(flat(backfill["Properties"]["Create"]))
    assert (create["service"], create["action"]) == ("Lambda", "invoke")
    assert create["parameters"] == {
        "FunctionName": f"${{{_reconcile_id(domain)}}}",
        "InvocationType": "Event",  # asynchronous: a long backfill does not hold the deployment
        "Payload": json.dumps({"source": "deploy"}),
    }
    # Again when the documents bucket changes (another bucket adopted), not on every deployment.
    bucket = f"${{{domain.logical_id(domain.stack.storage.bucket)}}}"
    assert create["physicalResourceId"] == {"id": f"ragline-backfill-{bucket}"}
    assert json.loads(flat(backfill["Properties"]["Update"])) == create
    assert "Delete" not in backfill["Properties"]
    # What it may do: invoke the reconcile, nothing else.
    (policy,) = [
        p["Properties"]
        for key, p in domain.resources("AWS::IAM::Policy").items()
        if key in backfill.get("DependsOn", []) and key.startswith("ReconcileBackfill")
    ]
    (statement,) = flat(policy["PolicyDocument"]["Statement"])
    assert (statement["Action"], statement["Resource"]) == (
        "lambda:InvokeFunction",
        f"${{{_reconcile_id(domain)}.Arn}}",
    )


def test_the_deploy_time_reconcile_runs_after_the_notifications_and_the_ingest_path(domain: Synth):
    backfill = _backfill(domain)
    after = set(backfill["DependsOn"])
    (notifications_id,) = domain.resources("Custom::S3BucketNotifications")
    (mapping_id,) = domain.resources("AWS::Lambda::EventSourceMapping")
    ingest = domain.logical_id(domain.stack.ingestion.function.function)
    assert {notifications_id, mapping_id, ingest, _events_queue(domain)} <= after


def _alarms(synth: Synth) -> dict[str, dict]:
    return {key: alarm["Properties"] for key, alarm in synth.resources("AWS::CloudWatch::Alarm").items()}


def test_alarms_on_reconcile_errors_and_on_withheld_deletions(domain: Synth):
    alarms = _alarms(domain).values()
    (errors,) = [
        a
        for a in alarms
        if a["MetricName"] == "Errors" and a["Dimensions"][0]["Value"] == {"Ref": _reconcile_id(domain)}
    ]
    assert errors["Threshold"] == 0
    (withheld,) = [a for a in alarms if a["MetricName"] == "DeletionsWithheld"]
    # Where functions/reconcile/handler.py publishes it: Powertools' Metrics(namespace="ragline",
    # service="reconcile") adds the service dimension.
    assert withheld["Namespace"] == "ragline"
    assert withheld["Dimensions"] == [{"Name": "service", "Value": "reconcile"}]
    assert withheld["Threshold"] == 0 and withheld["ComparisonOperator"] == "GreaterThanThreshold"
    assert withheld["TreatMissingData"] == "notBreaching"  # no reconcile ran: nothing was withheld
    (topic_id,) = domain.resources("AWS::SNS::Topic")
    assert withheld["AlarmActions"] == [{"Ref": topic_id}] == errors["AlarmActions"]


def test_the_reconcile_function_is_an_output_to_run_one_by_hand(domain: Synth):
    assert domain.raw["Outputs"]["ReconcileFunctionName"]["Value"] == {"Ref": _reconcile_id(domain)}


def test_the_reconcile_function_may_invoke_itself_for_the_next_window_and_nothing_else(domain: Synth):
    """A large bucket is synced a window at a time, each invoking the next (functions/reconcile/handler.py)."""
    role = domain.logical_id(domain.stack.reconcile.function.role.node.default_child)
    invokes = [
        statement
        for policy in domain.resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"].get("Roles", [])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "lambda:InvokeFunction" in _actions(statement)
    ]
    assert invokes == [
        {
            "Action": "lambda:InvokeFunction",
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [_reconcile_id(domain), "Arn"]},
        }
    ]
