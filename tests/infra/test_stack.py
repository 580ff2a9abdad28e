"""The default stack (managed OpenSearch domain), read through aws_cdk.assertions; one synthesis, shared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.infra.conftest import ACCOUNT, REGION, Synth, flat

pytest.importorskip("aws_cdk")
from aws_cdk.assertions import Match

from infra.api import PROTECTED_ROUTES, PUBLIC_ROUTES
from ragline.local.gateway import NO_SUCH_ROUTE, ROUTES, UNAUTHORIZED

REPO = Path(__file__).resolve().parents[2]
EMBED_ARN = f"arn:aws:bedrock:{REGION}::foundation-model/amazon.titan-embed-text-v2:0"
GENERATOR_ARN = f"arn:aws:bedrock:{REGION}::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"


@pytest.fixture(scope="module")
def template(domain: Synth):
    return domain.template


def _function(synth: Synth, name: str) -> dict:
    (found,) = [
        resource
        for resource in synth.resources("AWS::Lambda::Function").values()
        if resource["Properties"].get("Environment", {}).get("Variables", {}).get("POWERTOOLS_SERVICE_NAME")
        == f"ragline-{name}"
    ]
    return found["Properties"]


def _role_statements(synth: Synth, name: str) -> list[dict]:
    role_id = _function(synth, name)["Role"]["Fn::GetAtt"][0]
    statements = []
    for policy in synth.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return [flat(statement) for statement in statements]


def _actions(statement: dict) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else actions


def _resources(statement: dict) -> list[str]:
    resources = statement["Resource"]
    return [resources] if isinstance(resources, str) else resources


def _granted(statements: list[dict], action: str) -> list[str]:
    return [resource for s in statements if action in _actions(s) for resource in _resources(s)]


# --- storage -------------------------------------------------------------------------------------------


def test_documents_bucket_is_encrypted_versioned_private_and_tls_only(template):
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": {"Status": "Enabled"},
            "BucketEncryption": Match.object_like({"ServerSideEncryptionConfiguration": Match.any_value()}),
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "LoggingConfiguration": Match.object_like({"DestinationBucketName": Match.any_value()}),
        },
    )
    policies = template.find_resources("AWS::S3::BucketPolicy")
    denies_plain_http = [
        (policy["Properties"]["Bucket"], statement)
        for policy in policies.values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    # Every bucket, one statement each: the documents bucket and its access-log bucket, the web app's
    # bucket and the distribution's log bucket.
    buckets = template.find_resources("AWS::S3::Bucket")
    assert len(buckets) == 4
    assert sorted(bucket["Ref"] for bucket, _ in denies_plain_http) == sorted(buckets)


def test_documents_and_registry_survive_the_stack(domain: Synth):
    retained = {
        resource["Type"] for resource in domain.raw["Resources"].values() if resource.get("DeletionPolicy") == "Retain"
    }
    assert {"AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::Cognito::UserPool"} <= retained


def test_registry_table_is_keyed_by_doc_id_and_recoverable(template):
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "doc_id", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
        },
    )


def test_the_audit_table_is_recoverable_protected_retained_and_expires_records(domain: Synth):
    audit_id = domain.logical_id(domain.stack.storage.audit)
    table = domain.raw["Resources"][audit_id]
    assert table["DeletionPolicy"] == "Retain"
    properties = table["Properties"]
    assert properties["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["DeletionProtectionEnabled"] is True
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    (secret,) = domain.resources("AWS::SecretsManager::Secret").values()
    assert secret["DeletionPolicy"] == "Retain"
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32


def test_the_query_function_may_put_and_query_audit_records_and_nothing_else(domain: Synth):
    ingest, query = _role_statements(domain, "ingest"), _role_statements(domain, "query")
    audit = f"${{{domain.logical_id(domain.stack.storage.audit)}.Arn}}"
    assert _granted(query, "dynamodb:PutItem") == [audit]  # each a conditional Put in TransactWriteItems
    assert audit in _granted(query, "dynamodb:Query")  # GET /audit (the registry is queried too)
    for action in ("dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:*"):
        assert not any(audit in resource for resource in _granted(query, action)), action
    assert not any(audit in json.dumps(statement) for statement in ingest)  # deleting a document cannot reach it
    secret = f"${{{domain.logical_id(domain.stack.storage.audit_key)}}}"
    assert _granted(query, "secretsmanager:GetSecretValue") == [secret]
    assert not _granted(ingest, "secretsmanager:GetSecretValue")


def test_the_query_function_is_told_the_audit_table_and_its_key(domain: Synth):
    from ragline.settings import Settings

    settings = Settings.from_env(flat(_function(domain, "query")["Environment"]["Variables"]))
    assert settings.audit_table == f"${{{domain.logical_id(domain.stack.storage.audit)}}}"
    assert settings.audit_key_secret == f"${{{domain.logical_id(domain.stack.storage.audit_key)}}}"
    assert settings.audit_questions == "hash" and settings.audit_retention_days == 400
    ingest = flat(_function(domain, "ingest")["Environment"]["Variables"])
    assert not any(name.startswith("RAGLINE_AUDIT_") for name in ingest)


# --- ingestion -----------------------------------------------------------------------------------------


def test_s3_events_reach_the_queue_and_the_dead_letter_queue_catches_poison(template):
    template.has_resource_properties(
        "Custom::S3BucketNotifications",
        {
            "NotificationConfiguration": {
                "QueueConfigurations": Match.array_with(
                    [
                        Match.object_like({"Events": ["s3:ObjectCreated:*"]}),
                        Match.object_like({"Events": ["s3:ObjectRemoved:*"]}),
                    ]
                )
            }
        },
    )
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "RedrivePolicy": {"deadLetterTargetArn": Match.any_value(), "maxReceiveCount": 3},
            "SqsManagedSseEnabled": True,
        },
    )


def test_queue_visibility_timeout_is_six_times_the_ingest_timeout(domain: Synth):
    ingest_timeout = _function(domain, "ingest")["Timeout"]
    assert ingest_timeout == 120
    (events,) = [q for q in domain.resources("AWS::SQS::Queue").values() if "RedrivePolicy" in q["Properties"]]
    assert events["Properties"]["VisibilityTimeout"] == 6 * ingest_timeout


def test_ingest_reads_the_queue_in_batches_and_reports_item_failures(domain: Synth):
    (mapping,) = domain.resources("AWS::Lambda::EventSourceMapping").values()
    properties = mapping["Properties"]
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["BatchSize"] == 10
    assert properties["MaximumBatchingWindowInSeconds"] >= 1
    (events_id,) = [key for key, q in domain.resources("AWS::SQS::Queue").items() if "RedrivePolicy" in q["Properties"]]
    assert properties["EventSourceArn"] == {"Fn::GetAtt": [events_id, "Arn"]}
    # The poller never runs more copies than are reserved: a throttled batch would burn a receive.
    assert properties["ScalingConfig"] == {"MaximumConcurrency": 4}


def test_ingest_concurrency_is_reserved_and_query_is_not_capped(domain: Synth):
    assert _function(domain, "ingest")["ReservedConcurrentExecutions"] == 4
    assert "ReservedConcurrentExecutions" not in _function(domain, "query")


# --- functions -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "timeout"), [("ingest", 120), ("query", 30)])
def test_functions_runtime_size_tracing_and_layer(domain: Synth, name: str, timeout: int):
    function = _function(domain, name)
    assert function["Runtime"] == "python3.12"
    assert function["Architectures"] == ["arm64"]  # the layer's wheels are built for it
    assert function["Handler"] == "handler.lambda_handler"
    assert function["Timeout"] == timeout
    assert function["MemorySize"] == 1024
    assert function["TracingConfig"] == {"Mode": "Active"}
    layer_id = domain.logical_id(domain.stack.layer)  # the ragline layer (the web app's deployment has its own)
    assert function["Layers"] == [{"Ref": layer_id}]
    log_group = domain.raw["Resources"][function["LoggingConfig"]["LogGroup"]["Ref"]]
    assert log_group["Properties"]["RetentionInDays"] == 30


@pytest.mark.parametrize("name", ["ingest", "query"])
def test_function_asset_is_only_its_handler(domain: Synth, name: str):
    key = _function(domain, name)["Code"]["S3Key"]
    asset = domain.outdir / f"asset.{key.removesuffix('.zip')}"
    assert sorted(path.name for path in asset.iterdir()) == ["handler.py"]
    assert (asset / "handler.py").read_bytes() == (REPO / "functions" / name / "handler.py").read_bytes()


def test_layer_is_for_python312_on_arm64(template):
    template.has_resource_properties(
        "AWS::Lambda::LayerVersion",
        {"CompatibleRuntimes": ["python3.12"], "CompatibleArchitectures": ["arm64"]},
    )


@pytest.mark.parametrize("name", ["ingest", "query"])
def test_function_environment_is_what_settings_reads(domain: Synth, name: str):
    from ragline.settings import SETTINGS_VARIABLES, Settings

    variables = flat(_function(domain, name)["Environment"]["Variables"])
    ragline_variables = {k for k in variables if k.startswith("RAGLINE_")}
    assert ragline_variables <= set(SETTINGS_VARIABLES), "a variable the settings never read"
    settings = Settings.from_env(variables)
    assert settings.bucket == f"${{{domain.logical_id(domain.stack.storage.bucket)}}}"
    assert settings.registry_table == f"${{{domain.logical_id(domain.stack.storage.registry)}}}"
    assert settings.embedder == "bedrock"
    assert settings.embed_model == "amazon.titan-embed-text-v2:0"
    assert settings.embed_dimensions == 1024
    assert settings.store == "opensearch"
    assert settings.opensearch_service == "es"
    assert settings.opensearch_index == "ragline-chunks"
    assert settings.opensearch_url == f"https://${{{domain.logical_id(domain.stack.search.domain)}.DomainEndpoint}}"
    if name == "query":
        assert settings.generator == "bedrock"
        assert settings.generator_model == "anthropic.claude-3-haiku-20240307-v1:0"
        assert variables["RAGLINE_ADMIN_GROUP"] == "admin"


# --- least privilege -----------------------------------------------------------------------------------


def test_function_roles_have_no_managed_policies(domain: Synth):
    for name in ("ingest", "query"):
        role_id = _function(domain, name)["Role"]["Fn::GetAtt"][0]
        assert "ManagedPolicyArns" not in domain.raw["Resources"][role_id]["Properties"]


def test_invoke_model_is_scoped_to_the_configured_models(domain: Synth):
    ingest, query = _role_statements(domain, "ingest"), _role_statements(domain, "query")
    assert sorted(_granted(ingest, "bedrock:InvokeModel")) == [EMBED_ARN]
    assert sorted(_granted(query, "bedrock:InvokeModel")) == sorted([EMBED_ARN, GENERATOR_ARN])
    for statements in (ingest, query):
        for statement in statements:
            assert not any(a in ("*", "bedrock:*") for a in _actions(statement))
            if any(a.startswith("bedrock:") for a in _actions(statement)):
                assert _actions(statement) == ["bedrock:InvokeModel"]
                assert "*" not in "".join(_resources(statement))


def test_only_xray_is_granted_on_every_resource_by_default(domain: Synth):
    for name in ("ingest", "query"):
        for statement in _role_statements(domain, name):
            if "*" in _resources(statement):
                assert sorted(_actions(statement)) == ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]


def test_ingest_reads_documents_and_writes_the_registry_query_reads_it(domain: Synth):
    ingest, query = _role_statements(domain, "ingest"), _role_statements(domain, "query")
    bucket_objects = f"${{{domain.logical_id(domain.stack.storage.bucket)}.Arn}}/*"
    assert _granted(ingest, "s3:GetObject") == [bucket_objects]
    assert not _granted(ingest, "s3:PutObject") and not _granted(ingest, "s3:DeleteObject")
    assert _granted(query, "s3:PutObject") == [bucket_objects]  # presigned uploads (POST /documents)
    # POST /documents reads the key it is asked for (object roles, sidecar, ETag); 404s need ListBucket.
    assert _granted(query, "s3:GetObject") == [bucket_objects]
    # GET /documents/{doc_id}/download presigns a GET of the indexed version: the signer's role needs it.
    assert _granted(query, "s3:GetObjectVersion") == [bucket_objects]
    assert _granted(query, "s3:ListBucket") == [f"${{{domain.logical_id(domain.stack.storage.bucket)}.Arn}}"]
    registry = [f"${{{domain.logical_id(domain.stack.storage.registry)}.Arn}}"]
    assert _granted(ingest, "dynamodb:PutItem") == registry
    assert _granted(query, "dynamodb:GetItem") == registry
    assert _granted(query, "dynamodb:Scan") == registry  # GET /documents
    # The query function writes no registry item (it puts audit records only: test_the_query_function_...).
    assert registry[0] not in _granted(query, "dynamodb:PutItem") and not _granted(query, "dynamodb:DeleteItem")


def test_search_domain_http_access_ingest_writes_query_only_searches_the_index(domain: Synth):
    domain_id = domain.logical_id(domain.stack.search.domain)
    ingest, query = _role_statements(domain, "ingest"), _role_statements(domain, "query")
    everything = [f"${{{domain_id}.Arn}}/*"]
    for action in ("es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut", "es:ESHttpDelete"):
        assert _granted(ingest, action) == everything, action
    searches = sorted(f"${{{domain_id}.Arn}}/ragline-chunks*/{path}" for path in ("_search", "_msearch", "_count"))
    for action in ("es:ESHttpGet", "es:ESHttpPost"):
        assert sorted(_granted(query, action)) == searches, action
    for action in ("es:ESHttpHead", "es:ESHttpPut", "es:ESHttpDelete", "es:ESHttpPatch"):
        assert not _granted(query, action), action
    assert not any(a.startswith("aoss:") for s in ingest + query for a in _actions(s))


# --- search: the managed domain ------------------------------------------------------------------------


def test_domain_is_encrypted_https_only_and_small(domain: Synth):
    (resource,) = domain.resources("AWS::OpenSearchService::Domain").values()
    properties = resource["Properties"]
    assert properties["EncryptionAtRestOptions"] == {"Enabled": True}
    assert properties["NodeToNodeEncryptionOptions"] == {"Enabled": True}
    assert properties["DomainEndpointOptions"]["EnforceHTTPS"] is True
    assert properties["DomainEndpointOptions"]["TLSSecurityPolicy"].startswith("Policy-Min-TLS-1-2")
    assert properties["EBSOptions"] == {"EBSEnabled": True, "VolumeType": "gp3", "VolumeSize": 10}
    assert properties["ClusterConfig"]["InstanceType"] == "t3.small.search"
    assert properties["ClusterConfig"]["InstanceCount"] == 1
    assert "VPCOptions" not in properties
    assert set(properties["LogPublishingOptions"]) >= {"SEARCH_SLOW_LOGS", "INDEX_SLOW_LOGS"}
    assert not domain.resources("AWS::OpenSearchServerless::Collection")


def test_domain_access_policy_admits_only_the_function_roles_and_only_ingest_writes(domain: Synth):
    (resource,) = domain.resources("AWS::OpenSearchService::Domain").values()
    statements = flat(resource["Properties"]["AccessPolicies"]["Statement"])
    names = ("ingest", "query", "reconcile")
    roles = {_function(domain, name)["Role"]["Fn::GetAtt"][0]: name for name in names}
    arn = f"arn:aws:es:{REGION}:{ACCOUNT}:domain/ragline-search"
    searches = [f"{arn}/ragline-chunks*/{path}" for path in ("_search", "_msearch", "_count")]
    # The reconcile reads the index as the query function does (infra/reconcile.py).
    expected = {"ingest": [f"{arn}/*"], "query": searches, "reconcile": searches}
    seen = []
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert "Condition" not in statement
        for principal in statement["Principal"]["AWS"]:
            name = roles[principal.removeprefix("${").removesuffix(".Arn}")]
            seen.append(name)
            assert statement["Resource"] == expected[name]
            writes = {"es:ESHttpPut", "es:ESHttpDelete"} & set(statement["Action"])
            assert bool(writes) == (name == "ingest")
    assert sorted(seen) == sorted(names)


# --- API -----------------------------------------------------------------------------------------------


def _methods(synth: Synth) -> dict[tuple[str, str], dict]:
    resources = synth.resources("AWS::ApiGateway::Resource")

    def path(ref: dict) -> str:
        if "Ref" not in ref:  # the root resource
            return ""
        properties = resources[ref["Ref"]]["Properties"]
        return f"{path(properties['ParentId'])}/{properties['PathPart']}"

    return {
        (path(m["Properties"]["ResourceId"]) or "/", m["Properties"]["HttpMethod"]): m["Properties"]
        for m in synth.resources("AWS::ApiGateway::Method").values()
    }


def test_every_data_route_needs_a_cognito_token_and_only_health_and_the_openapi_document_are_open(domain: Synth):
    methods = _methods(domain)
    # Besides the routes, every resource answers the CORS preflight (test_webapp.py) itself: a mock
    # integration, so an OPTIONS request never reaches the function.
    paths = {path for path, _ in PROTECTED_ROUTES + PUBLIC_ROUTES}
    resources = {"/"} | {"/".join(path.split("/")[:end]) for path in paths for end in range(2, path.count("/") + 2)}
    preflights = {(path, "OPTIONS") for path in resources}
    assert set(methods) == set(PROTECTED_ROUTES) | set(PUBLIC_ROUTES) | preflights
    (authorizer_id,) = domain.resources("AWS::ApiGateway::Authorizer")
    for route in PROTECTED_ROUTES:
        assert methods[route]["AuthorizationType"] == "COGNITO_USER_POOLS", route
        assert methods[route]["AuthorizerId"] == {"Ref": authorizer_id}, route
    for route in PUBLIC_ROUTES:
        assert methods[route]["AuthorizationType"] == "NONE", route
        assert "AuthorizerId" not in methods[route], route
    assert set(PUBLIC_ROUTES) == {("/health", "GET"), ("/openapi.json", "GET")}
    for route, properties in methods.items():
        assert properties["Integration"]["Type"] == ("MOCK" if route in preflights else "AWS_PROXY"), route
    routes = {"/query", "/retrieve", "/documents", "/documents/{doc_id}", "/documents/{doc_id}/download"}
    routes |= {"/access/roles", "/access/documents/{doc_id}", "/access/warnings"}
    routes |= {"/audit"}
    assert routes | {"/health", "/openapi.json"} == {
        p
        for p, _ in methods
        if p not in ("/", "/access", "/access/documents")  # these have only their preflight
    }
    assert {("/documents", "GET"), ("/documents/{doc_id}/download", "GET")} <= set(PROTECTED_ROUTES)


def test_the_api_routes_are_the_local_gateways():
    local = {(template, method) for method, template, _ in ROUTES}
    assert local == set(PROTECTED_ROUTES) | set(PUBLIC_ROUTES)
    assert {(template, method) for method, template, needs_token in ROUTES if not needs_token} == set(PUBLIC_ROUTES)


def test_authorizer_is_the_user_pool(domain: Synth):
    (authorizer,) = domain.resources("AWS::ApiGateway::Authorizer").values()
    (pool_id,) = domain.resources("AWS::Cognito::UserPool")
    assert authorizer["Properties"]["Type"] == "COGNITO_USER_POOLS"
    assert authorizer["Properties"]["IdentitySource"] == "method.request.header.Authorization"
    assert authorizer["Properties"]["ProviderARNs"] == [{"Fn::GetAtt": [pool_id, "Arn"]}]


def test_stage_is_throttled_and_access_logged(template):
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "MethodSettings": Match.array_with(
                [
                    Match.object_like(
                        {
                            "HttpMethod": "*",
                            "ResourcePath": "/*",
                            "ThrottlingRateLimit": 20,
                            "ThrottlingBurstLimit": 40,
                            "DataTraceEnabled": False,
                        }
                    )
                ]
            ),
            "AccessLogSetting": {"DestinationArn": Match.any_value(), "Format": Match.string_like_regexp("requestId")},
            "TracingEnabled": True,
        },
    )


def test_the_access_log_has_what_the_audit_trail_needs_of_requests_the_function_never_sees(domain: Synth):
    (stage,) = domain.resources("AWS::ApiGateway::Stage").values()
    logged = json.loads(stage["Properties"]["AccessLogSetting"]["Format"])
    assert logged["requestId"] == "$context.requestId"  # the audit record's and the function's correlation id
    assert logged["status"] == "$context.status"
    assert logged["authorizerError"] == "$context.authorizer.error"  # why a token was refused (401)
    assert logged["errorType"] == "$context.error.responseType"
    assert logged["user"] == "$context.authorizer.claims.sub"


def test_an_audit_record_not_written_raises_an_alarm(domain: Synth):
    (metric_filter,) = domain.resources("AWS::Logs::MetricFilter").values()
    query_logs = domain.logical_id(domain.stack.api.function.log_group)
    assert metric_filter["Properties"]["LogGroupName"] == {"Ref": query_logs}
    assert metric_filter["Properties"]["FilterPattern"] == '{ $.message = "audit record not written" }'
    (transform,) = metric_filter["Properties"]["MetricTransformations"]
    alarms = [a["Properties"] for a in domain.resources("AWS::CloudWatch::Alarm").values()]
    (alarm,) = [a for a in alarms if a.get("MetricName") == transform["MetricName"]]
    assert alarm["Namespace"] == transform["MetricNamespace"] and alarm["Threshold"] == 0


def test_gateway_errors_have_the_api_error_shape(template):
    template.has_resource_properties(
        "AWS::ApiGateway::GatewayResponse",
        {
            "ResponseType": "UNAUTHORIZED",
            "StatusCode": "401",
            "ResponseTemplates": {
                "application/json": '{"message": "missing or invalid token", "code": "unauthorized"}'
            },
        },
    )


def test_unknown_routes_are_404_and_missing_tokens_401_with_the_local_gateways_bodies(domain: Synth):
    """API Gateway answers a route it does not have MISSING_AUTHENTICATION_TOKEN (403 by default); the stack
    makes it 404, and both it and the authorizer's 401 carry the body the local gateway and the function give."""
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in domain.resources("AWS::ApiGateway::GatewayResponse").values()
    }
    for response_type, status, body in (
        ("MISSING_AUTHENTICATION_TOKEN", "404", NO_SUCH_ROUTE),
        ("UNAUTHORIZED", "401", UNAUTHORIZED),
    ):
        assert responses[response_type]["StatusCode"] == status
        assert json.loads(responses[response_type]["ResponseTemplates"]["application/json"]) == body
    assert NO_SUCH_ROUTE == {"message": "no such route", "code": "not_found"}
    assert UNAUTHORIZED == {"message": "missing or invalid token", "code": "unauthorized"}


def test_user_pool_groups_are_the_roles_and_the_client_signs_in_with_a_password(domain: Synth):
    groups = {g["Properties"]["GroupName"] for g in domain.resources("AWS::Cognito::UserPoolGroup").values()}
    assert groups == {"admin", "everyone"}
    (pool,) = domain.resources("AWS::Cognito::UserPool").values()
    assert pool["Properties"]["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["Properties"]["Policies"]["PasswordPolicy"]["MinimumLength"] >= 12
    client = domain.raw["Resources"][
        domain.logical_id(domain.stack.api.client)
    ]  # the CLI's (test_webapp.py: the app's)
    assert "ALLOW_USER_PASSWORD_AUTH" in client["Properties"]["ExplicitAuthFlows"]
    assert client["Properties"]["GenerateSecret"] is False
    # No OAuth on it: the hosted UI domain must not offer it (CDK's default would allow the implicit grant).
    assert client["Properties"]["AllowedOAuthFlowsUserPoolClient"] is False
    assert "AllowedOAuthFlows" not in client["Properties"] and "CallbackURLs" not in client["Properties"]


def test_groups_and_models_come_from_context(tmp_path):
    from tests.infra.conftest import synthesize

    profile = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
    synth = synthesize(
        tmp_path,
        **{
            "ragline:groups": "admin,finance,research",
            "ragline:generator_model": profile,
            "ragline:rerank_model": "cohere.rerank-v3-5:0",
        },
    )
    groups = {g["Properties"]["GroupName"] for g in synth.resources("AWS::Cognito::UserPoolGroup").values()}
    assert groups == {"admin", "finance", "research"}
    # A cross-Region inference profile: the profile, and that one model in the Regions it routes to.
    assert sorted(_granted(_role_statements(synth, "query"), "bedrock:InvokeModel")) == sorted(
        [
            EMBED_ARN,
            f"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/{profile}",
            "arn:aws:bedrock:*::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0",
            f"arn:aws:bedrock:{REGION}::foundation-model/cohere.rerank-v3-5:0",
        ]
    )
    # A reranking model turns on hybrid+rerank retrieval in the query function.
    variables = _function(synth, "query")["Environment"]["Variables"]
    assert variables["RAGLINE_RERANKER"] == "bedrock"
    assert variables["RAGLINE_RERANK_MODEL"] == "cohere.rerank-v3-5:0"
    assert variables["RAGLINE_RETRIEVAL_MODE"] == "hybrid+rerank"
    assert _granted(_role_statements(synth, "query"), "bedrock:Rerank") == ["*"]
    assert "RAGLINE_RERANKER" not in _function(synth, "ingest")["Environment"]["Variables"]
    assert_nag_clean(synth)  # the wildcard Region is acknowledged for this model only


# --- observability -------------------------------------------------------------------------------------


def _alarms(synth: Synth) -> list[dict]:
    return [alarm["Properties"] for alarm in synth.resources("AWS::CloudWatch::Alarm").values()]


def test_alarm_on_any_message_in_the_dead_letter_queue(domain: Synth):
    (dlq_id,) = [k for k, q in domain.resources("AWS::SQS::Queue").items() if "RedrivePolicy" not in q["Properties"]]
    (alarm,) = [a for a in _alarms(domain) if a["MetricName"] == "ApproximateNumberOfMessagesVisible"]
    assert alarm["Namespace"] == "AWS/SQS"
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}]
    assert alarm["Threshold"] == 0
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_alarms_on_function_errors_and_api_5xx(domain: Synth):
    alarms = _alarms(domain)
    function_ids = {
        key
        for key, resource in domain.resources("AWS::Lambda::Function").items()
        if resource["Properties"].get("Runtime") == "python3.12"
    }
    errors = {a["Dimensions"][0]["Value"]["Ref"] for a in alarms if a["MetricName"] == "Errors"}
    assert errors == function_ids
    (api_alarm,) = [a for a in alarms if a["MetricName"] == "5XXError"]
    assert api_alarm["Namespace"] == "AWS/ApiGateway"
    assert api_alarm["Threshold"] == 0
    (topic_id,) = domain.resources("AWS::SNS::Topic")
    for alarm in alarms:
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]


# --- outputs and cdk-nag -------------------------------------------------------------------------------


def test_outputs(template):
    for name in ("ApiUrl", "BucketName", "UserPoolId", "UserPoolClientId", "RegistryTable"):
        template.has_output(name, Match.any_value())


def assert_nag_clean(synth: Synth) -> None:
    pytest.importorskip("cdk_nag")
    report = synth.report
    (nag,) = [plugin for plugin in report["pluginReports"] if plugin["pluginName"] == "AwsSolutions"]
    unacknowledged = [
        f"{violation['ruleName']} ({violation['severity']}) at {construct['constructPath']}: {violation['description']}"
        for violation in nag["violations"]
        for construct in violation["violatingConstructs"]
    ]
    assert not unacknowledged, "\n".join(unacknowledged)
    assert synth.validation_error is None
    used = {violation["acknowledgedId"] for violation in nag.get("suppressedViolations", [])}
    for path, rules in synth.acknowledgements.items():
        for rule, reason in rules.items():
            if rule.startswith("AwsSolutions::"):
                assert len(reason.split()) >= 8, f"{rule} at {path} needs a real reason"
                assert rule in used, f"{rule} at {path} acknowledges nothing: remove it"


def test_cdk_nag_finds_nothing_unacknowledged(domain: Synth):
    assert_nag_clean(domain)


def test_the_models_a_reindex_builds_with_may_be_called_by_both_functions(tmp_path):
    """`ragline reindex start --embedder bedrock --model M` needs both functions to call M: ingest writes the
    new index with it, and once it is live the query function embeds questions with it."""
    from tests.infra.conftest import synthesize

    synth = synthesize(tmp_path, **{"ragline:reindex_models": "cohere.embed-english-v3"})
    cohere = f"arn:aws:bedrock:{REGION}::foundation-model/cohere.embed-english-v3"
    for function in ("ingest", "query"):
        granted = _granted(_role_statements(synth, function), "bedrock:InvokeModel")
        assert EMBED_ARN in granted and cohere in granted, function
    assert cohere not in _granted(_role_statements(synth, "reconcile"), "bedrock:InvokeModel")
