"""The HTTP API: a Cognito user pool (its groups are the callers' roles), a REST API and the query function.

Every route but ``GET /health`` goes through the Cognito user pools authorizer, which verifies the ID
token and hands its claims (``cognito:groups``) to the function: roles never come from the request. The
stage is throttled and writes JSON access logs; the gateway's own 401/403/404 answers carry the same
``{"message", "code"}`` body as the function's.

Browsers may call it from one origin only, the web app's (``web_origin``, ``https://<distribution domain>``):
the preflight (OPTIONS, answered by API Gateway itself), every gateway error response and, through
``RAGLINE_CORS_ORIGIN``, the function's own responses allow exactly that origin, never ``*``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.config import Config
from infra.functions import RaglineFunction, log_group
from infra.generation import Generation
from infra.nag import acknowledge, finding_detail
from infra.search import Search

QUERY_FUNCTION_TIMEOUT = Duration.seconds(30)
QUERY_MEMORY_MB = 1024
STAGE = "v1"

# (path, method): every route the query function serves, all behind the authorizer but /health.
PROTECTED_ROUTES = (
    ("/query", "POST"),
    ("/retrieve", "POST"),
    ("/documents", "POST"),
    ("/documents", "GET"),
    ("/documents/{doc_id}", "GET"),
    ("/documents/{doc_id}", "DELETE"),
    ("/documents/{doc_id}/download", "GET"),
    ("/access/roles", "GET"),
    ("/access/documents/{doc_id}", "GET"),
    ("/access/warnings", "GET"),
    ("/audit", "GET"),
)
PUBLIC_ROUTES = (("/health", "GET"), ("/openapi.json", "GET"))

# What a browser may send cross-origin: the token, and JSON bodies.
CORS_METHODS = ("GET", "POST", "DELETE")
CORS_HEADERS = ("Authorization", "Content-Type")
CORS_MAX_AGE = Duration.hours(1)


def access_log_format() -> apigw.AccessLogFormat:
    """One JSON line per request, 401s from the authorizer included: these never reach the function, so this
    log is where the audit trail finds them (docs/security.md, "The audit trail"). The request id is the
    function's correlation id and the audit record's; the user is the token's sub, when it was valid."""
    field = apigw.AccessLogField
    return apigw.AccessLogFormat.custom(
        json.dumps(
            {
                "requestId": field.context_request_id(),
                "requestTime": field.context_request_time(),
                "ip": field.context_identity_source_ip(),
                "httpMethod": field.context_http_method(),
                "resourcePath": field.context_resource_path(),
                "protocol": field.context_protocol(),
                "status": field.context_status(),
                "responseLength": field.context_response_length(),
                "user": field.context_authorizer_claims("sub"),
                "errorType": field.context_error_response_type(),
                "error": field.context_error_message(),
                "authorizerError": field.context_authorizer_error(),
                "authorizerStatus": field.context_authorizer_status(),
                "integrationStatus": field.context_integration_status(),
            }
        )
    )


def _error_body(code: str, message: str) -> dict[str, str]:
    return {"application/json": json.dumps({"message": message, "code": code})}


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        registry: dynamodb.ITable,
        audit: dynamodb.ITable,
        audit_key: secretsmanager.ISecret,
        layer: lambda_.ILayerVersion,
        search: Search,
        environment: Mapping[str, str],
        config: Config,
        web_origin: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self._users(config)
        self.generation = Generation(self, "Generation", config=config)
        self.function = RaglineFunction(
            self,
            "Query",
            name="query",
            description="ragline query: the HTTP API (query, retrieve, documents, health)",
            layer=layer,
            environment={
                **environment,
                **search.environment,
                **self.generation.environment,
                "RAGLINE_ADMIN_GROUP": config.admin_group,
                "RAGLINE_CORS_ORIGIN": web_origin,  # the function's responses allow it (and only it)
                "RAGLINE_AUDIT_TABLE": audit.table_name,
                "RAGLINE_AUDIT_KEY_SECRET": audit_key.secret_arn,  # read once per execution environment
                **self._reranking(config),
            },
            timeout=QUERY_FUNCTION_TIMEOUT,
            memory_mb=QUERY_MEMORY_MB,
            log_retention_days=config.log_retention_days,
        )
        self._permissions(bucket, registry, search, config)
        self.generation.grant(self.function)
        self._audit_permissions(audit, audit_key)
        self._rest_api(config, web_origin)

    # --- Cognito ------------------------------------------------------------------------------------

    def _users(self, config: Config) -> None:
        self.user_pool = cognito.UserPool(
            self,
            "Users",
            self_sign_up_enabled=False,  # an administrator creates users and puts them in groups
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.user_pool,
            "AwsSolutions-COG2",
            "MFA is optional (TOTP), not required: users are created by an administrator, and the deploy "
            "guide's command-line sign-in (USER_PASSWORD_AUTH) would otherwise need an MFA device first.",
        )
        acknowledge(
            self.user_pool,
            "AwsSolutions-COG8",
            "The Essentials plan, not Plus: Plus (threat protection) is billed per monthly active user, "
            "self sign-up is off and every user is created by an administrator.",
        )
        self.groups = {
            name: cognito.CfnUserPoolGroup(
                self,
                f"Group-{name}",
                user_pool_id=self.user_pool.user_pool_id,
                group_name=name,
                description=f"ragline role {name}"
                + (" (sees every document's status)" if name == config.admin_group else ""),
            )
            for name in config.groups
        }
        # The command line's client (the deploy guide's USER_PASSWORD_AUTH); browsers sign in through the
        # web app's own client (infra/signin.py). No OAuth: CDK would otherwise allow the implicit grant to
        # https://example.com on it, which the hosted UI domain would then serve.
        self.client = self.user_pool.add_client(
            "Client",
            auth_flows=cognito.AuthFlow(user_password=True, user_srp=True),
            disable_o_auth=True,
            generate_secret=False,  # a public client: the CLI cannot keep a secret
            prevent_user_existence_errors=True,
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
        )

    # --- the query function's permissions -----------------------------------------------------------

    def _permissions(self, bucket: s3.IBucket, registry: dynamodb.ITable, search: Search, config: Config) -> None:
        role = self.function.role
        registry.grant_read_data(role)  # GET /documents scans it; GET /documents/{doc_id} reads an item
        # POST /documents reads what a key holds (the object's roles and its sidecar, to refuse a takeover
        # and to bind the URL to the object it checked), then presigns an upload; DELETE deletes the object;
        # GET /documents/{doc_id}/download presigns a GET of the indexed version (GetObjectVersion).
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="CheckUploadDownloadAndDeleteDocuments",
                actions=["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject"],
                resources=[bucket.arn_for_objects("*")],
            )
        )
        # Without ListBucket, S3 answers 403 rather than 404 for a key that does not exist.
        role.add_to_principal_policy(
            iam.PolicyStatement(sid="TellAbsentKeys", actions=["s3:ListBucket"], resources=[bucket.bucket_arn])
        )
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{finding_detail(Stack.of(self), bucket.arn_for_objects('*'))}]",
            "Callers upload, download and delete documents under keys they choose (POST /documents, GET "
            "/documents/{doc_id}/download, DELETE /documents/{doc_id}), after the function reads what the "
            "key holds; only objects of the documents bucket, only Get, Put and Delete.",
        )
        models = [config.embed_model, *config.reindex_models, *self.generation.bedrock_models]
        if config.rerank_model:
            models.append(config.rerank_model)
            # The Rerank API has no resource-level permissions; InvokeModel (below) names the model.
            role.add_to_principal_policy(iam.PolicyStatement(sid="Rerank", actions=["bedrock:Rerank"], resources=["*"]))
        self.function.allow_invoke_models(models)
        search.grant_read(self.function)

    def _audit_permissions(self, audit: dynamodb.ITable, audit_key: secretsmanager.ISecret) -> None:
        """Put records (each a conditional Put inside TransactWriteItems, which IAM authorizes as PutItem) and
        query them (GET /audit); no UpdateItem, DeleteItem or BatchWriteItem (whose requests may delete), so
        the function cannot remove a record, and its writes never replace one (docs/security.md)."""
        self.function.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="KeepAndReadTheAuditTrail",
                actions=["dynamodb:PutItem", "dynamodb:Query"],
                resources=[audit.table_arn],
            )
        )
        audit_key.grant_read(self.function.role)

    @staticmethod
    def _reranking(config: Config) -> dict[str, str]:
        if not config.rerank_model:
            return {}
        return {
            "RAGLINE_RERANKER": "bedrock",
            "RAGLINE_RERANK_MODEL": config.rerank_model,
            "RAGLINE_RETRIEVAL_MODE": "hybrid+rerank",
        }

    # --- the REST API -------------------------------------------------------------------------------

    def _rest_api(self, config: Config, web_origin: str) -> None:
        access_logs = log_group(self, "AccessLogs", config.log_retention_days)
        self.rest_api = apigw.RestApi(
            self,
            "Api",
            description="ragline: permission-aware question answering over your documents",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # API Gateway writes logs with an account-wide role; CDK creates it and keeps it on delete.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE,
                throttling_rate_limit=config.throttle_rate,
                throttling_burst_limit=config.throttle_burst,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=access_log_format(),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # request and response bodies would carry document text
                tracing_enabled=True,
                metrics_enabled=True,
            ),
            # Every resource answers OPTIONS itself (a mock integration: the function never sees a preflight).
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=[web_origin],
                allow_methods=list(CORS_METHODS),
                allow_headers=list(CORS_HEADERS),
                max_age=CORS_MAX_AGE,
            ),
        )
        self.authorizer = apigw.CognitoUserPoolsAuthorizer(
            self, "Authorizer", cognito_user_pools=[self.user_pool], results_cache_ttl=Duration.minutes(5)
        )
        integration = apigw.LambdaIntegration(self.function.function, proxy=True, allow_test_invoke=False)
        self.methods: dict[tuple[str, str], apigw.Method] = {}
        for path, verb in PROTECTED_ROUTES:
            self.methods[path, verb] = self._resource(path).add_method(
                verb,
                integration,
                authorizer=self.authorizer,
                authorization_type=apigw.AuthorizationType.COGNITO,
            )
        for path, verb in PUBLIC_ROUTES:
            method = self._resource(path).add_method(verb, integration, authorization_type=apigw.AuthorizationType.NONE)
            self.methods[path, verb] = method
            reason = (
                "GET /health is a liveness probe for load balancers and monitors: it reads nothing and answers 200."
            )
            acknowledge(method, "AwsSolutions-APIG4", reason)
            acknowledge(method, "AwsSolutions-COG4", reason)

        self._acknowledge_preflights()
        self._gateway_responses(web_origin)
        acknowledge(
            self.rest_api,
            "AwsSolutions-APIG2",
            "Requests are validated by the query function, which answers bad input with 400 and "
            '{"message", "code"}; a gateway model would duplicate those rules with a different error shape.',
        )
        acknowledge(
            self.rest_api,
            "AwsSolutions-APIG3",
            "No WAF web ACL by default: it has a fixed monthly cost; the stage is throttled and every data "
            "route needs a Cognito token. Associate a web ACL with the stage where required.",
        )
        role = self.rest_api.node.try_find_child("CloudWatchRole")
        if role is not None:
            acknowledge(
                role,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
                "API Gateway's account-wide logging role; this AWS-managed policy is the one AWS documents "
                "for it, and API Gateway names the log groups it writes itself.",
            )

    def _acknowledge_preflights(self) -> None:
        reason = (
            "A CORS preflight (OPTIONS) carries no token by the Fetch standard; API Gateway answers it with a "
            "mock integration, the allowed origin, methods and headers, and nothing reaches the function."
        )
        for method in self.rest_api.methods:
            if method.http_method == "OPTIONS":
                acknowledge(method, "AwsSolutions-APIG4", reason)
                acknowledge(method, "AwsSolutions-COG4", reason)

    def _gateway_responses(self, web_origin: str) -> None:
        """API Gateway's own answers, in the API's error shape and readable by the web app (CORS): without
        the header a browser hides a 401 from the page, which then cannot tell an expired sign-in."""
        cors = {"Access-Control-Allow-Origin": f"'{web_origin}'"}
        for response_type, status, code, message in (
            (apigw.ResponseType.UNAUTHORIZED, "401", "unauthorized", "missing or invalid token"),
            (apigw.ResponseType.ACCESS_DENIED, "403", "forbidden", "access denied"),
            (apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN, "404", "not_found", "no such route"),
            (apigw.ResponseType.THROTTLED, "429", "throttled", "too many requests"),
        ):
            self.rest_api.add_gateway_response(
                f"{code.title()}Response",
                type=response_type,
                status_code=status,
                response_headers=cors,
                templates=_error_body(code, message),
            )
        # Every other gateway error (a body too large, an integration timeout, ...) keeps its status and
        # API Gateway's message, with a code.
        for construct_id, response_type, code in (
            ("Default4xxResponse", apigw.ResponseType.DEFAULT_4_XX, "bad_request"),
            ("Default5xxResponse", apigw.ResponseType.DEFAULT_5_XX, "internal_error"),
        ):
            template = '{"message": $context.error.messageString, "code": "' + code + '"}'
            self.rest_api.add_gateway_response(
                construct_id,
                type=response_type,
                response_headers=cors,
                templates={"application/json": template},
            )

    def _resource(self, path: str) -> apigw.IResource:
        return self.rest_api.root.resource_for_path(path)

    @property
    def url(self) -> str:
        """The stage's URL, with a trailing slash (``https://<id>.execute-api.<region>.amazonaws.com/v1/``)."""
        return self.rest_api.url

    @property
    def origin(self) -> str:
        """``https://<id>.execute-api.<region>.<suffix>``: where the web app's CSP lets it connect.

        Built from the REST API's id alone, not from the stage, so that the web app's distribution (whose
        headers name it) does not wait for the stage, which waits for the methods, which name the
        distribution (CORS).
        """
        stack = Stack.of(self)
        return f"https://{self.rest_api.rest_api_id}.execute-api.{stack.region}.{stack.url_suffix}"

    @property
    def stage_url(self) -> str:
        """The stage's URL without a trailing slash, as the web app's config.json names it."""
        return f"{self.origin}/{self.rest_api.deployment_stage.stage_name}"
