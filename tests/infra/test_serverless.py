"""The stack with ``ragline:serverless=true``: an OpenSearch Serverless VECTORSEARCH collection."""

from __future__ import annotations

import json

import pytest

from tests.infra.conftest import Synth, flat
from tests.infra.test_stack import _actions, _function, _granted, _role_statements, assert_nag_clean

pytest.importorskip("aws_cdk")


def _policies(synth: Synth, kind: str) -> list[dict | list]:
    return [
        json.loads(flat(p["Properties"]["Policy"]))
        for p in synth.resources("AWS::OpenSearchServerless::SecurityPolicy").values()
        if p["Properties"]["Type"] == kind
    ]


def test_a_vectorsearch_collection_replaces_the_domain(serverless: Synth):
    (collection,) = serverless.resources("AWS::OpenSearchServerless::Collection").values()
    assert collection["Properties"]["Type"] == "VECTORSEARCH"
    assert collection["Properties"]["Name"] == "ragline"
    assert not serverless.resources("AWS::OpenSearchService::Domain")
    # Policies first: a collection cannot be created before an encryption policy covers it.
    policy_ids = set(serverless.resources("AWS::OpenSearchServerless::SecurityPolicy"))
    assert policy_ids <= set(collection["DependsOn"])


def test_encryption_and_network_policies_cover_the_collection(serverless: Synth):
    (encryption,) = _policies(serverless, "encryption")
    assert encryption["Rules"] == [{"ResourceType": "collection", "Resource": ["collection/ragline"]}]
    assert encryption["AWSOwnedKey"] is True
    (network,) = _policies(serverless, "network")
    assert network == [
        {"Rules": [{"ResourceType": "collection", "Resource": ["collection/ragline"]}], "AllowFromPublic": True}
    ]


def test_data_access_policy_grants_each_role_only_what_it_needs(serverless: Synth):
    (policy,) = serverless.resources("AWS::OpenSearchServerless::AccessPolicy").values()
    assert policy["Properties"]["Type"] == "data"
    rules = json.loads(flat(policy["Properties"]["Policy"]))
    names = ("ingest", "query", "reconcile")
    roles = {name: f"${{{_function(serverless, name)['Role']['Fn::GetAtt'][0]}.Arn}}" for name in names}
    principals = [principal for rule in rules for principal in rule["Principal"]]
    assert sorted(principals) == sorted(roles.values())  # each role once
    by_principal = {(principal,): rule["Rules"] for rule in rules for principal in rule["Principal"]}
    # The reconcile reads the index as the query function does (infra/reconcile.py).
    for name, expected_index in (
        ("query", {"aoss:DescribeIndex", "aoss:ReadDocument"}),
        ("reconcile", {"aoss:DescribeIndex", "aoss:ReadDocument"}),
        (
            "ingest",
            {"aoss:CreateIndex", "aoss:DescribeIndex", "aoss:UpdateIndex", "aoss:ReadDocument", "aoss:WriteDocument"},
        ),
    ):
        grants = {rule["ResourceType"]: rule for rule in by_principal[(roles[name],)]}
        assert grants["index"]["Resource"] == ["index/ragline/ragline-chunks*"]  # and the reindex indexes beside it
        assert set(grants["index"]["Permission"]) == expected_index
        assert grants["collection"]["Resource"] == ["collection/ragline"]
        assert grants["collection"]["Permission"] == ["aoss:DescribeCollectionItems"]
        for rule in grants.values():
            assert not any(p.endswith("*") for p in rule["Permission"])


def test_functions_call_the_collection_with_iam_and_the_aoss_service_name(serverless: Synth):
    (collection_id,) = serverless.resources("AWS::OpenSearchServerless::Collection")
    for name in ("ingest", "query", "reconcile"):
        statements = _role_statements(serverless, name)
        assert _granted(statements, "aoss:APIAccessAll") == [f"${{{collection_id}.Arn}}"]
        assert not any(a.startswith("es:") for s in statements for a in _actions(s))
        variables = _function(serverless, name)["Environment"]["Variables"]
        assert variables["RAGLINE_OPENSEARCH_SERVICE"] == "aoss"
        assert variables["RAGLINE_OPENSEARCH_URL"] == {"Fn::GetAtt": [collection_id, "CollectionEndpoint"]}


def test_cdk_nag_finds_nothing_unacknowledged(serverless: Synth):
    assert_nag_clean(serverless)


def test_ingest_queues_its_settles_on_its_own_queue_on_serverless_only(serverless: Synth, domain: Synth):
    # Each change on a collection queues a delayed settle of its document (docs/architecture.md,
    # "OpenSearch Serverless consistency"); a domain's writes are searchable at once, so it sends nothing.
    (events_id,) = [k for k, q in serverless.resources("AWS::SQS::Queue").items() if "RedrivePolicy" in q["Properties"]]
    assert _granted(_role_statements(serverless, "ingest"), "sqs:SendMessage") == [f"${{{events_id}.Arn}}"]
    variables = _function(serverless, "ingest")["Environment"]["Variables"]
    assert variables["RAGLINE_INGEST_QUEUE_URL"] == {"Ref": events_id}
    assert not _granted(_role_statements(domain, "ingest"), "sqs:SendMessage")
    assert "RAGLINE_INGEST_QUEUE_URL" not in _function(domain, "ingest")["Environment"]["Variables"]
