"""Signing in from a browser: Cognito's hosted UI on the user pool, and the web app's client.

The web app signs in with the authorization code grant and PKCE (docs/architecture.md, "The web app"):
it sends the browser to ``<domain>/oauth2/authorize``, Cognito signs the user in and redirects back to the
app with a one-time code, and the app exchanges the code (with its PKCE verifier) for tokens at
``<domain>/oauth2/token``. The client is public (a browser keeps no secret), allows no other grant and
redirects only to the app's own address. Cognito checks the verifier whenever the authorization request
carried a ``code_challenge``; it has no setting that refuses a request without one, so PKCE rests on the
app sending it (it does).
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, Fn
from aws_cdk import aws_cognito as cognito
from constructs import Construct

SCOPES = (cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE)
SCOPE_NAMES = ("openid", "email", "profile")  # SCOPES as the app sends them (config.json)


def default_domain_prefix() -> str:
    """``ragline-`` and the first 8 hex digits of the stack's id: unique, and known only at deploy time.

    A hosted UI prefix is unique in a Region across all AWS accounts; the stack id is random per stack, so
    two deployments (or two accounts) never ask for the same one, and the account id is not published.
    """
    stack_uuid = Fn.select(2, Fn.split("/", Aws.STACK_ID))  # arn:...:stack/<name>/<uuid>
    return Fn.join("", ["ragline-", Fn.select(0, Fn.split("-", stack_uuid))])


class SignIn(Construct):
    """The hosted UI domain of ``user_pool`` (``url``); :meth:`add_web_client` adds the app's client."""

    def __init__(
        self, scope: Construct, construct_id: str, *, user_pool: cognito.IUserPool, domain_prefix: str = ""
    ) -> None:
        super().__init__(scope, construct_id)
        self._user_pool = user_pool
        self.domain = cognito.UserPoolDomain(
            self,
            "Domain",
            user_pool=user_pool,
            cognito_domain=cognito.CognitoDomainOptions(domain_prefix=domain_prefix or default_domain_prefix()),
            # The classic hosted UI needs nothing else; the newer managed login needs a branding resource
            # per client before its pages render.
            managed_login_version=cognito.ManagedLoginVersion.CLASSIC_HOSTED_UI,
        )

    @property
    def url(self) -> str:
        """``https://<prefix>.auth.<region>.amazoncognito.com``, no trailing slash."""
        return self.domain.base_url()

    def add_web_client(self, app_url: str) -> cognito.UserPoolClient:
        """A public client for the browser app at ``app_url`` (``https://host/``): code grant only."""
        return cognito.UserPoolClient(
            self,
            "WebClient",
            user_pool=self._user_pool,
            generate_secret=False,  # a browser cannot keep a secret: PKCE protects the code instead
            # No direct sign-in API flows (password, SRP): the browser signs in on the hosted UI only. The
            # refresh token flow stays, so the app may renew its tokens without a new sign-in.
            auth_flows=cognito.AuthFlow(user_password=False, user_srp=False, custom=False, admin_user_password=False),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(
                    authorization_code_grant=True, implicit_code_grant=False, client_credentials=False
                ),
                scopes=list(SCOPES),
                callback_urls=[app_url],
                logout_urls=[app_url],
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            # Kept in a browser: a working day, then the user signs in again.
            refresh_token_validity=Duration.hours(12),
        )
