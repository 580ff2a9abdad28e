"""The web app's hosting: a private bucket behind CloudFront, security headers, and the app's files.

The bucket is reachable only through the distribution: public access is blocked and its policy lets
``cloudfront.amazonaws.com`` read objects only on behalf of this distribution (origin access control, with
the distribution's ARN as the condition). Viewers are redirected to HTTPS, and every response carries the
headers of :func:`content_security_policy` and HSTS, ``nosniff``, ``X-Frame-Options: DENY`` and
``Referrer-Policy: no-referrer``.

:meth:`WebApp.publish` copies ``shared/ragline/webapp/`` into the bucket with the ``config.json`` the app
reads at start (:func:`app_config`, built from deploy-time values), and invalidates the distribution's
cache, so a deployment is live as soon as ``cdk deploy`` returns.

Example:
    >>> webapp = WebApp(stack, "WebApp", api_origin=api.origin, sign_in_url=sign_in.url,  # doctest: +SKIP
    ...                 documents=storage.bucket, access_logs=storage.access_logs, log_retention_days=30)
    >>> webapp.publish(app_config(api_url=api.stage_url, ...))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from aws_cdk import CfnElement, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from infra import bundling
from infra.functions import log_group
from infra.nag import BASIC_EXECUTION_ROLE, acknowledge, cdk_assets_bucket, stack_singletons
from infra.signin import SCOPE_NAMES

WEBAPP = bundling.PACKAGE / "webapp"  # the app's static files (index.html, *.js, ...)
CONFIG_KEY = "config.json"
HSTS_MAX_AGE = Duration.days(730)


def content_security_policy(*, api_origin: str, sign_in_url: str, upload_origins: Sequence[str]) -> str:
    """The app's Content-Security-Policy: its own files only, and ``fetch`` to exactly what it calls.

    No inline script or style and no ``eval`` (no ``'unsafe-*'``); ``connect-src`` is the API, the hosted
    UI's token endpoint and the documents bucket (presigned uploads and downloads go straight to S3).
    """
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "connect-src": ["'self'", api_origin, sign_in_url, *upload_origins],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def app_config(*, api_url: str, sign_in_url: str, client_id: str, app_url: str) -> dict[str, Any]:
    """The ``config.json`` the app fetches from its own origin (the contract with shared/ragline/webapp/).

    ``api_url`` is the REST API's stage URL without a trailing slash; ``app_url`` is where Cognito sends
    the browser back, exactly one of the client's callback URLs.
    """
    return {
        "auth": "cognito",
        "api_url": api_url,
        "cognito": {
            "domain": sign_in_url,
            "client_id": client_id,
            "redirect_uri": app_url,
            "scopes": list(SCOPE_NAMES),
        },
    }


class WebApp(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api_origin: str,
        sign_in_url: str,
        documents: s3.IBucket,
        access_logs: s3.IBucket,
        log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self._log_retention_days = log_retention_days
        self.bucket = s3.Bucket(
            self,
            "Assets",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="webapp/",
            # Only the built app lives here (publish() rewrites it on every deployment); kept on delete
            # like every bucket of the stack, so that a delete never fails on a non-empty bucket.
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.headers = cloudfront.ResponseHeadersPolicy(
            self,
            "Headers",
            comment="ragline web app: CSP, HSTS, nosniff, no framing, no referrer",
            security_headers_behavior=self._security_headers(
                content_security_policy(
                    api_origin=api_origin,
                    sign_in_url=sign_in_url,
                    # The signer's URLs name the bucket's global host today, and a regional client would
                    # name the regional one: both, and nothing else of S3.
                    upload_origins=[
                        f"https://{documents.bucket_regional_domain_name}",
                        f"https://{documents.bucket_domain_name}",
                    ],
                )
            ),
        )
        self.cdn_logs = self._cdn_logs()
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="ragline web app",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=self.headers,
            ),
            default_root_object="index.html",
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            log_bucket=self.cdn_logs,
            log_file_prefix="webapp/",
        )
        self._acknowledge_distribution()

    @property
    def origin(self) -> str:
        """``https://<distribution domain>``: what CORS allows (no path, no trailing slash)."""
        return f"https://{self.distribution.distribution_domain_name}"

    @property
    def url(self) -> str:
        """``https://<distribution domain>/``: the app's address, and its sign-in redirect URI."""
        return f"{self.origin}/"

    def publish(self, config: Mapping[str, Any]) -> s3deploy.BucketDeployment:
        """Deploys the app's files and ``config.json`` (``config``, deploy-time values resolved) to the bucket."""
        if not (WEBAPP / "index.html").is_file():
            raise FileNotFoundError(f"no web app at {WEBAPP} (index.html is missing)")
        deployment = s3deploy.BucketDeployment(
            self,
            "Publish",
            sources=[s3deploy.Source.asset(str(WEBAPP)), s3deploy.Source.json_data(CONFIG_KEY, dict(config))],
            destination_bucket=self.bucket,
            prune=True,  # files removed from the app are removed from the bucket
            # The files' names carry no version: browsers revalidate them (ETags) instead of keeping a stale
            # app.js next to a new index.html, and the deployment invalidates CloudFront's copies.
            cache_control=[s3deploy.CacheControl.no_cache()],
            distribution=self.distribution,
            distribution_paths=["/*"],
            log_group=log_group(self, "PublishLogs", self._log_retention_days),
        )
        self._acknowledge_publisher()
        return deployment

    # --- parts ---------------------------------------------------------------------------------------

    @staticmethod
    def _security_headers(csp: str) -> cloudfront.ResponseSecurityHeadersBehavior:
        return cloudfront.ResponseSecurityHeadersBehavior(
            content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                content_security_policy=csp, override=True
            ),
            strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                access_control_max_age=HSTS_MAX_AGE, include_subdomains=True, override=True
            ),
            content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
            frame_options=cloudfront.ResponseHeadersFrameOptions(
                frame_option=cloudfront.HeadersFrameOption.DENY, override=True
            ),
            # The app's URL carries the one-time sign-in code for a moment: none of it leaves the app.
            referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True
            ),
        )

    def _cdn_logs(self) -> s3.Bucket:
        """CloudFront's standard logs: delivered with an ACL grant, so this bucket alone allows ACLs."""
        bucket = s3.Bucket(
            self,
            "CdnLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.OBJECT_WRITER,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            bucket,
            "AwsSolutions-S1",
            "This bucket is itself a log bucket (the distribution's standard logs); logging its own access "
            "would only log the log deliveries.",
        )
        return bucket

    def _acknowledge_distribution(self) -> None:
        acknowledge(
            self.distribution,
            "AwsSolutions-CFR1",
            "No geo restriction: the users of a deployment may be anywhere; sign-in and every API call are "
            "checked by Cognito whatever the country.",
        )
        acknowledge(
            self.distribution,
            "AwsSolutions-CFR2",
            "No WAF web ACL by default (a fixed monthly cost): the distribution serves static files only, "
            "and the API it calls is throttled and needs a Cognito token. Associate a web ACL where required.",
        )
        acknowledge(
            self.distribution,
            "AwsSolutions-CFR4",
            "The distribution uses CloudFront's default *.cloudfront.net certificate, whose minimum TLS "
            "version cannot be raised; a custom domain with its own ACM certificate would allow TLS 1.2 only.",
        )

    def _acknowledge_publisher(self) -> None:
        """BucketDeployment runs CDK's own function (one per stack), during deployments only, with the role
        CDK gives it: read CDK's assets bucket, sync this bucket, invalidate the distribution."""
        stack = Stack.of(self)
        assets = stack.get_logical_id(cast(CfnElement, self.bucket.node.default_child))
        reasons = {
            BASIC_EXECUTION_ROLE: (
                "CDK's own BucketDeployment function, which copies the web app into its bucket during "
                "deployments only; its role is CDK's and not configurable."
            ),
            "AwsSolutions-L1": (
                "CDK's own BucketDeployment function pins the runtime its code and AWS CLI layer are built "
                "for; it runs during deployments only."
            ),
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{cdk_assets_bucket(stack)}/*]": (
                "BucketDeployment reads the app's zip from CDK's bootstrap assets bucket, whose object keys "
                "are content hashes known only to CDK."
            ),
            f"AwsSolutions-IAM5[Resource::<{assets}.Arn>/*]": (
                "BucketDeployment writes every file of the app, under names of the app's choosing, and only "
                "into the web app's own bucket."
            ),
            "AwsSolutions-IAM5[Resource::*]": (
                "CDK's BucketDeployment grants CreateInvalidation and GetInvalidation on any distribution "
                "(not configurable); it invalidates only the web app's distribution, after each deployment."
            ),
        }
        for action, purpose in (
            ("s3:GetObject*", "read the app's zip and compare the files already in the web app's bucket"),
            ("s3:GetBucket*", "read the location and settings of the assets and web app buckets"),
            ("s3:List*", "list the files already in the web app's bucket, to replace and prune them"),
            ("s3:DeleteObject*", "prune the files removed from the app, in the web app's bucket only"),
            ("s3:Abort*", "abort its own multipart uploads of large files, in the web app's bucket only"),
        ):
            reasons[f"AwsSolutions-IAM5[Action::{action}]"] = (
                f"CDK's BucketDeployment grants {action} (bucket.grantReadWrite) to {purpose}."
            )
        for singleton in stack_singletons(stack, "Custom::CDKBucketDeployment"):
            for rule, reason in reasons.items():
                acknowledge(singleton, rule, reason)
