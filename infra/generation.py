"""Who writes the query function's answers: a Bedrock model (the default), or any chat model behind an
OpenAI-compatible API (``-c ragline:generator=openai -c ragline:openai_base_url=https://... -c
ragline:openai_model=...``).

For the second, the API key lives in a Secrets Manager secret, never in the template or the function's
environment: the one ``ragline:openai_api_key_secret`` names (a name, or its complete ARN), or else one this
stack makes with a placeholder, to be replaced by the key after deploying (its ARN is the ``OpenAIKeySecret``
output; docs/security.md). The function reads it once per execution environment, and may read that secret
only (``secretsmanager:GetSecretValue``); it gets no Bedrock permission for a model it does not call.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.config import Config
from infra.functions import RaglineFunction
from infra.nag import acknowledge


class Generation(Construct):
    """:attr:`environment` for the query function, the Bedrock models it calls (:attr:`bedrock_models`) and,
    for an OpenAI-compatible model, the key's secret (:attr:`api_key`, else None)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: Config) -> None:
        super().__init__(scope, construct_id)
        self.api_key: secretsmanager.ISecret | None = None
        if config.generator != "openai":
            self.environment = {"RAGLINE_GENERATOR": "bedrock", "RAGLINE_GENERATOR_MODEL": config.generator_model}
            self.bedrock_models: tuple[str, ...] = (config.generator_model,)
            return
        self.api_key = self._secret(config.openai_api_key_secret)
        self.environment = {
            "RAGLINE_GENERATOR": "openai",
            "RAGLINE_OPENAI_BASE_URL": config.openai_base_url,
            "RAGLINE_OPENAI_MODEL": config.openai_model,
            # The name as given (Secrets Manager finds a secret by its name), else the ARN of the one made here.
            "RAGLINE_OPENAI_API_KEY_SECRET": config.openai_api_key_secret or self.api_key.secret_arn,
        }
        self.bedrock_models = ()

    def _secret(self, named: str) -> secretsmanager.ISecret:
        if named.startswith("arn:"):
            return secretsmanager.Secret.from_secret_complete_arn(self, "ApiKey", named)
        if named:
            return secretsmanager.Secret.from_secret_name_v2(self, "ApiKey", named)
        # A random placeholder, never a key: the server refuses it (a clear 401 in the function's log) until
        # the key is put in with `aws secretsmanager put-secret-value` (docs/deploy.md).
        secret = secretsmanager.Secret(
            self,
            "ApiKey",
            description="ragline: the API key of the OpenAI-compatible chat model server (put the key in)",
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=32, exclude_punctuation=True),
        )
        acknowledge(
            secret,
            "AwsSolutions-SMG4",
            "The API key is issued by the model's provider, not by Secrets Manager: it is rotated there, then "
            "put into this secret by hand; no rotation Lambda could make a new one.",
        )
        return secret

    def grant(self, function: RaglineFunction) -> None:
        """Reading the key's secret, and nothing else of Secrets Manager."""
        if self.api_key is None:
            return
        # A secret named without its ARN's random suffix is matched with it (the suffix is six characters).
        arn = self.api_key.secret_full_arn or f"{self.api_key.secret_arn}-??????"
        function.role.add_to_principal_policy(
            iam.PolicyStatement(sid="ReadTheModelApiKey", actions=["secretsmanager:GetSecretValue"], resources=[arn])
        )
