"""Property: whatever the documents, roles and question, a caller never receives a forbidden chunk.

Runs the real query path (hash embedder, embedded store in memory, extractive generator) and checks both
the retrieved passages and the generated answer for any trace of a document outside the caller's roles.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragline.api_schema import SourceBody
from ragline.embedders.hashing import HashEmbedder
from ragline.generators.extractive import ExtractiveGenerator
from ragline.ids import chunk_id
from ragline.models import Chunk
from ragline.query import RETRIEVAL_MODES, QueryService, RetrievalConfig
from ragline.rerankers.proximity import ProximityReranker
from ragline.stores.sqlite import SqliteStore
from tests.conftest import examples

ROLES = ["finance", "research", "hr", "everyone", "legal"]
WORDS = "revenue cathode leave budget merger battery salary policy launch cycle".split()

role_sets = st.sets(st.sampled_from(ROLES), max_size=3)
documents = st.lists(
    st.tuples(role_sets, st.lists(st.sampled_from(WORDS), min_size=3, max_size=12)), min_size=1, max_size=8
)


def build(docs: list[tuple[set[str], list[str]]], mmr_lambda: float = 1.0) -> QueryService:
    embedder = HashEmbedder()
    store = SqliteStore(":memory:", embedder.dimension)
    chunks = []
    for number, (roles, words) in enumerate(docs):
        doc_id = f"doc{number:03d}"
        # Every document carries a unique marker word, so any leak of its text shows in the response.
        text = f"Marker{doc_id} says " + " ".join(words) + f". The {words[0]} is {words[-1]}."
        chunks.append(
            Chunk(
                chunk_id(doc_id, "v1", 0),
                doc_id,
                "v1",
                text,
                f"s3://b/{doc_id}.md",
                f"Title{doc_id}",
                tuple(sorted(roles)),
                0,
            )
        )
    store.upsert(chunks, embedder.embed_documents([c.indexed_text() for c in chunks]))
    # A shallow head (3) so that results come from the reranked, MMR-picked head and the fused tail alike.
    config = RetrievalConfig(candidates=20, shortlist=3, mmr_lambda=mmr_lambda)
    return QueryService(store, embedder, ExtractiveGenerator(), config, reranker=ProximityReranker())


@settings(max_examples=examples(120), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    documents,
    role_sets,
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=4),
    st.integers(1, 20),
    st.sampled_from(RETRIEVAL_MODES),
    st.sampled_from([1.0, 0.5, 0.0]),
)
def test_no_response_carries_a_forbidden_document(docs, caller, question_words, top_k, mode, mmr_lambda):
    caller_roles = frozenset(caller)
    service = build(docs, mmr_lambda)
    question = " ".join(question_words) + "?"
    hits = service.retrieve(question, caller_roles, top_k, mode=mode)
    result = service.answer(question, caller_roles, top_k, mode=mode)

    forbidden = [f"doc{n:03d}" for n, (roles, _) in enumerate(docs) if not roles & caller_roles]
    visible = len(docs) - len(forbidden)
    response = json.dumps(
        {
            "results": [SourceBody.of(n, hit).model_dump() for n, hit in enumerate(hits, 1)],
            "answer": result.answer.text,
            "citations": [SourceBody.of(n, hit).model_dump() for n, hit in result.cited_sources()],
        }
    )
    for doc_id in forbidden:
        assert doc_id not in response  # neither its marker, its id, its title nor its source
    # The filter runs inside the search: as many results as visible documents allow, up to top_k (k-NN
    # finds every visible chunk; BM25 only those sharing a word with the question).
    if mode == "bm25":
        assert len(hits) <= min(top_k, visible)
    else:
        assert len(hits) == min(top_k, visible)
    assert len({hit.chunk.chunk_id for hit in hits}) == len(hits)  # and never one twice
