"""Settings from the environment: the defaults are the best measured local configuration."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from ragline.errors import ConfigurationError, RaglineError
from ragline.factory import build_reranker
from ragline.settings import (
    AUDIT_QUESTIONS,
    CHUNKINGS,
    EMBEDDERS,
    FUSIONS,
    GENERATORS,
    KNOWN_VARIABLES,
    OPENSEARCH_SERVICES,
    OTHER_VARIABLES,
    RENAMED_VARIABLES,
    RERANKERS,
    RETRIEVAL_MODES,
    SETTINGS_VARIABLES,
    STORES,
    Settings,
)
from tests.conftest import REPO


def test_the_default_retrieval_is_hybrid_reranked_locally_then_mmr():
    settings = Settings.from_env({})
    assert (settings.retrieval_mode, settings.reranker, settings.fusion) == ("hybrid+rerank", "proximity", "convex")
    assert settings.mmr_lambda == 0.8
    assert build_reranker(settings).name == "proximity"


def test_turning_the_reranker_off_turns_reranking_off():
    assert Settings.from_env({"RAGLINE_RERANKER": "none"}).retrieval_mode == "hybrid"
    assert build_reranker(Settings.from_env({"RAGLINE_RERANKER": "none"})) is None


def test_an_explicit_mode_is_kept():
    settings = Settings.from_env({"RAGLINE_RERANKER": "none", "RAGLINE_RETRIEVAL_MODE": "bm25"})
    assert settings.retrieval_mode == "bm25"
    assert Settings.from_env({"RAGLINE_RERANKER": "bedrock"}).retrieval_mode == "hybrid+rerank"


@pytest.mark.parametrize(
    "env",
    [
        {"RAGLINE_SHORTLIST": "0"},
        {"RAGLINE_TOP_K": "-1"},
        {"RAGLINE_CANDIDATES": "0"},
        {"RAGLINE_MMR_LAMBDA": "1.5"},
        {"RAGLINE_CHUNK_OVERLAP": "300"},
    ],
)
def test_numbers_out_of_range_fail_when_read(env):
    with pytest.raises(ValueError, match="must be"):
        Settings.from_env(env)


# -- fail fast: every bad setting is refused where the settings are read, naming its variable ------------

CHOICES = {
    "RAGLINE_EMBEDDER": EMBEDDERS,
    "RAGLINE_STORE": STORES,
    "RAGLINE_OPENSEARCH_SERVICE": OPENSEARCH_SERVICES,
    "RAGLINE_GENERATOR": GENERATORS,
    "RAGLINE_CHUNKING": CHUNKINGS,
    "RAGLINE_RETRIEVAL_MODE": RETRIEVAL_MODES,
    "RAGLINE_FUSION": FUSIONS,
    "RAGLINE_RERANKER": RERANKERS,
    "RAGLINE_AUDIT_QUESTIONS": AUDIT_QUESTIONS,
}
# What an allowed value needs beside it to make settings that work.
COMPANIONS = {
    ("RAGLINE_STORE", "opensearch"): {"RAGLINE_OPENSEARCH_URL": "https://search.example.com"},
    ("RAGLINE_GENERATOR", "openai"): {
        "RAGLINE_OPENAI_BASE_URL": "http://127.0.0.1:11434/v1",
        "RAGLINE_OPENAI_MODEL": "llama3.2",
    },
}
NUMBERS = [
    variable
    for variable, (name, _) in SETTINGS_VARIABLES.items()
    if isinstance(getattr(Settings(), name), (int, float))
]


def _refusal(env: dict[str, str]) -> str:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env(env)
    return str(refused.value)


def test_a_configuration_error_is_ragline_s_and_a_value_error():
    assert issubclass(ConfigurationError, RaglineError) and issubclass(ConfigurationError, ValueError)


def test_a_choice_that_does_not_exist_names_the_variable_the_value_and_the_choices():
    assert _refusal({"RAGLINE_FUSION": "typo"}) == "RAGLINE_FUSION='typo' is not one of: convex, rrf"


@pytest.mark.parametrize("variable", CHOICES)
def test_every_choice_refuses_a_value_it_does_not_have(variable):
    assert _refusal({variable: "structre"}) == f"{variable}='structre' is not one of: {', '.join(CHOICES[variable])}"


@pytest.mark.parametrize(
    ("variable", "value"), [(variable, value) for variable, values in CHOICES.items() for value in values]
)
def test_every_allowed_value_is_accepted(variable, value):
    settings = Settings.from_env({variable: value, **COMPANIONS.get((variable, value), {})})
    assert getattr(settings, SETTINGS_VARIABLES[variable][0]) == value


def test_the_defaults_are_accepted_and_an_empty_variable_counts_as_unset():
    assert Settings.from_env({"RAGLINE_EMBEDDER": "hash"}) == Settings()
    empty = dict.fromkeys(SETTINGS_VARIABLES, "")
    assert Settings.from_env(empty) == Settings.from_env({})


@pytest.mark.parametrize("variable", NUMBERS)
def test_every_number_refuses_a_value_that_is_not_one(variable):
    assert re.fullmatch(rf"{variable}='abc' is not a (whole )?number", _refusal({variable: "abc"}))


@pytest.mark.parametrize("variable", NUMBERS)
def test_every_number_has_a_range(variable):
    assert _refusal({variable: "-1"}).startswith((f"{variable}=-1 is out of range", f"{variable}=-1.0 is out of range"))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RAGLINE_TOP_K": "0"}, "RAGLINE_TOP_K=0 is out of range: must be from 1 to 20"),
        ({"RAGLINE_TOP_K": "21"}, "RAGLINE_TOP_K=21 is out of range: must be from 1 to 20"),
        ({"RAGLINE_SHORTLIST": "0"}, "RAGLINE_SHORTLIST=0 is out of range: must be at least 1"),
        ({"RAGLINE_EMBED_DIMENSIONS": "0"}, "RAGLINE_EMBED_DIMENSIONS=0 is out of range: must be at least 1"),
        ({"RAGLINE_CHUNK_TOKENS": "2.5"}, "RAGLINE_CHUNK_TOKENS='2.5' is not a whole number"),
        ({"RAGLINE_MMR_LAMBDA": "1.5"}, "RAGLINE_MMR_LAMBDA=1.5 is out of range: must be from 0 to 1"),
        ({"RAGLINE_MMR_LAMBDA": "nan"}, "RAGLINE_MMR_LAMBDA=nan is not a finite number"),
        (
            {"RAGLINE_AUDIT_RETENTION_DAYS": "0"},
            "RAGLINE_AUDIT_RETENTION_DAYS=0 is out of range: must be from 1 to 3650",
        ),
        ({"RAGLINE_DENSE_WEIGHT": "inf"}, "RAGLINE_DENSE_WEIGHT=inf is not a finite number"),
        (
            {"RAGLINE_DENSE_WEIGHT": "0", "RAGLINE_LEXICAL_WEIGHT": "0"},
            "RAGLINE_DENSE_WEIGHT and RAGLINE_LEXICAL_WEIGHT must not both be 0",
        ),
        (
            {"RAGLINE_INGEST_RESERVE_SECONDS": "900"},
            "RAGLINE_INGEST_RESERVE_SECONDS=900 is out of range: must be from 0 to 899",
        ),
        (
            {"RAGLINE_CHUNK_OVERLAP": "220"},
            "RAGLINE_CHUNK_OVERLAP=220 is out of range: must be at least 0 and below RAGLINE_CHUNK_TOKENS (220)",
        ),
        (
            {"RAGLINE_CHUNKING": "parent-child", "RAGLINE_PARENT_TOKENS": "200"},
            "RAGLINE_PARENT_TOKENS=200 is out of range: must be above RAGLINE_CHUNK_TOKENS (220) "
            "with RAGLINE_CHUNKING='parent-child'",
        ),
    ],
)
def test_a_number_out_of_range_names_the_variable_and_the_range(env, message):
    assert _refusal(env) == message


def test_edges_of_the_ranges_are_accepted():
    settings = Settings.from_env(
        {
            "RAGLINE_TOP_K": "20",
            "RAGLINE_MMR_LAMBDA": "0",
            "RAGLINE_DENSE_WEIGHT": "0",
            "RAGLINE_CHUNK_OVERLAP": "0",
            "RAGLINE_INGEST_RESERVE_SECONDS": "0",
            "RAGLINE_SHORTLIST": "1",
        }
    )
    assert (settings.top_k, settings.mmr_lambda, settings.dense_weight, settings.shortlist) == (20, 0.0, 0.0, 1)
    # The parent size matters to parent-child chunking only.
    assert Settings.from_env({"RAGLINE_PARENT_TOKENS": "100"}).parent_tokens == 100


def test_settings_made_in_code_are_checked_the_same_way():
    with pytest.raises(ConfigurationError, match=r"^RAGLINE_FUSION='typo' is not one of: convex, rrf$"):
        Settings(fusion="typo")
    with pytest.raises(ConfigurationError, match=r"^RAGLINE_SHORTLIST=0 is out of range"):
        dataclasses.replace(Settings(), shortlist=0)
    with pytest.raises(ConfigurationError, match=r"^RAGLINE_DEFAULT_ROLES: 'a b' is not a role name"):
        Settings(default_roles=("a b",))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RAGLINE_DEFAULT_ROLES": "finance, bad role"}, "RAGLINE_DEFAULT_ROLES: 'bad role' is not a role name"),
        ({"RAGLINE_DEFAULT_ROLES": "x" * 65}, "RAGLINE_DEFAULT_ROLES: 'xxx"),
        ({"RAGLINE_PREFIX_ROLES": '{"public/": ["every one"]}'}, "RAGLINE_PREFIX_ROLES: 'every one' is not a role"),
        ({"RAGLINE_PREFIX_ROLES": "not json"}, "RAGLINE_PREFIX_ROLES='not json' is not a JSON object of role lists"),
        ({"RAGLINE_PREFIX_ROLES": '{"public/": "everyone"}'}, 'RAGLINE_PREFIX_ROLES=\'{"public/": "everyone"}\' is'),
        ({"RAGLINE_PREFIX_ROLES": '["public/"]'}, "RAGLINE_PREFIX_ROLES='[\"public/\"]' is not a JSON object"),
        ({"RAGLINE_ADMIN_GROUP": "admin,finance"}, "RAGLINE_ADMIN_GROUP: 'admin,finance' is not a role name"),
    ],
)
def test_malformed_roles_are_refused(env, message):
    assert _refusal(env).startswith(message)


def test_role_lists_that_match_the_role_pattern_are_accepted():
    settings = Settings.from_env(
        {"RAGLINE_PREFIX_ROLES": '{"public/": ["everyone"], "vault/": []}', "RAGLINE_DEFAULT_ROLES": "staff, eu:hr"}
    )
    assert settings.prefix_roles == {"public/": ("everyone",), "vault/": ()}
    assert settings.default_roles == ("staff", "eu:hr")


def test_opensearch_needs_a_url_and_the_message_never_shows_one():
    assert _refusal({"RAGLINE_STORE": "opensearch"}) == "RAGLINE_STORE='opensearch' needs RAGLINE_OPENSEARCH_URL"
    message = _refusal({"RAGLINE_STORE": "opensearch", "RAGLINE_OPENSEARCH_URL": "search.example.com:hunter2"})
    assert message == "RAGLINE_OPENSEARCH_URL does not look like https://host[:port]"


OPENAI = {
    "RAGLINE_GENERATOR": "openai",
    "RAGLINE_OPENAI_BASE_URL": "http://127.0.0.1:11434/v1",
    "RAGLINE_OPENAI_MODEL": "llama3.2",
}


def test_an_openai_compatible_model_is_read_with_its_server_key_and_timeout():
    settings = Settings.from_env(
        {**OPENAI, "RAGLINE_OPENAI_API_KEY": "sk-test", "RAGLINE_OPENAI_TIMEOUT_SECONDS": "60"}
    )
    assert (settings.generator, settings.openai_base_url, settings.openai_model) == (
        "openai",
        "http://127.0.0.1:11434/v1",
        "llama3.2",
    )
    assert (settings.openai_api_key, settings.openai_timeout_seconds) == ("sk-test", 60.0)
    assert "sk-test" not in repr(settings)  # a printed or logged Settings shows no key
    assert Settings.from_env(OPENAI).openai_timeout_seconds == 20.0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"RAGLINE_GENERATOR": "openai"},
            "RAGLINE_GENERATOR='openai' needs RAGLINE_OPENAI_BASE_URL, the server's OpenAI API "
            "(e.g. http://127.0.0.1:11434/v1 for Ollama)",
        ),
        (
            {**OPENAI, "RAGLINE_OPENAI_MODEL": ""},
            "RAGLINE_GENERATOR='openai' needs RAGLINE_OPENAI_MODEL, the model's name on that server (e.g. llama3.2)",
        ),
        (
            {**OPENAI, "RAGLINE_OPENAI_API_KEY": "sk-test", "RAGLINE_OPENAI_API_KEY_SECRET": "ragline/openai"},
            "RAGLINE_OPENAI_API_KEY and RAGLINE_OPENAI_API_KEY_SECRET are both set: set one (the secret on AWS)",
        ),
        (
            {**OPENAI, "RAGLINE_OPENAI_TIMEOUT_SECONDS": "0.5"},
            "RAGLINE_OPENAI_TIMEOUT_SECONDS=0.5 is out of range: must be from 1 to 900",
        ),
    ],
)
def test_an_openai_generator_without_what_it_needs_fails_at_start_naming_the_setting(env, message):
    assert _refusal(env) == message


@pytest.mark.parametrize(
    "url",
    [
        "127.0.0.1:11434/v1",
        "ftp://models.example.com/v1",
        "http:///v1",
        "http://127.0.0.1:port/v1",
        "https://user:sk-secret@api.example.com/v1",
        "https://api.example.com/v1?key=sk-secret",
        "https://api.example.com/v1#chat",
    ],
)
def test_an_openai_base_url_must_be_an_http_url_and_is_not_shown(url):
    message = _refusal({**OPENAI, "RAGLINE_OPENAI_BASE_URL": url})
    assert message == (
        "RAGLINE_OPENAI_BASE_URL does not look like http(s)://host[:port][/path] (no user, password, query or "
        "fragment: a key goes in RAGLINE_OPENAI_API_KEY)"
    )


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080/v1", "https://api.openai.com/v1", "http://localhost:1234/v1/", "http://[::1]:8000/v1"],
)
def test_the_servers_that_speak_openais_api_are_accepted(url):
    assert Settings.from_env({**OPENAI, "RAGLINE_OPENAI_BASE_URL": url}).openai_base_url == url


def test_openai_settings_without_the_openai_generator_change_nothing():
    # A shell that keeps RAGLINE_OPENAI_* for the integration test runs every other configuration unchanged.
    assert Settings.from_env({"RAGLINE_OPENAI_BASE_URL": "not a url"}).generator == "extractive"


@pytest.mark.parametrize(
    ("variable", "message"),
    [
        ("RAGLINE_FUSON", "RAGLINE_FUSON is not a variable ragline reads (did you mean RAGLINE_FUSION?)"),
        ("RAGLINE_TOPK", "RAGLINE_TOPK is not a variable ragline reads (did you mean RAGLINE_TOP_K?)"),
        ("RAGLINE_QWERTYUIOP", "RAGLINE_QWERTYUIOP is not a variable ragline reads (the README lists every variable)"),
        ("RAGLINE_RERANK_DEPTH", "RAGLINE_RERANK_DEPTH was renamed to RAGLINE_SHORTLIST"),
    ],
)
def test_an_unknown_or_renamed_variable_is_refused_with_a_hint(variable, message):
    assert _refusal({variable: "1"}) == message


def test_every_unknown_variable_is_named_at_once():
    message = _refusal({"RAGLINE_RERANK_DEPTH": "30", "RAGLINE_FUSON": "rrf", "AWS_REGION": "eu-west-1"})
    assert message == (
        "RAGLINE_FUSON is not a variable ragline reads (did you mean RAGLINE_FUSION?); "
        "RAGLINE_RERANK_DEPTH was renamed to RAGLINE_SHORTLIST"
    )


def test_every_ragline_variable_the_code_reads_is_known():
    """A variable read anywhere (the CLI, the local stack, eval, benchmarks, tests) is not taken for a typo."""
    # Not settings.py, which defines the known names, nor the tests of misspelt names.
    skipped = {
        REPO / "shared/ragline/settings.py",
        Path(__file__).resolve(),
        REPO / "tests/component/test_fail_fast.py",
    }
    sources = [
        path
        for folder in ("shared", "functions", "infra", "benchmarks", "tests")
        for path in (REPO / folder).rglob("*.py")
        if path.resolve() not in skipped
    ]
    named = {name for path in sources for name in re.findall(r"\b(RAGLINE_[A-Z_]*[A-Z])\b", path.read_text())}
    assert named - KNOWN_VARIABLES <= set(RENAMED_VARIABLES)
    assert "RAGLINE_HOME" in named and "RAGLINE_FUNCTIONS_DIR" in named  # the search finds what it should
    assert Settings.from_env(dict.fromkeys(OTHER_VARIABLES, "somewhere")) == Settings.from_env({})


def test_reranking_without_a_reranker_is_refused_at_start() -> None:
    with pytest.raises(ConfigurationError, match="RAGLINE_RERANKER='none'"):
        Settings.from_env({"RAGLINE_RERANKER": "none", "RAGLINE_RETRIEVAL_MODE": "hybrid+rerank"})


@pytest.mark.parametrize(
    "origin", ["*", "https://*.example.com", "https://app.example.com/", "app.example.com", "ftp://x", "https://a.b/x"]
)
def test_a_cors_origin_must_be_one_origin(origin):
    assert _refusal({"RAGLINE_CORS_ORIGIN": origin}).startswith(f"RAGLINE_CORS_ORIGIN={origin!r} is not an origin")


def test_a_cors_origin_is_kept_as_given():
    assert (
        Settings.from_env({"RAGLINE_CORS_ORIGIN": "https://d1.cloudfront.net"}).cors_origin
        == "https://d1.cloudfront.net"
    )
    assert Settings.from_env({"RAGLINE_CORS_ORIGIN": "http://127.0.0.1:8080"}).cors_origin == "http://127.0.0.1:8080"
    assert Settings().cors_origin == ""


def test_policy_warnings_read_sensitive_prefixes_and_broad_roles():
    settings = Settings.from_env({"RAGLINE_SENSITIVE_PREFIXES": "hr/, legal/", "RAGLINE_BROAD_ROLES": "everyone,staff"})
    assert (settings.sensitive_prefixes, settings.broad_roles) == (("hr/", "legal/"), ("everyone", "staff"))
    assert _refusal({"RAGLINE_BROAD_ROLES": "every one"}).startswith("RAGLINE_BROAD_ROLES: 'every one' is not a role")
