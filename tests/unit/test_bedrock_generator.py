"""BedrockGenerator against a stubbed bedrock-runtime client: the exact Converse request, the answer, retries."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from ragline.errors import TransientError
from ragline.generators.bedrock import BedrockGenerator, answer_text
from ragline.generators.prompt import NO_ANSWER, SYSTEM_PROMPT, build_prompt
from ragline.models import Answer, Chunk, SearchHit
from ragline.retry import RetryPolicy
from tests.fixtures.doubles import SleepRecorder

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
QUESTION = "How many days of annual leave do staff get?"


def hit(text: str, n: int) -> SearchHit:
    return SearchHit(Chunk(f"c{n}", f"d{n}", "v1", text, f"s3://b/{n}.md", f"Doc {n}", ("staff",), n), 1.0 / n)


SOURCES = [
    hit("Staff get 25 days of annual leave per year.", 1),
    hit("Leave requests are approved by your manager.", 2),
]


def converse_response(*texts: str, input_tokens: int = 120, output_tokens: int = 12) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": t} for t in texts]}},
        "stopReason": "end_turn",
        "usage": {
            "inputTokens": input_tokens,
            "outputTokens": output_tokens,
            "totalTokens": input_tokens + output_tokens,
        },
        "metrics": {"latencyMs": 250},
    }


def expected_request(
    question: str, sources: list[SearchHit], max_tokens: int = 512, max_prompt_tokens: int = 3000
) -> dict[str, Any]:
    user = build_prompt(question, sources, max_tokens=max_prompt_tokens).user
    return {
        "modelId": MODEL,
        "system": [{"text": SYSTEM_PROMPT}],
        "messages": [{"role": "user", "content": [{"text": user}]}],
        "inferenceConfig": {"maxTokens": max_tokens, "temperature": 0.0},
    }


@pytest.fixture
def client():
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_sends_the_exact_converse_request_and_parses_the_answer(client, stubber):
    stubber.add_response(
        "converse",
        converse_response("Staff get 25 days of annual leave [1], approved by their manager [2]."),
        expected_request(QUESTION, SOURCES, max_tokens=256),
    )
    generator = BedrockGenerator(client, MODEL, max_tokens=256)

    answer = generator.generate(QUESTION, SOURCES)

    assert answer == Answer(
        "Staff get 25 days of annual leave [1], approved by their manager [2].", cited=[1, 2], model=MODEL
    )
    assert generator.name == f"bedrock:{MODEL}"
    assert (generator.input_tokens, generator.output_tokens) == (120, 12)


def test_the_user_message_fences_the_sources(client, stubber):
    request = expected_request(QUESTION, SOURCES)
    user = request["messages"][0]["content"][0]["text"]
    assert '<source id="1" title="Doc 1">\nStaff get 25 days of annual leave per year.\n</source>' in user
    assert '<source id="2" title="Doc 2">' in user
    stubber.add_response("converse", converse_response("25 days [1]."), request)

    assert BedrockGenerator(client, MODEL).generate(QUESTION, SOURCES).cited == [1]


def test_text_blocks_are_joined_and_citations_out_of_range_dropped(client, stubber):
    stubber.add_response("converse", converse_response("25 days [1][7].", " Ask your manager [2]. "))

    answer = BedrockGenerator(client, MODEL).generate(QUESTION, SOURCES)

    assert answer.text == "25 days [1][7].\nAsk your manager [2]."
    assert answer.cited == [1, 2]


def test_citations_of_sources_left_out_of_the_prompt_are_dropped(client, stubber):
    sources = [hit("alpha " * 50, 1), hit("beta " * 50, 2)]
    stubber.add_response(
        "converse",
        converse_response("Alpha [1], beta [2]."),
        expected_request(QUESTION, sources, max_prompt_tokens=120),
    )
    generator = BedrockGenerator(client, MODEL, max_prompt_tokens=120)

    answer = generator.generate(QUESTION, sources)

    assert answer.cited == [1]  # source 2 did not fit the budget, so the model never saw it


def test_no_sources_declines_without_calling_the_model(client, stubber):
    answer = BedrockGenerator(client, MODEL).generate(QUESTION, [])

    assert answer == Answer(NO_ANSWER, cited=[], model=MODEL)  # an unexpected call would raise in the stubber


def test_an_empty_reply_declines(client, stubber):
    stubber.add_response("converse", converse_response())

    assert BedrockGenerator(client, MODEL).generate(QUESTION, SOURCES).text == NO_ANSWER


@pytest.mark.parametrize(
    "reply",
    [NO_ANSWER, f'"{NO_ANSWER}"', NO_ANSWER.rstrip("."), f"**{NO_ANSWER.upper()}**", f"\u201c{NO_ANSWER}\u201d [1]"],
)
def test_the_decline_sentence_however_wrapped_declines_and_cites_nothing(client, stubber, reply):
    stubber.add_response("converse", converse_response(reply), expected_request(QUESTION, SOURCES))

    answer = BedrockGenerator(client, MODEL).generate(QUESTION, SOURCES)

    assert answer == Answer(NO_ANSWER, cited=[], model=MODEL) and answer.declined


def test_an_answer_that_mentions_the_decline_sentence_is_an_answer(client, stubber):
    reply = f"Staff get 25 days [1]. {NO_ANSWER}"
    stubber.add_response("converse", converse_response(reply), expected_request(QUESTION, SOURCES))

    answer = BedrockGenerator(client, MODEL).generate(QUESTION, SOURCES)

    assert (answer.text, answer.cited, answer.declined) == (reply, [1], False)


def test_complete_is_one_chat_turn_on_the_same_model(client, stubber):
    stubber.add_response(
        "converse",
        converse_response(" How many engineers in Q4? ", input_tokens=40, output_tokens=8),
        {
            "modelId": MODEL,
            "system": [{"text": "rewrite"}],
            "messages": [{"role": "user", "content": [{"text": "and in Q4?"}]}],
            "inferenceConfig": {"maxTokens": 512, "temperature": 0.0},
        },
    )
    generator = BedrockGenerator(client, MODEL)

    assert generator.complete("rewrite", "and in Q4?") == "How many engineers in Q4?"
    assert (generator.input_tokens, generator.output_tokens) == (40, 8)


def test_throttling_twice_then_success(client, stubber):
    request = expected_request(QUESTION, SOURCES)
    for _ in range(2):
        stubber.add_client_error("converse", "ThrottlingException", "Too many requests", 429, expected_params=request)
    stubber.add_response("converse", converse_response("25 days [1]."), request)
    sleep = SleepRecorder()

    answer = BedrockGenerator(client, MODEL, retry=RetryPolicy(base_delay=0.5, sleep=sleep)).generate(QUESTION, SOURCES)

    assert answer.cited == [1]
    assert len(sleep.delays) == 2
    assert 0 <= sleep.delays[0] <= 0.5 and 0 <= sleep.delays[1] <= 1.0


def test_throttling_past_max_retries_raises_transient_error(client, stubber):
    for _ in range(4):
        stubber.add_client_error("converse", "ThrottlingException", "Too many requests", 429)
    sleep = SleepRecorder()

    with pytest.raises(TransientError) as info:
        BedrockGenerator(client, MODEL, retry=RetryPolicy(attempts=4, sleep=sleep)).generate(QUESTION, SOURCES)

    assert MODEL in str(info.value) and "ThrottlingException" in str(info.value)
    assert isinstance(info.value.__cause__, ClientError)
    assert len(sleep.delays) == 3


def test_validation_error_is_not_retried(client, stubber):
    stubber.add_client_error("converse", "ValidationException", "bad model id", 400)
    sleep = SleepRecorder()

    with pytest.raises(ClientError) as info:
        BedrockGenerator(client, MODEL, retry=RetryPolicy(sleep=sleep)).generate(QUESTION, SOURCES)

    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert sleep.delays == []


def test_answer_text_skips_non_text_blocks():
    response = {"output": {"message": {"content": [{"reasoningContent": {}}, {"text": "Yes [1]."}]}}}
    assert answer_text(response) == "Yes [1]."
