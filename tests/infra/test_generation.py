"""The query function's answers from an OpenAI-compatible chat model (``ragline:generator=openai``): its
settings, the key's secret and the one permission on it; the default stays Bedrock."""

from __future__ import annotations

import pytest

from tests.infra.conftest import ACCOUNT, REGION, Synth, flat, synthesize
from tests.infra.test_stack import EMBED_ARN, _function, _granted, _role_statements, assert_nag_clean

pytest.importorskip("aws_cdk")

OPENAI = {
    "ragline:generator": "openai",
    "ragline:openai_base_url": "https://api.openai.com/v1",
    "ragline:openai_model": "gpt-4o-mini",
}
NAMED_SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ragline/openai-AbCdEf"


@pytest.fixture(scope="module")
def made_secret(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("openai"), **OPENAI)


@pytest.fixture(scope="module")
def named_secret(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(
        tmp_path_factory.mktemp("openai-named"), **OPENAI, **{"ragline:openai_api_key_secret": "ragline/openai"}
    )


def _secrets(synth: Synth) -> dict[str, dict]:
    return synth.resources("AWS::SecretsManager::Secret")


def _made_key_id(synth: Synth) -> str:
    (key_id,) = [key for key in _secrets(synth) if key != synth.logical_id(synth.stack.storage.audit_key)]
    return key_id


def test_the_query_function_is_told_the_server_the_model_and_the_keys_secret_never_the_key(made_secret: Synth):
    from ragline.settings import Settings

    variables = _function(made_secret, "query")["Environment"]["Variables"]
    key_id = _made_key_id(made_secret)
    assert variables["RAGLINE_GENERATOR"] == "openai"
    assert variables["RAGLINE_OPENAI_BASE_URL"] == "https://api.openai.com/v1"
    assert variables["RAGLINE_OPENAI_MODEL"] == "gpt-4o-mini"
    assert variables["RAGLINE_OPENAI_API_KEY_SECRET"] == {"Ref": key_id}
    assert "RAGLINE_OPENAI_API_KEY" not in variables and "RAGLINE_GENERATOR_MODEL" not in variables
    settings = Settings.from_env(flat(variables))
    assert (settings.generator, settings.openai_model) == ("openai", "gpt-4o-mini")
    assert not any(
        name.startswith("RAGLINE_OPENAI_") for name in _function(made_secret, "ingest")["Environment"]["Variables"]
    )


def test_the_query_function_may_read_that_secret_only_and_calls_no_bedrock_model_for_answers(made_secret: Synth):
    query, ingest = _role_statements(made_secret, "query"), _role_statements(made_secret, "ingest")
    audit_key = f"${{{made_secret.logical_id(made_secret.stack.storage.audit_key)}}}"
    model_key = f"${{{_made_key_id(made_secret)}}}"

    assert sorted(_granted(query, "secretsmanager:GetSecretValue")) == sorted([audit_key, model_key])
    (statement,) = [s for s in query if s.get("Sid") == "ReadTheModelApiKey"]
    assert statement["Action"] == "secretsmanager:GetSecretValue" and statement["Resource"] == model_key
    assert _granted(ingest, "secretsmanager:GetSecretValue") == []
    assert _granted(query, "bedrock:InvokeModel") == [EMBED_ARN]  # the embedding model only


def test_a_made_secret_holds_a_placeholder_and_is_an_output(made_secret: Synth):
    secret = _secrets(made_secret)[_made_key_id(made_secret)]["Properties"]
    assert "GenerateSecretString" in secret and "SecretString" not in secret  # no key in the template
    made_secret.template.has_output("OpenAIKeySecret", {"Value": {"Ref": _made_key_id(made_secret)}})


def test_a_named_secret_is_referenced_not_made_and_granted_with_its_suffix(named_secret: Synth):
    assert list(_secrets(named_secret)) == [named_secret.logical_id(named_secret.stack.storage.audit_key)]
    variables = _function(named_secret, "query")["Environment"]["Variables"]
    assert variables["RAGLINE_OPENAI_API_KEY_SECRET"] == "ragline/openai"
    (statement,) = [s for s in _role_statements(named_secret, "query") if s.get("Sid") == "ReadTheModelApiKey"]
    assert statement["Resource"] == f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ragline/openai-??????"
    output = flat(named_secret.raw["Outputs"]["OpenAIKeySecret"]["Value"])
    assert output == f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ragline/openai"


def test_a_secret_named_by_its_complete_arn_is_granted_exactly(tmp_path):
    synth = synthesize(tmp_path, **OPENAI, **{"ragline:openai_api_key_secret": NAMED_SECRET_ARN})
    (statement,) = [s for s in _role_statements(synth, "query") if s.get("Sid") == "ReadTheModelApiKey"]
    assert statement["Resource"] == NAMED_SECRET_ARN
    assert _function(synth, "query")["Environment"]["Variables"]["RAGLINE_OPENAI_API_KEY_SECRET"] == NAMED_SECRET_ARN


def test_cdk_nag_finds_nothing_unacknowledged_with_an_openai_generator(made_secret: Synth, named_secret: Synth):
    assert_nag_clean(made_secret)
    assert_nag_clean(named_secret)


def test_the_default_deployment_answers_with_bedrock_and_reads_no_model_key(domain: Synth):
    variables = _function(domain, "query")["Environment"]["Variables"]
    assert variables["RAGLINE_GENERATOR"] == "bedrock"
    assert not any(name.startswith("RAGLINE_OPENAI_") for name in variables)
    assert list(_secrets(domain)) == [domain.logical_id(domain.stack.storage.audit_key)]
    assert "OpenAIKeySecret" not in domain.raw.get("Outputs", {})
