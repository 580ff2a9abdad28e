"""The web app: its private bucket behind CloudFront, its headers, its sign-in client, its config.json, and
CORS limited to its origin on the API and the documents bucket. Read from the session's synthesis.

The app, the API, Cognito and the documents bucket name one another; the order of infra/stack.py keeps the
template free of dependency cycles, which aws_cdk.assertions refuses when the session's synthesis is loaded
(a CORS rule inside the bucket resource, or a CSP naming the API's stage, fails every test here)."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.infra.conftest import REGION, Synth, flat, synthesize
from tests.infra.test_stack import _function, _methods, assert_nag_clean

cdk = pytest.importorskip("aws_cdk")

from infra.webapp import WEBAPP  # noqa: E402


def _one(synth: Synth, kind: str) -> tuple[str, dict[str, Any]]:
    (found,) = synth.resources(kind).items()
    return found


def _properties(synth: Synth, construct: Any) -> dict[str, Any]:
    while not isinstance(construct, cdk.CfnElement):  # an L2, or a custom resource wrapping one
        construct = construct.node.default_child
    return synth.raw["Resources"][synth.logical_id(construct)]["Properties"]


@pytest.fixture(scope="module")
def ids(domain: Synth) -> dict[str, str]:
    """The logical ids of the resources these tests look at."""
    stack = domain.stack
    return {
        "assets": domain.logical_id(stack.webapp.bucket),
        "distribution": domain.logical_id(stack.webapp.distribution),
        "documents": domain.logical_id(stack.storage.bucket),
        "api": domain.logical_id(stack.api.rest_api),
        "sign_in": domain.logical_id(stack.sign_in.domain),
        "web_client": domain.logical_id(stack.web_client),
    }


@pytest.fixture(scope="module")
def app_origin(ids: dict[str, str]) -> str:
    """The web app's origin as the template writes it (flat)."""
    return f"https://${{{ids['distribution']}.DomainName}}"


def _csp(synth: Synth) -> dict[str, list[str]]:
    config = _properties(synth, synth.stack.webapp.headers)["ResponseHeadersPolicyConfig"]
    csp = flat(config["SecurityHeadersConfig"]["ContentSecurityPolicy"]["ContentSecurityPolicy"])
    directives = [directive.split() for directive in csp.split(";")]
    return {name: sources for name, *sources in directives}


def _browser_cors_call(synth: Synth, event: str) -> dict[str, Any]:
    """The AwsSdkCall the documents bucket's CORS custom resource makes on ``event`` (Create, Update, Delete)."""
    properties = _properties(synth, synth.stack.storage.cors)
    return json.loads(flat(properties[event]))


# --- the assets bucket: private, reachable only through the distribution ------------------------------


def test_the_assets_bucket_is_private_encrypted_logged_and_no_website(domain: Synth, ids: dict[str, str]):
    bucket = domain.raw["Resources"][ids["assets"]]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert bucket["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": domain.logical_id(domain.stack.storage.access_logs)},
        "LogFilePrefix": "webapp/",
    }
    assert "WebsiteConfiguration" not in bucket
    assert "AccessControl" not in bucket and "OwnershipControls" not in bucket  # ACLs stay disabled


def test_only_this_distribution_may_read_the_assets_bucket(domain: Synth, ids: dict[str, str]):
    (policy,) = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in domain.resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": ids["assets"]}
    ]
    allows = [flat(statement) for statement in policy if statement["Effect"] == "Allow"]
    assert allows == [
        {
            "Action": "s3:GetObject",
            "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Resource": f"${{{ids['assets']}.Arn}}/*",
            "Condition": {
                "StringEquals": {
                    "AWS:SourceArn": f"arn:aws:cloudfront::${{AWS::AccountId}}:distribution/${{{ids['distribution']}}}"
                }
            },
        }
    ]
    denies = [statement for statement in policy if statement["Effect"] == "Deny"]
    assert [d["Condition"] for d in denies] == [{"Bool": {"aws:SecureTransport": "false"}}]


def test_the_distribution_reads_the_bucket_with_origin_access_control_not_an_identity(
    domain: Synth, ids: dict[str, str]
):
    oac_id, oac = _one(domain, "AWS::CloudFront::OriginAccessControl")
    assert oac["Properties"]["OriginAccessControlConfig"] == {
        "Name": oac["Properties"]["OriginAccessControlConfig"]["Name"],
        "OriginAccessControlOriginType": "s3",
        "SigningBehavior": "always",
        "SigningProtocol": "sigv4",
    }
    (origin,) = _properties(domain, domain.stack.webapp.distribution)["DistributionConfig"]["Origins"]
    assert origin["DomainName"] == {"Fn::GetAtt": [ids["assets"], "RegionalDomainName"]}
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": [oac_id, "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    assert not domain.resources("AWS::CloudFront::CloudFrontOriginAccessIdentity")


# --- the distribution and its headers ------------------------------------------------------------------


def test_the_distribution_redirects_to_https_serves_index_html_and_logs(domain: Synth):
    config = _properties(domain, domain.stack.webapp.distribution)["DistributionConfig"]
    behavior = config["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["AllowedMethods"] == ["GET", "HEAD"]
    assert behavior["ResponseHeadersPolicyId"] == {"Ref": domain.logical_id(domain.stack.webapp.headers)}
    assert "CacheBehaviors" not in config  # the default behavior is the only one
    assert config["DefaultRootObject"] == "index.html"
    cdn_logs = domain.logical_id(domain.stack.webapp.cdn_logs)
    assert config["Logging"]["Bucket"] == {"Fn::GetAtt": [cdn_logs, "RegionalDomainName"]}


def test_every_response_carries_hsts_nosniff_deny_and_no_referrer(domain: Synth):
    config = _properties(domain, domain.stack.webapp.headers)["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert config["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 365 * 24 * 3600
    assert config["StrictTransportSecurity"]["Override"] is True
    assert config["ContentTypeOptions"] == {"Override": True}
    assert config["FrameOptions"] == {"FrameOption": "DENY", "Override": True}
    assert config["ReferrerPolicy"] == {"ReferrerPolicy": "no-referrer", "Override": True}
    assert config["ContentSecurityPolicy"]["Override"] is True


def test_the_csp_allows_the_apps_own_scripts_and_connects_only_to_what_it_calls(domain: Synth, ids: dict[str, str]):
    csp = _csp(domain)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"]
    assert csp["connect-src"] == [
        "'self'",
        f"https://${{{ids['api']}}}.execute-api.{REGION}.${{AWS::URLSuffix}}",  # the API's origin
        f"https://${{{ids['sign_in']}}}.auth.{REGION}.amazoncognito.com",  # the hosted UI's token endpoint
        f"https://${{{ids['documents']}.RegionalDomainName}}",  # presigned uploads and downloads
        f"https://${{{ids['documents']}.DomainName}}",
    ]
    assert not [source for sources in csp.values() for source in sources if "unsafe" in source or source == "*"]


# --- signing in ----------------------------------------------------------------------------------------


def test_the_web_client_is_public_code_grant_only_and_returns_to_the_app(domain: Synth, app_origin: str):
    client = _properties(domain, domain.stack.web_client)
    assert client["GenerateSecret"] is False
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert client["AllowedOAuthFlows"] == ["code"]  # no implicit grant, no client credentials
    assert sorted(client["AllowedOAuthScopes"]) == ["email", "openid", "profile"]
    assert flat(client["CallbackURLs"]) == [f"{app_origin}/"]
    assert flat(client["LogoutURLs"]) == [f"{app_origin}/"]
    assert client["SupportedIdentityProviders"] == ["COGNITO"]
    assert client["ExplicitAuthFlows"] == ["ALLOW_REFRESH_TOKEN_AUTH"]  # no password or SRP sign-in through the API
    assert client["PreventUserExistenceErrors"] == "ENABLED"
    assert client["IdTokenValidity"] == 60 and client["AccessTokenValidity"] == 60
    assert client["RefreshTokenValidity"] <= 24 * 60
    assert client["TokenValidityUnits"] == {"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "minutes"}
    assert client["UserPoolId"] == {"Ref": domain.logical_id(domain.stack.api.user_pool)}


def test_the_hosted_ui_domain_is_on_the_user_pool_with_a_prefix_unique_to_the_stack(domain: Synth):
    properties = _properties(domain, domain.stack.sign_in.domain)
    assert properties["UserPoolId"] == {"Ref": domain.logical_id(domain.stack.api.user_pool)}
    assert properties["ManagedLoginVersion"] == 1  # the classic hosted UI
    stack_uuid = {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}
    assert properties["Domain"] == {
        "Fn::Join": ["", ["ragline-", {"Fn::Select": [0, {"Fn::Split": ["-", stack_uuid]}]}]]
    }


@pytest.fixture(scope="module")
def custom_prefix(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("prefix"), **{"ragline:auth_domain_prefix": "acme-research"})


def test_the_hosted_ui_prefix_comes_from_context(custom_prefix: Synth):
    assert _properties(custom_prefix, custom_prefix.stack.sign_in.domain)["Domain"] == "acme-research"
    sign_in = (
        f"https://${{{custom_prefix.logical_id(custom_prefix.stack.sign_in.domain)}}}.auth.{REGION}.amazoncognito.com"
    )
    assert sign_in in _csp(custom_prefix)["connect-src"]
    assert_nag_clean(custom_prefix)


# --- CORS: the app's origin, exactly -------------------------------------------------------------------


def test_the_api_preflight_allows_exactly_the_app_origin(domain: Synth, app_origin: str):
    preflights = {route: method for route, method in _methods(domain).items() if route[1] == "OPTIONS"}
    assert {path for path, _ in preflights} >= {"/", "/query", "/documents", "/documents/{doc_id}/download"}
    for route, method in preflights.items():
        assert method["AuthorizationType"] == "NONE", route
        (response,) = method["Integration"]["IntegrationResponses"]
        headers = flat(response["ResponseParameters"])
        assert headers["method.response.header.Access-Control-Allow-Origin"] == f"'{app_origin}'", route
        assert headers["method.response.header.Access-Control-Allow-Headers"] == "'Authorization,Content-Type'"
        assert headers["method.response.header.Access-Control-Allow-Methods"] == "'GET,POST,DELETE'"
        assert "Access-Control-Allow-Credentials" not in json.dumps(headers)


def test_the_gateways_own_errors_allow_exactly_the_app_origin(domain: Synth, app_origin: str):
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in domain.resources("AWS::ApiGateway::GatewayResponse").values()
    }
    expected = {
        "UNAUTHORIZED",
        "ACCESS_DENIED",
        "MISSING_AUTHENTICATION_TOKEN",
        "THROTTLED",
        "DEFAULT_4XX",
        "DEFAULT_5XX",
    }
    assert set(responses) == expected
    for response_type, properties in responses.items():
        headers = flat(properties["ResponseParameters"])
        assert headers == {"gatewayresponse.header.Access-Control-Allow-Origin": f"'{app_origin}'"}, response_type
        body = properties["ResponseTemplates"]["application/json"]
        assert '"message"' in body and '"code"' in body, response_type  # the API's error shape
    assert responses["DEFAULT_5XX"]["ResponseTemplates"]["application/json"] == (
        '{"message": $context.error.messageString, "code": "internal_error"}'
    )


def test_the_query_function_sends_cors_headers_for_the_app_origin_only(domain: Synth, app_origin: str):
    assert flat(_function(domain, "query")["Environment"]["Variables"]["RAGLINE_CORS_ORIGIN"]) == app_origin
    assert "RAGLINE_CORS_ORIGIN" not in _function(domain, "ingest")["Environment"]["Variables"]


def test_the_documents_bucket_allows_the_app_origin_only(domain: Synth, ids: dict[str, str], app_origin: str):
    create, update = _browser_cors_call(domain, "Create"), _browser_cors_call(domain, "Update")
    assert create == update
    assert create["action"] == "putBucketCors" and create["service"] == "S3"
    assert create["parameters"]["Bucket"] == f"${{{ids['documents']}}}"
    (rule,) = create["parameters"]["CORSConfiguration"]["CORSRules"]
    assert rule["AllowedOrigins"] == [app_origin]
    assert rule["AllowedMethods"] == ["PUT", "GET"]
    assert rule["ExposeHeaders"] == ["ETag"]
    assert rule["MaxAgeSeconds"] > 0
    assert "*" not in rule["AllowedHeaders"]
    delete = _browser_cors_call(domain, "Delete")
    assert (delete["action"], delete["parameters"]) == ("deleteBucketCors", {"Bucket": f"${{{ids['documents']}}}"})
    # One place for the rule: the bucket itself has none (a CorsConfiguration would make a cycle, see stack.py).
    assert "CorsConfiguration" not in domain.raw["Resources"][ids["documents"]]["Properties"]


def test_the_cors_rule_is_written_with_the_one_permission_s3_checks(domain: Synth, ids: dict[str, str]):
    """S3 authorizes both PutBucketCors and DeleteBucketCors with s3:PutBucketCORS: the stack's delete needs it."""
    service_token = _properties(domain, domain.stack.storage.cors)["ServiceToken"]["Fn::GetAtt"][0]
    role = domain.raw["Resources"][service_token]["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [
        flat(statement)
        for policy in domain.resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    # The same CDK function (one per stack) also starts the deploy-time reconcile (test_reconcile.py): that
    # one invoke, and nothing else.
    reconcile = domain.logical_id(domain.stack.reconcile.function.function)
    assert sorted(statements, key=lambda statement: statement["Action"]) == [
        {"Action": "lambda:InvokeFunction", "Effect": "Allow", "Resource": f"${{{reconcile}.Arn}}"},
        {"Action": "s3:PutBucketCORS", "Effect": "Allow", "Resource": f"${{{ids['documents']}.Arn}}"},
    ]


@pytest.mark.parametrize("if_match", [None, "0123456789abcdef"])
def test_a_browser_may_send_every_header_an_upload_url_signs(domain: Synth, if_match: str | None):
    """The headers S3UploadSigner signs (POST /documents hands them to the app) pass the bucket's CORS rule."""
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config

    from ragline.objectstores.s3 import S3UploadSigner

    client = boto3.client(
        "s3",
        region_name=REGION,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="not-a-secret",
        config=Config(signature_version="s3v4"),
    )
    metadata = {"roles": "finance", "owner": "alice-sub", "writers": "finance"}
    url = S3UploadSigner(client).presign_put("docs", "finance/q4.md", metadata, 2048, if_match, 900)
    signed = parse_qs(urlsplit(url).query)["X-Amz-SignedHeaders"][0].split(";")
    (rule,) = _browser_cors_call(domain, "Create")["parameters"]["CORSConfiguration"]["CORSRules"]
    # The browser sets Host and Content-Length itself (fetch may not); it adds the file's Content-Type.
    sent_by_the_page = [header for header in signed if header not in ("host", "content-length")] + ["content-type"]
    assert any(header.startswith("x-amz-meta-") for header in sent_by_the_page)
    for header in sent_by_the_page:
        assert any(fnmatch.fnmatch(header, allowed) for allowed in rule["AllowedHeaders"]), header


# --- what is published ---------------------------------------------------------------------------------


def _published(synth: Synth) -> dict[str, Any]:
    (deployment,) = synth.resources("Custom::CDKBucketDeployment").values()
    return deployment["Properties"]


def _asset(synth: Synth, object_key: str) -> Path:
    return synth.outdir / f"asset.{object_key.removesuffix('.zip')}"


def test_config_json_is_the_contract_with_the_app(domain: Synth, ids: dict[str, str], app_origin: str):
    published = _published(domain)
    (config_key,) = [key for key in published["SourceObjectKeys"] if (_asset(domain, key) / "config.json").is_file()]
    markers = published["SourceMarkers"][published["SourceObjectKeys"].index(config_key)]
    text = (_asset(domain, config_key) / "config.json").read_text()
    for marker, value in markers.items():
        text = text.replace(marker, flat(value))
    stage = domain.logical_id(domain.stack.api.rest_api.deployment_stage)
    assert json.loads(text) == {
        "auth": "cognito",
        # The stage's URL without a trailing slash.
        "api_url": f"https://${{{ids['api']}}}.execute-api.{REGION}.${{AWS::URLSuffix}}/${{{stage}}}",
        "cognito": {
            "domain": f"https://${{{ids['sign_in']}}}.auth.{REGION}.amazoncognito.com",
            "client_id": f"${{{ids['web_client']}}}",
            "redirect_uri": f"{app_origin}/",
            "scopes": ["openid", "email", "profile"],
        },
    }


def test_the_apps_files_are_published_to_the_assets_bucket_and_the_cache_invalidated(
    domain: Synth, ids: dict[str, str]
):
    published = _published(domain)
    assert published["DestinationBucketName"] == {"Ref": ids["assets"]}
    assert published["DistributionId"] == {"Ref": ids["distribution"]}
    assert published["DistributionPaths"] == ["/*"]
    assert published["Prune"] is True
    (files_key,) = [key for key in published["SourceObjectKeys"] if (_asset(domain, key) / "index.html").is_file()]
    assert sorted(p.name for p in _asset(domain, files_key).iterdir()) == sorted(p.name for p in WEBAPP.iterdir())


def test_the_outputs_give_the_app_and_the_hosted_ui(domain: Synth, ids: dict[str, str], app_origin: str):
    outputs = domain.raw["Outputs"]
    assert flat(outputs["WebAppUrl"]["Value"]) == f"{app_origin}/"
    assert flat(outputs["HostedUiDomain"]["Value"]) == f"https://${{{ids['sign_in']}}}.auth.{REGION}.amazoncognito.com"
