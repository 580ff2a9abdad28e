"""The search store as AWS accepts it: the domain's version, zones and replicas, the collection's type, and
time budgets inside the functions' timeouts."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("aws_cdk")

from infra.api import QUERY_FUNCTION_TIMEOUT
from infra.config import Config
from infra.ingestion import INGEST_FUNCTION_TIMEOUT
from ragline.settings import Settings
from ragline.stores.opensearch.connection import INGEST_BUDGET, QUERY_BUDGET
from tests.infra.conftest import Synth, flat, synthesize

API_GATEWAY_TIMEOUT_SECONDS = 29  # REST API integrations time out at 29 s


def test_searches_end_inside_the_query_functions_timeout_and_api_gateways() -> None:
    assert QUERY_BUDGET.retry.budget is not None
    # Two searches (k-NN and BM25) one after the other, with room left for the embedding and the answer.
    worst = 2 * QUERY_BUDGET.retry.budget
    assert worst < API_GATEWAY_TIMEOUT_SECONDS - 5
    assert worst < QUERY_FUNCTION_TIMEOUT.to_seconds() - 5


def test_an_ingest_request_ends_inside_the_reserve_the_ingest_function_keeps() -> None:
    assert INGEST_BUDGET.retry.budget is not None
    assert INGEST_BUDGET.retry.budget <= Settings().ingest_reserve_seconds < INGEST_FUNCTION_TIMEOUT.to_seconds()


@pytest.mark.parametrize(
    ("nodes", "zones", "replicas"), [(1, 1, 0), (2, 2, 1), (3, 3, 1), (4, 2, 1), (6, 3, 1), (9, 3, 1)]
)
def test_nodes_spread_over_zones_and_replicas_fit_the_nodes(nodes: int, zones: int, replicas: int) -> None:
    config = Config.from_context({"ragline:data_nodes": nodes}.get)
    assert (config.availability_zones, config.index_replicas) == (zones, replicas)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("ragline:data_nodes", 5, "ragline:data_nodes 5 does not divide over the availability zones"),
        ("ragline:data_nodes", 7, "use 6 or 8"),
        ("ragline:engine_version", "OpenSearch_2.17", "'OpenSearch_2.17' is older than OpenSearch_2.19"),
        ("ragline:engine_version", "Elasticsearch_7.10", "is not OpenSearch_<major>.<minor>"),
        ("ragline:instance_type", "t3.small", "is not an OpenSearch Service type"),
        ("ragline:volume_gib", 5, "ragline:volume_gib must be at least 10"),
    ],
)
def test_what_opensearch_service_would_refuse_fails_the_synth(key: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Config.from_context({key: value}.get)


def test_later_versions_are_accepted() -> None:
    assert Config.from_context({"ragline:engine_version": "OpenSearch_3.1"}.get).engine_version == "OpenSearch_3.1"


def test_the_one_node_domain_runs_2_19_without_zone_awareness_and_its_index_without_replicas(domain: Synth) -> None:
    (resource,) = domain.resources("AWS::OpenSearchService::Domain").values()
    cluster = resource["Properties"]["ClusterConfig"]
    assert resource["Properties"]["EngineVersion"] == "OpenSearch_2.19"
    assert cluster["InstanceCount"] == 1 and cluster["ZoneAwarenessEnabled"] is False
    assert "ZoneAwarenessConfig" not in cluster
    for resource in domain.resources("AWS::Lambda::Function").values():
        variables = flat(resource["Properties"].get("Environment", {}).get("Variables", {}))
        if variables.get("RAGLINE_STORE") == "opensearch":
            assert variables["RAGLINE_OPENSEARCH_REPLICAS"] == "0"
            assert Settings.from_env(variables).opensearch_replicas == 0


def test_a_four_node_domain_spreads_over_two_zones_with_one_replica(tmp_path: Path) -> None:
    synth = synthesize(tmp_path, **{"ragline:data_nodes": 4, "ragline:nag": False})
    (resource,) = synth.resources("AWS::OpenSearchService::Domain").values()
    cluster = resource["Properties"]["ClusterConfig"]
    assert cluster["ZoneAwarenessEnabled"] is True
    assert cluster["ZoneAwarenessConfig"] == {"AvailabilityZoneCount": 2}
    replicas = {
        flat(r["Properties"]["Environment"]["Variables"]).get("RAGLINE_OPENSEARCH_REPLICAS")
        for r in synth.resources("AWS::Lambda::Function").values()
        if "RAGLINE_OPENSEARCH_URL" in r["Properties"].get("Environment", {}).get("Variables", {})
    }
    assert replicas == {"1"}


def test_the_collection_is_a_vectorsearch_collection_with_its_replicas_stated(serverless: Synth) -> None:
    (resource,) = serverless.resources("AWS::OpenSearchServerless::Collection").values()
    assert resource["Properties"]["Type"] == "VECTORSEARCH"
    assert resource["Properties"]["StandbyReplicas"] == "DISABLED"
    for function in serverless.resources("AWS::Lambda::Function").values():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        assert "RAGLINE_OPENSEARCH_REPLICAS" not in variables  # Serverless manages replicas itself
