"""Context settings, cdk.json, and the Bedrock ARNs (no synthesis)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("aws_cdk")
import aws_cdk as cdk

from infra.config import DEFAULTS, Config
from infra.functions import model_arns
from tests.infra.conftest import flat

REPO = Path(__file__).resolve().parents[2]


def test_cdk_json_runs_the_app_offline_and_lists_every_default():
    cdk_json = json.loads((REPO / "cdk.json").read_text())
    assert cdk_json["app"] == ".venv/bin/python -m infra.app"
    assert cdk_json["notices"] is False
    expected = {f"ragline:{key}": value for key, value in DEFAULTS.items() if key != "skip_bundling"}
    assert cdk_json["context"] == expected


def test_defaults():
    config = Config.from_context(lambda key: None)
    assert config.serverless is False and config.skip_bundling is False
    assert config.groups == ("admin", "everyone")
    assert config.ingest_concurrency == 4
    assert config.auth_domain_prefix == ""  # derived from the stack (infra/signin.py)
    assert config.bucket == ""  # the stack makes its own documents bucket
    assert config.sync_interval_hours == 24
    assert config.sync_max_delete_share == 0.2


def test_a_valid_hosted_ui_prefix_is_taken_as_it_is():
    assert Config.from_context({"ragline:auth_domain_prefix": " acme-research-2 "}.get).auth_domain_prefix == (
        "acme-research-2"
    )


def test_command_line_strings_are_read_as_their_types():
    context = {
        "ragline:serverless": "true",
        "ragline:groups": "admin, finance ,research",
        "ragline:ingest_concurrency": "8",
        "ragline:prefix_roles": '{"public/": ["everyone"]}',
        "ragline:default_roles": '["everyone"]',
    }
    config = Config.from_context(context.get)
    assert config.serverless is True
    assert config.groups == ("admin", "finance", "research")
    assert config.ingest_concurrency == 8
    assert config.prefix_roles == {"public/": ("everyone",)}
    assert config.default_roles == ("everyone",)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("ragline:admin_group", "root", "not one of"),
        ("ragline:groups", "admin,bad name", "not a valid group name"),
        # Cognito accepts these names; the REST authorizer's "a,b" claim string would split them.
        ("ragline:groups", '["admin", "contractors,admin"]', "not a valid group name"),
        ("ragline:groups", '["admin", "[x]"]', "not a valid group name"),
        ("ragline:ingest_concurrency", "1", "at least 2"),
        ("ragline:serverless", "maybe", "not a boolean"),
        ("ragline:log_retention_days", "31", "must be one of"),
        # What Cognito would refuse only at deploy time, half an hour in.
        ("ragline:auth_domain_prefix", "Ragline", "not a Cognito domain prefix"),
        ("ragline:auth_domain_prefix", "-ragline", "not a Cognito domain prefix"),
        ("ragline:auth_domain_prefix", "rag_line", "not a Cognito domain prefix"),
        ("ragline:auth_domain_prefix", "my-aws-docs", "reserves"),
        ("ragline:auth_domain_prefix", "cognito-login", "reserves"),
        ("ragline:generator", "openia", "not one of bedrock, openai"),
        ("ragline:generator", "openai", "needs ragline:openai_base_url"),
        # What S3 would refuse (or could never have created) as a bucket to adopt.
        ("ragline:bucket", "Acme-Docs", "ragline:bucket 'Acme-Docs' is not an S3 bucket name"),
        ("ragline:bucket", "ab", "is not an S3 bucket name"),
        ("ragline:bucket", "a" * 64, "is not an S3 bucket name"),
        ("ragline:bucket", "acme_docs", "is not an S3 bucket name"),
        ("ragline:bucket", "-acme-docs", "is not an S3 bucket name"),
        ("ragline:bucket", "acme-docs.", "is not an S3 bucket name"),
        ("ragline:bucket", "acme..docs", "is not an S3 bucket name"),
        ("ragline:bucket", "192.168.5.4", "is not an S3 bucket name"),
        ("ragline:bucket", "xn--acme-docs", "is not an S3 bucket name"),
        ("ragline:bucket", "acme-docs-s3alias", "is not an S3 bucket name"),
        ("ragline:bucket", "arn:aws:s3:::acme-docs", "is not an S3 bucket name"),
        ("ragline:sync_max_delete_share", "0", "ragline:sync_max_delete_share must be in \\[0.01, 1.0\\]"),
        ("ragline:sync_max_delete_share", "0.005", "ragline:sync_max_delete_share must be in"),
        ("ragline:sync_max_delete_share", "1.5", "ragline:sync_max_delete_share must be in"),
        ("ragline:sync_max_delete_share", "-0.1", "ragline:sync_max_delete_share must be in"),
        ("ragline:sync_max_delete_share", "nan", "ragline:sync_max_delete_share must be in"),
        ("ragline:sync_max_delete_share", "a fifth", "could not convert"),
        ("ragline:sync_interval_hours", "-1", "ragline:sync_interval_hours must be 0"),
        ("ragline:sync_interval_hours", "1.5", "invalid literal"),
    ],
)
def test_bad_settings_fail_the_synth_with_a_clear_message(key, value, message):
    with pytest.raises(ValueError, match=message):
        Config.from_context({key: value}.get)


def test_a_bucket_to_adopt_and_the_reconcile_settings_are_read_from_context():
    config = Config.from_context(
        {
            "ragline:bucket": " acme.docs-2026 ",
            "ragline:sync_interval_hours": "0",
            "ragline:sync_max_delete_share": "1",
        }.get
    )
    assert config.bucket == "acme.docs-2026"
    assert config.sync_interval_hours == 0  # no scheduled reconcile
    assert config.sync_max_delete_share == 1.0
    assert Config.from_context({"ragline:sync_max_delete_share": 0.05}.get).sync_max_delete_share == 0.05


OPENAI = {
    "ragline:generator": "openai",
    "ragline:openai_base_url": "https://api.openai.com/v1",
    "ragline:openai_model": "gpt-4o-mini",
}


def test_an_openai_compatible_model_is_read_from_context():
    config = Config.from_context({**OPENAI, "ragline:openai_api_key_secret": " ragline/openai "}.get)
    assert (config.generator, config.openai_base_url, config.openai_model) == (
        "openai",
        "https://api.openai.com/v1",
        "gpt-4o-mini",
    )
    assert config.openai_api_key_secret == "ragline/openai"
    assert Config.from_context(lambda key: None).generator == "bedrock"


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        # The function is in no VPC: plain HTTP would carry the key and the passages over the internet.
        ({"ragline:openai_base_url": "http://models.example.com/v1"}, "needs ragline:openai_base_url, https://"),
        ({"ragline:openai_base_url": "https://user:key@models.example.com/v1"}, "no user, password"),
        ({"ragline:openai_model": ""}, "needs ragline:openai_model"),
    ],
)
def test_an_openai_generator_needs_an_https_server_and_a_model(changed, message):
    with pytest.raises(ValueError, match=message):
        Config.from_context({**OPENAI, **changed}.get)


def test_model_arns_are_exact_foundation_models_or_inference_profiles():
    stack = cdk.Stack(cdk.App(), "S", env=cdk.Environment(account="123456789012", region="eu-west-1"))

    def resolved(model_id: str) -> list[str]:
        return [flat(stack.resolve(arn)) for arn in model_arns(stack, model_id)]

    assert resolved("amazon.titan-embed-text-v2:0") == [
        "arn:aws:bedrock:eu-west-1::foundation-model/amazon.titan-embed-text-v2:0"
    ]
    assert resolved("eu.anthropic.claude-3-7-sonnet-20250219-v1:0") == [
        "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
        "arn:aws:bedrock:*::foundation-model/anthropic.claude-3-7-sonnet-20250219-v1:0",
    ]


def test_the_guard_share_the_synth_accepts_is_the_share_the_reconcile_function_accepts():
    from infra.config import SYNC_MAX_DELETE_SHARE_RANGE
    from ragline.settings import _RANGES

    (function_range,) = [(low, high) for name, low, high in _RANGES if name == "sync_max_delete_share"]
    assert function_range == SYNC_MAX_DELETE_SHARE_RANGE
