"""Settings from the environment: the defaults are the best measured local configuration."""

from __future__ import annotations

import pytest

from ragline.factory import build_reranker
from ragline.settings import Settings


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
