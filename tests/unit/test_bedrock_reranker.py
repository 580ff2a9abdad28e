"""BedrockReranker against a stubbed bedrock-agent-runtime client: exact Rerank requests, order, retries."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from ragline.errors import TransientError
from ragline.models import Chunk, SearchHit
from ragline.rerankers.bedrock import (
    MAX_SOURCES,
    MAX_TEXT_CHARS,
    BedrockReranker,
    RerankShapeError,
    model_arn,
)
from ragline.retry import RetryPolicy
from tests.fixtures.doubles import SleepRecorder

AMAZON = "amazon.rerank-v1:0"
COHERE = "cohere.rerank-v3-5:0"
QUESTION = "who approves parental leave?"


def make_client(region: str = "us-east-1") -> Any:
    return boto3.client(
        "bedrock-agent-runtime",
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def client():
    return make_client("us-east-1")


def chunk(i: int, text: str, title: str = "Handbook", heading_path: tuple[str, ...] = ()) -> Chunk:
    return Chunk(
        chunk_id=f"c{i}",
        doc_id="doc",
        version="v1",
        text=text,
        source="s3://bucket/handbook.pdf",
        title=title,
        roles=("staff",),
        position=i,
        heading_path=heading_path,
    )


def hit(i: int, text: str, score: float = 0.0, **kwargs: Any) -> SearchHit:
    return SearchHit(chunk=chunk(i, text, **kwargs), score=score)


def request(
    texts: list[str], n: int, model_id: str = COHERE, region: str = "us-east-1", question: str = QUESTION
) -> dict[str, Any]:
    """The exact ``rerank`` parameters expected, spelled out (not built with the code under test)."""
    return {
        "queries": [{"type": "TEXT", "textQuery": {"text": question}}],
        "sources": [
            {"type": "INLINE", "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": text}}}
            for text in texts
        ],
        "rerankingConfiguration": {
            "type": "BEDROCK_RERANKING_MODEL",
            "bedrockRerankingConfiguration": {
                "numberOfResults": n,
                "modelConfiguration": {"modelArn": f"arn:aws:bedrock:{region}::foundation-model/{model_id}"},
            },
        },
    }


def results(*pairs: tuple[int, float], next_token: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"results": [{"index": i, "relevanceScore": s} for i, s in pairs]}
    if next_token:
        response["nextToken"] = next_token
    return response


HITS = [
    hit(0, "Expense reports are due monthly.", 0.9),
    hit(1, "Managers approve parental leave within five days.", 0.5, heading_path=("Leave", "Parental")),
    hit(2, "The office opens at nine.", 0.4),
]
TEXTS = [
    "Handbook\nExpense reports are due monthly.",
    "Handbook > Leave > Parental\nManagers approve parental leave within five days.",
    "Handbook\nThe office opens at nine.",
]


# -- requests and results ------------------------------------------------------------------------------


def test_cohere_request_is_exact_and_hits_come_back_reordered_with_bedrock_scores(client, stubber):
    stubber.add_response("rerank", results((1, 0.93), (0, 0.12), (2, 0.01)), request(TEXTS, 3, COHERE))
    reranker = BedrockReranker(client, COHERE, region="us-east-1")

    ranked = reranker.rerank(QUESTION, HITS, top_n=3)

    assert [h.chunk.chunk_id for h in ranked] == ["c1", "c0", "c2"]
    assert [h.score for h in ranked] == pytest.approx([0.93, 0.12, 0.01])
    assert ranked[0].chunk is HITS[1].chunk  # the same chunk, only the score changes
    assert reranker.name == "bedrock:cohere.rerank-v3-5:0"


def test_amazon_request_is_exact_with_the_region_in_the_model_arn():
    client = make_client("us-west-2")  # Amazon Rerank 1.0 is not offered in us-east-1
    with Stubber(client) as stub:
        stub.add_response("rerank", results((2, 0.7), (1, 0.6)), request(TEXTS, 2, AMAZON, region="us-west-2"))
        reranker = BedrockReranker(client, AMAZON, region="us-west-2")

        ranked = reranker.rerank(QUESTION, HITS, top_n=2)

        stub.assert_no_pending_responses()
    assert [(h.chunk.chunk_id, h.score) for h in ranked] == [("c2", pytest.approx(0.7)), ("c1", pytest.approx(0.6))]
    assert reranker.name == "bedrock:amazon.rerank-v1:0"
    assert reranker.model_arn == "arn:aws:bedrock:us-west-2::foundation-model/amazon.rerank-v1:0"


def test_defaults_are_amazon_rerank_in_us_east_1(client, stubber):
    stubber.add_response("rerank", results((0, 0.5)), request(TEXTS[:1], 1, AMAZON, region="us-east-1"))
    reranker = BedrockReranker(client)

    assert reranker.rerank(QUESTION, HITS[:1], top_n=5) == [SearchHit(HITS[0].chunk, 0.5)]
    assert reranker.max_documents == MAX_SOURCES == 1000


def test_top_n_sets_number_of_results_and_caps_the_output(client, stubber):
    # A service that ignores numberOfResults must still not make us return more than top_n.
    stubber.add_response("rerank", results((2, 0.8), (0, 0.3), (1, 0.2)), request(TEXTS, 1))

    ranked = BedrockReranker(client, COHERE).rerank(QUESTION, HITS, top_n=1)

    assert [(h.chunk.chunk_id, h.score) for h in ranked] == [("c2", pytest.approx(0.8))]


def test_top_n_above_the_hit_count_asks_for_every_hit(client, stubber):
    stubber.add_response("rerank", results((1, 0.9), (0, 0.4), (2, 0.1)), request(TEXTS, 3))

    ranked = BedrockReranker(client, COHERE).rerank(QUESTION, HITS, top_n=10)

    assert len(ranked) == 3


def test_results_are_sorted_by_score_even_if_the_api_does_not(client, stubber):
    stubber.add_response("rerank", results((0, 0.1), (2, 0.9), (1, 0.5)), request(TEXTS, 3))

    ranked = BedrockReranker(client, COHERE).rerank(QUESTION, HITS, top_n=3)

    assert [h.chunk.chunk_id for h in ranked] == ["c2", "c1", "c0"]


def test_empty_hits_and_zero_top_n_make_no_request(client, stubber):
    reranker = BedrockReranker(client, COHERE)

    # No response is stubbed: any call would raise botocore's UnStubbedResponseError.
    assert reranker.rerank(QUESTION, [], top_n=5) == []
    assert reranker.rerank(QUESTION, HITS, top_n=0) == []


def test_blank_question_is_rejected_before_any_request(client, stubber):
    with pytest.raises(ValueError, match="question must not be blank"):
        BedrockReranker(client, COHERE).rerank("  ", HITS, top_n=3)


# -- text sent -----------------------------------------------------------------------------------------


def test_long_passage_and_question_are_cut_to_the_api_limit(client, stubber):
    long_hit = hit(0, "leave " * 7000, title="")  # 42,000 characters, no title prefix
    long_question = "q" * 40_000
    sent = ("leave " * 7000)[:MAX_TEXT_CHARS]
    stubber.add_response(
        "rerank",
        results((0, 0.42)),
        request([sent], 1, question="q" * MAX_TEXT_CHARS),
    )

    ranked = BedrockReranker(client, COHERE).rerank(long_question, [long_hit], top_n=1)

    assert MAX_TEXT_CHARS == 32_000
    assert len(sent) == 32_000
    assert ranked == [SearchHit(long_hit.chunk, 0.42)]


def test_indexed_text_with_title_and_headings_is_what_the_reranker_reads(client, stubber):
    h = hit(0, "Five days.", title="Leave policy", heading_path=("Leave policy", "Approvals"))
    stubber.add_response("rerank", results((0, 0.6)), request(["Leave policy > Approvals\nFive days."], 1))

    ranked = BedrockReranker(client, COHERE).rerank(QUESTION, [h], top_n=1)

    assert ranked[0].chunk.text == "Five days."


def test_blank_passages_are_not_sent_and_indexes_map_to_the_rest(client, stubber):
    blank = hit(9, "   ", title="")
    stubber.add_response("rerank", results((1, 0.9), (0, 0.2)), request([TEXTS[0], TEXTS[1]], 2))

    ranked = BedrockReranker(client, COHERE).rerank(QUESTION, [HITS[0], blank, HITS[1]], top_n=5)

    assert [h.chunk.chunk_id for h in ranked] == ["c1", "c0"]


def test_only_the_first_max_documents_hits_are_sent(client, stubber):
    stubber.add_response("rerank", results((1, 0.9), (0, 0.1)), request(TEXTS[:2], 2))

    ranked = BedrockReranker(client, COHERE, max_documents=2).rerank(QUESTION, HITS, top_n=3)

    assert [h.chunk.chunk_id for h in ranked] == ["c1", "c0"]


# -- pagination ----------------------------------------------------------------------------------------


def test_next_token_pages_are_fetched_with_the_same_request(client, stubber):
    first = request(TEXTS, 3)
    stubber.add_response("rerank", results((1, 0.9), next_token="page-2"), first)
    stubber.add_response("rerank", results((2, 0.5), (0, 0.3)), {**request(TEXTS, 3), "nextToken": "page-2"})

    ranked = BedrockReranker(client, COHERE).rerank(QUESTION, HITS, top_n=3)

    assert [(h.chunk.chunk_id, h.score) for h in ranked] == [
        ("c1", pytest.approx(0.9)),
        ("c2", pytest.approx(0.5)),
        ("c0", pytest.approx(0.3)),
    ]


def test_no_further_page_is_fetched_once_top_n_results_are_in(client, stubber):
    stubber.add_response("rerank", results((1, 0.9), (2, 0.5), next_token="more"), request(TEXTS, 2))

    ranked = BedrockReranker(client, COHERE).rerank(QUESTION, HITS, top_n=2)

    assert [h.chunk.chunk_id for h in ranked] == ["c1", "c2"]


def test_a_repeated_token_ends_paging_instead_of_looping(client, stubber):
    stubber.add_response("rerank", results((1, 0.9), next_token="same"), request(TEXTS, 3))
    stubber.add_response("rerank", results((0, 0.4), next_token="same"), {**request(TEXTS, 3), "nextToken": "same"})

    ranked = BedrockReranker(client, COHERE).rerank(QUESTION, HITS, top_n=3)

    assert [h.chunk.chunk_id for h in ranked] == ["c1", "c0"]


# -- malformed answers ---------------------------------------------------------------------------------


def test_an_index_outside_the_sources_is_a_clear_error(client, stubber):
    stubber.add_response("rerank", results((7, 0.9)), request(TEXTS, 3))

    with pytest.raises(RerankShapeError, match="index 7 for 3 passages"):
        BedrockReranker(client, COHERE).rerank(QUESTION, HITS, top_n=3)


# -- retries -------------------------------------------------------------------------------------------


def test_throttling_twice_then_success_backs_off_with_jitter(client, stubber):
    for _ in range(2):
        stubber.add_client_error(
            "rerank", "ThrottlingException", "Too many requests", 429, expected_params=request(TEXTS, 3)
        )
    stubber.add_response("rerank", results((1, 0.9), (0, 0.5), (2, 0.1)), request(TEXTS, 3))
    sleep = SleepRecorder()

    ranked = BedrockReranker(client, COHERE, retry=RetryPolicy(base_delay=0.2, sleep=sleep)).rerank(
        QUESTION, HITS, top_n=3
    )

    assert [h.chunk.chunk_id for h in ranked] == ["c1", "c0", "c2"]
    assert len(sleep.delays) == 2
    assert 0 <= sleep.delays[0] <= 0.2  # full jitter: uniform in [0, base * 2**0]
    assert 0 <= sleep.delays[1] <= 0.4  # ... then [0, base * 2**1]


def test_throttling_past_max_retries_raises_transient_error(client, stubber):
    for _ in range(3):
        stubber.add_client_error("rerank", "ThrottlingException", "Too many requests", 429)
    sleep = SleepRecorder()

    with pytest.raises(TransientError) as info:
        BedrockReranker(client, COHERE, retry=RetryPolicy(attempts=3, sleep=sleep)).rerank(QUESTION, HITS, top_n=3)

    assert "Bedrock Rerank on cohere.rerank-v3-5:0" in str(info.value)
    assert "ThrottlingException" in str(info.value)
    assert "3 attempts" in str(info.value)
    assert isinstance(info.value.__cause__, ClientError)
    assert len(sleep.delays) == 2


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("InternalServerException", 500),
        ("BadGatewayException", 502),
        ("ServiceQuotaExceededException", 400),  # "Resubmit your request later"
    ],
)
def test_transient_rerank_errors_are_retried(client, stubber, code, status):
    stubber.add_client_error("rerank", code, "try later", status)
    stubber.add_response("rerank", results((0, 0.5)), request(TEXTS[:1], 1))
    sleep = SleepRecorder()

    ranked = BedrockReranker(client, COHERE, retry=RetryPolicy(sleep=sleep)).rerank(QUESTION, HITS[:1], top_n=1)

    assert ranked == [SearchHit(HITS[0].chunk, 0.5)]
    assert len(sleep.delays) == 1


@pytest.mark.parametrize(
    ("code", "status"),
    [("ValidationException", 400), ("AccessDeniedException", 403), ("ResourceNotFoundException", 404)],
)
def test_client_errors_propagate_at_once(client, stubber, code, status):
    stubber.add_client_error("rerank", code, "no", status)
    sleep = SleepRecorder()

    with pytest.raises(ClientError) as info:
        BedrockReranker(client, COHERE, retry=RetryPolicy(sleep=sleep)).rerank(QUESTION, HITS, top_n=3)

    assert info.value.response["Error"]["Code"] == code
    assert not isinstance(info.value, TransientError)
    assert sleep.delays == []


# -- configuration -------------------------------------------------------------------------------------


@pytest.mark.parametrize("max_documents", [0, MAX_SOURCES + 1])
def test_max_documents_must_fit_the_api(client, max_documents):
    with pytest.raises(ValueError, match="max_documents must be between 1 and 1000"):
        BedrockReranker(client, COHERE, max_documents=max_documents)


def test_a_client_without_rerank_is_refused(client):
    runtime = boto3.client("bedrock-runtime", region_name="us-east-1")  # the wrong service

    with pytest.raises(TypeError, match="bedrock-agent-runtime"):
        BedrockReranker(runtime, COHERE)


@pytest.mark.parametrize(
    ("model_id", "region", "arn"),
    [
        (COHERE, "eu-central-1", "arn:aws:bedrock:eu-central-1::foundation-model/cohere.rerank-v3-5:0"),
        (AMAZON, "cn-north-1", "arn:aws-cn:bedrock:cn-north-1::foundation-model/amazon.rerank-v1:0"),
        (
            "arn:aws:bedrock:us-west-2::foundation-model/amazon.rerank-v1:0",
            "us-east-1",
            "arn:aws:bedrock:us-west-2::foundation-model/amazon.rerank-v1:0",
        ),
    ],
)
def test_model_arn(model_id, region, arn):
    assert model_arn(model_id, region) == arn
