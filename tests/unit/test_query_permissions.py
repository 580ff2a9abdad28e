"""Property: whatever the documents, roles and question, a caller never receives a forbidden chunk.

Runs the real query path (hash embedder, embedded store in memory, extractive generator) and checks both
the retrieved passages and the generated answer for any trace of a document outside the caller's roles,
explanations included (``"explain": true``): no forbidden document, no role the caller does not hold, and
explanations that are the same whatever hidden documents exist.
"""

from __future__ import annotations

import json
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragline.api_schema import PassageBody, SourceBody
from ragline.embedders.hashing import HashEmbedder
from ragline.generators.extractive import ExtractiveGenerator
from ragline.ids import chunk_id
from ragline.models import Chunk, ConversationTurn
from ragline.ports import VectorStore
from ragline.query import RETRIEVAL_MODES, QueryService, RetrievalConfig
from ragline.rerankers.proximity import ProximityReranker
from ragline.settings import FUSIONS, Fusion
from ragline.stores.sqlite import SqliteStore
from tests.conftest import examples

ROLES = ["finance", "research", "hr", "everyone", "legal"]
WORDS = "revenue cathode leave budget merger battery salary policy launch cycle".split()

role_sets = st.sets(st.sampled_from(ROLES), max_size=3)
documents = st.lists(
    st.tuples(role_sets, st.lists(st.sampled_from(WORDS), min_size=3, max_size=12)), min_size=1, max_size=8
)


def build(
    docs: list[tuple[set[str], list[str]]],
    mmr_lambda: float = 1.0,
    store: VectorStore | None = None,
    fusion: Fusion = "convex",
    candidates: int = 20,
) -> QueryService:
    embedder = HashEmbedder()
    store = store or SqliteStore(":memory:", embedder.dimension)
    add(store, embedder, docs, 0)
    # A shallow head (3) so that results come from the reranked, MMR-picked head and the fused tail alike.
    config = RetrievalConfig(candidates=candidates, shortlist=3, mmr_lambda=mmr_lambda, fusion=fusion)
    return QueryService(store, embedder, ExtractiveGenerator(), config, reranker=ProximityReranker())


def add(store: VectorStore, embedder: HashEmbedder, docs: list[tuple[set[str], list[str]]], first_number: int) -> None:
    """Index ``docs`` as documents doc{first_number:03d}, doc{first_number + 1:03d}, ..."""
    chunks = []
    for number, (roles, words) in enumerate(docs, first_number):
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
    for chunk in chunks:
        store.replace_document(chunk.doc_id, [chunk], embedder.embed_documents([chunk.indexed_text()]))


def explained(service: QueryService, question: str, roles: frozenset[str], top_k: int, mode: str) -> list[dict]:
    """``POST /retrieve`` with ``"explain": true``, as the caller receives it."""
    hits, explanations = service.retrieve_explained(question, roles, top_k, mode=mode)
    pairs = zip(hits, explanations, strict=True)
    return [SourceBody.of(n, hit, explanation).model_dump() for n, (hit, explanation) in enumerate(pairs, 1)]


def named(role: str, response: str) -> bool:
    """Whether a role name appears in the response as a word of its own."""
    return re.search(rf"(?<![\w-]){re.escape(role)}(?![\w-])", response) is not None


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
    explained_results = explained(service, question, caller_roles, top_k, mode)
    explained_answer = service.answer(question, caller_roles, top_k, mode=mode, explain_sources=True)
    cited = zip(explained_answer.cited_sources(), explained_answer.cited_explanations(), strict=True)
    related = zip(explained_answer.related(), explained_answer.related_explanations(), strict=True)
    follow_up = service.answer("and in it?", caller_roles, top_k, mode=mode, history=[ConversationTurn(question)])

    forbidden = [f"doc{n:03d}" for n, (roles, _) in enumerate(docs) if not roles & caller_roles]
    visible = len(docs) - len(forbidden)
    response = json.dumps(
        {
            "results": [SourceBody.of(n, hit).model_dump() for n, hit in enumerate(hits, 1)],
            "answer": result.answer.text,
            "citations": [SourceBody.of(n, hit).model_dump() for n, hit in result.cited_sources()],
            "explained_results": explained_results,
            "explained_citations": [SourceBody.of(n, hit, e).model_dump() for (n, hit), e in cited],
            "related": [PassageBody.related(hit).model_dump() for hit in result.related()],
            "explained_related": [PassageBody.related(hit, e).model_dump() for hit, e in related],
            "follow_up": follow_up.answer.text,
            "follow_up_citations": [SourceBody.of(n, hit).model_dump() for n, hit in follow_up.cited_sources()],
            "follow_up_related": [PassageBody.related(hit).model_dump() for hit in follow_up.related()],
        }
    )
    for doc_id in forbidden:
        assert doc_id not in response  # neither its marker, its id, its title nor its source
    for role in set(ROLES) - caller_roles:
        assert not named(role, response)  # explanations name only the caller's own roles
    assert [r["chunk_id"] for r in explained_results] == [hit.chunk.chunk_id for hit in hits]
    # A decline shows what was retrieved for the caller as related; an answer shows none.
    assert [hit.chunk.chunk_id for hit in result.related()] == (
        [] if result.answered else [h.chunk.chunk_id for h in result.sources]
    )
    # The filter runs inside the search: as many results as visible documents allow, up to top_k (k-NN
    # finds every visible chunk; BM25 only those sharing a word with the question).
    if mode == "bm25":
        assert len(hits) <= min(top_k, visible)
    else:
        assert len(hits) == min(top_k, visible)
    assert len({hit.chunk.chunk_id for hit in hits}) == len(hits)  # and never one twice


@settings(max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    documents,
    documents,
    role_sets.filter(bool),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=4),
    st.integers(1, 6),
    st.sampled_from(RETRIEVAL_MODES),
    st.sampled_from([1.0, 0.5, 0.0]),
    st.sampled_from(FUSIONS),
)
def test_explanations_are_the_same_whatever_hidden_documents_exist(
    docs, hidden, caller, question_words, top_k, mode, mmr_lambda, fusion
):
    """The caller's explanations on a corpus, and on the same corpus with documents it may not see added:
    identical, ranks and scores included, in every mode, on the embedded store itself. Every rank and score
    is computed from the caller's own lists, and the store's BM25 counts its statistics over the caller's
    visible chunks only (docs/security.md, "BM25 statistics").
    """
    caller_roles = frozenset(caller)
    hidden = [(roles - caller_roles, words) for roles, words in hidden]  # nobody, or others only
    visible = [(roles, words) for roles, words in docs if roles & caller_roles]
    question = " ".join(question_words) + "?"

    def explain_on(corpus_hidden: list[tuple[set[str], list[str]]]) -> list[dict]:
        embedder = HashEmbedder()
        store = SqliteStore(":memory:", embedder.dimension)
        # Hidden documents before and after the visible ones, so that no position can pass for theirs.
        add(store, embedder, corpus_hidden[::2], 500)
        # Fewer candidates than documents: each search must pick its best among the visible ones.
        service = build(visible, mmr_lambda, store, fusion, candidates=3)
        add(store, embedder, corpus_hidden[1::2], 700)
        return explained(service, question, caller_roles, top_k, mode)

    without_hidden = explain_on([])
    assert explain_on(hidden) == without_hidden
