"""``ragline eval --answers``: score the answer step on a dataset with gold answers, through the production code.

The dataset is a BEIR folder (:mod:`ragline.evaluation.beir`) with an ``answers.jsonl`` beside it, one
object per question: ``_id``, ``is_impossible`` (SQuAD 2.0's unanswerable questions), ``answers`` (the
gold answer strings), ``spans`` and ``context_id`` (the paragraph it was written from). Asked are the
answerable questions judged in ``qrels/test.tsv``, as retrieval evaluates them, and the unanswerable ones
that ``queries.jsonl`` holds (no qrels can judge a question without an answer). The corpus is indexed as
:func:`ragline.evaluation.runner.evaluate` indexes it, and each question goes through
:meth:`ragline.query.QueryService.answer` as the query function calls it: the settings' retrieval
configuration and ``top_k``, the configured generator (by default the extractive one).

Scores, SQuAD's definitions (Rajpurkar et al., 2016 and 2018) on the answer's text without its ``[n]``
markers, each the best over a question's gold answers:

- *exact match*: the normalised answer equals a normalised gold answer (:func:`normalize_answer`: lower
  case, no punctuation, no articles, whitespace collapsed);
- *token F1*: the harmonic mean of precision and recall of the answer's normalised tokens against the
  gold answer's (:func:`token_f1`);
- *contains the answer*: the normalised gold answer stands in the normalised answer, as whole words
  (:func:`contains_answer`): a cited answer is sentences, not a span, and this is what a reader of it
  needs.

Over the answerable questions a decline scores 0 on all three (as SQuAD 2.0 scores a no-answer); the
report also gives them over the questions answered. Of the unanswerable questions only the share declined
counts. A decline is what the API calls one (:attr:`ragline.models.Answer.declined`, ``answered: false``).

    >>> report = evaluate_answers("../shared/data/squad2-dev", "hybrid+rerank", limit=50)  # doctest: +SKIP
    >>> report.to_dict()["answerable"]["contains_answer"]  # doctest: +SKIP
    0.62
"""

from __future__ import annotations

import collections
import re
import statistics
import string
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ragline.evaluation.beir import (
    Half,
    check_bounds,
    dataset_folder,
    half_of,
    id_order,
    json_lines,
    keep_docs,
    read_corpus,
    read_qrels,
    read_queries,
)
from ragline.evaluation.runner import EVAL_ROLE, StageClock, indexed_corpus, latency_summary, progress_bar, reranker_for
from ragline.models import Answer
from ragline.ports import Embedder, Generator, Reranker
from ragline.settings import EmbedderName, RetrievalMode, Settings

__all__ = [
    "AnswerReport",
    "GoldQuestion",
    "QuestionScore",
    "answer_text",
    "contains_answer",
    "evaluate_answers",
    "exact_match",
    "format_answer_report",
    "load_questions",
    "normalize_answer",
    "score_answer",
    "token_f1",
]

ANSWERS_FILE = "answers.jsonl"

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_MARKERS = re.compile(r"\s*\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]")


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, punctuation removed, articles removed, whitespace collapsed.

    >>> normalize_answer("The  Norman conquest, of England!")
    'norman conquest of england'
    """
    text = "".join(character for character in text.lower() if character not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD's token F1 of two texts, after :func:`normalize_answer`; 1 when both are empty, 0 when one is.

    >>> round(token_f1("in the 10th century", "10th and 11th centuries"), 4)
    0.2857
    """
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not predicted or not expected:
        return float(predicted == expected)
    overlap = sum((collections.Counter(predicted) & collections.Counter(expected)).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(predicted), overlap / len(expected)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, gold: str) -> bool:
    """The two texts are equal after :func:`normalize_answer`.

    >>> exact_match("the Normans.", "Normans")
    True
    """
    return normalize_answer(prediction) == normalize_answer(gold)


def contains_answer(prediction: str, gold: str) -> bool:
    """The normalised gold answer stands in the normalised prediction as whole words ("10" is not in
    "100"); a gold answer that normalises to nothing is contained only in a prediction that does too.

    >>> contains_answer("Normandy is in France. [1]", "France"), contains_answer("In 1100.", "10")
    (True, False)
    """
    expected, predicted = normalize_answer(gold), normalize_answer(prediction)
    if not expected:
        return not predicted
    return f" {expected} " in f" {predicted} "


def answer_text(answer: Answer) -> str:
    """The answer's text without its citation markers (``[1]``, ``[1, 2]``), as it is scored.

    >>> answer_text(Answer("Paris [1]. It is large [1, 2].", cited=[1, 2]))
    'Paris. It is large.'
    """
    return _MARKERS.sub("", answer.text).strip()


@dataclass(frozen=True)
class GoldQuestion:
    """A question of ``answers.jsonl`` with its text from ``queries.jsonl``."""

    id: str
    text: str
    answers: tuple[str, ...]  # empty when impossible
    impossible: bool
    context_id: str  # the corpus document the question was written from


@dataclass(frozen=True)
class QuestionScore:
    """How the answer to one question scored (the three scores are 0 for a decline and when impossible)."""

    question_id: str
    impossible: bool
    declined: bool
    exact: bool
    contains: bool
    f1: float
    words: int  # the length of the answer's text, in words
    context_retrieved: bool  # the question's own paragraph is among the sources the generator read


def score_answer(question: GoldQuestion, answer: Answer, context_retrieved: bool = False) -> QuestionScore:
    """Score ``answer`` against the question's gold answers (best over them).

    >>> gold = GoldQuestion("q1", "Where is Normandy?", ("France",), False, "Normans_0")
    >>> score = score_answer(gold, Answer("Normandy is a region of France. [1]", cited=[1]))
    >>> score.declined, score.contains, score.exact, round(score.f1, 2), score.words
    (False, True, False, 0.33, 6)
    """
    declined = answer.declined
    text = "" if declined else answer_text(answer)
    golds = question.answers if not (declined or question.impossible) else ()
    return QuestionScore(
        question_id=question.id,
        impossible=question.impossible,
        declined=declined,
        exact=any(exact_match(text, gold) for gold in golds),
        contains=any(contains_answer(text, gold) for gold in golds),
        f1=max((token_f1(text, gold) for gold in golds), default=0.0),
        words=len(text.split()),
        context_retrieved=context_retrieved,
    )


def _read_gold(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: --answers needs the gold answers ({ANSWERS_FILE}, as in squad2-dev)"
        )
    records = []
    for number, record in json_lines(path):
        if not record.get("is_impossible") and not record.get("answers"):
            raise ValueError(f"{path}:{number}: an answerable question without answers")
        records.append(record)
    return records


def load_questions(root: str | Path, limit: int | None = None, half: Half | None = None) -> list[GoldQuestion]:
    """The questions to ask, in id order: the answerable ones judged in ``qrels/test.tsv`` and the
    unanswerable ones of ``queries.jsonl``; only ``half``'s (:func:`ragline.evaluation.beir.half_of`) when
    given, then the first ``limit``."""
    check_bounds(limit, None)
    folder = dataset_folder(root)
    judged = read_qrels(folder / "qrels" / "test.tsv")
    texts = read_queries(folder / "queries.jsonl")
    questions = []
    for record in _read_gold(folder / ANSWERS_FILE):
        question_id, impossible = str(record["_id"]), bool(record.get("is_impossible"))
        if question_id not in texts or not (impossible or question_id in judged):
            continue
        if half is not None and half_of(question_id) != half:
            continue
        answers = () if impossible else tuple(str(answer) for answer in record["answers"])
        context = str(record.get("context_id") or "")
        questions.append(GoldQuestion(question_id, texts[question_id], answers, impossible, context))
    questions.sort(key=lambda question: id_order(question.id))
    return questions[:limit]


def _share(count: int, total: int) -> float:
    return count / total if total else 0.0


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


@dataclass
class AnswerReport:
    """What one ``--answers`` evaluation measured; :meth:`to_dict` is its JSON.

    ``timings`` are seconds per stage: ``load``, the indexing stages of
    :func:`ragline.evaluation.runner.indexed_corpus`, ``retrieve`` and ``generate`` summed over the
    questions (as :meth:`QueryService.answer` times them), ``questions`` (the wall time of all the
    answers) and ``total``. ``latency_ms`` is per question, around ``answer``.
    """

    dataset: str
    mode: str
    embedder: str
    generator: str
    top_k: int
    half: Half | None
    docs: int
    chunks: int
    scores: list[QuestionScore]
    timings: dict[str, float]
    latency_ms: dict[str, float]
    cache: dict[str, Any] | None = None
    answers: dict[str, str] = field(default_factory=dict, repr=False)  # question id -> the answer's text

    def answerable(self) -> dict[str, Any]:
        scores = [score for score in self.scores if not score.impossible]
        answered = [score for score in scores if not score.declined]
        words = [score.words for score in answered]

        def measures(of: list[QuestionScore]) -> dict[str, float]:
            return {
                "contains_answer": _share(sum(score.contains for score in of), len(of)),
                "f1": _mean([score.f1 for score in of]),
                "exact_match": _share(sum(score.exact for score in of), len(of)),
            }

        return {
            "questions": len(scores),
            "answered": _share(len(answered), len(scores)),
            "declined": _share(len(scores) - len(answered), len(scores)),
            **measures(scores),
            "context_retrieved": _share(sum(score.context_retrieved for score in scores), len(scores)),
            "answer_words": {
                "mean": _mean(words),
                "median": float(statistics.median(words)) if words else 0.0,
            },
            "of_answered": measures(answered),
        }

    def unanswerable(self) -> dict[str, Any]:
        scores = [score for score in self.scores if score.impossible]
        return {"questions": len(scores), "declined": _share(sum(score.declined for score in scores), len(scores))}

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``ragline eval --answers --json``: shares and means rounded to 4 places."""
        return {
            "dataset": self.dataset,
            "mode": self.mode,
            "embedder": self.embedder,
            "generator": self.generator,
            "top_k": self.top_k,
            "split": self.half or "all",
            "questions": len(self.scores),
            "answerable": _rounded(self.answerable()),
            "unanswerable": _rounded(self.unanswerable()),
            "docs": self.docs,
            "chunks": self.chunks,
            "timings": {stage: round(seconds, 3) for stage, seconds in self.timings.items()},
            "latency_ms": {name: round(value, 2) for name, value in self.latency_ms.items()},
            "cache": self.cache,
        }


def _rounded(values: dict[str, Any]) -> dict[str, Any]:
    return {
        name: _rounded(value) if isinstance(value, dict) else round(value, 4) if isinstance(value, float) else value
        for name, value in values.items()
    }


def evaluate_answers(
    dataset_dir: str | Path,
    mode: RetrievalMode,
    limit: int | None = None,
    embedder: Embedder | EmbedderName | None = None,
    cache_dir: str | Path | None = None,
    settings: Settings | None = None,
    progress: bool = True,
    *,
    max_docs: int | None = None,
    cache: bool | None = None,
    reranker: Reranker | None = None,
    generator: Generator | None = None,
    half: Half | None = None,
) -> AnswerReport:
    """Index the dataset at ``dataset_dir``, answer its questions (:func:`load_questions`) in ``mode``
    and score the answers. ``generator``: default the settings' (``RAGLINE_GENERATOR``). ``max_docs``
    keeps the asked questions' paragraphs and other documents up to that many; the other parameters are
    :func:`ragline.evaluation.runner.evaluate`'s."""
    settings = settings if settings is not None else Settings.from_env()
    if isinstance(embedder, str):
        settings = replace(settings, embedder=embedder)
    reranker = reranker_for(mode, settings, reranker)
    generator_name = (
        settings.generator if generator is None else str(getattr(generator, "name", type(generator).__name__))
    )
    clock = StageClock()
    started = time.perf_counter()
    with clock.stage("load"):
        check_bounds(limit, max_docs)
        questions = load_questions(dataset_dir, limit=limit, half=half)
        contexts = {question.context_id for question in questions}
        corpus = keep_docs(list(read_corpus(dataset_folder(dataset_dir) / "corpus.jsonl")), contexts, max_docs)

    from ragline.query import QueryService, RetrievalConfig

    given = None if isinstance(embedder, str) else embedder
    with indexed_corpus(
        corpus,
        settings,
        embed=mode != "bm25",
        embedder=given,
        cache=cache,
        cache_dir=cache_dir,
        clock=clock,
        progress=progress,
    ) as index:
        config = replace(RetrievalConfig.from_settings(settings), mode=mode)  # as the query function has it
        if generator is None:
            from ragline.factory import build_generator

            # As the query function builds it: lent the embedder retrieval uses (one model in memory).
            generator = build_generator(settings, index.embedder)
        service = QueryService(index.store, index.embedder, generator, config, reranker=reranker)
        scores, answers, latencies = _ask(questions, service, settings.top_k, index.beir_ids, clock, progress)

    timings = dict(clock.seconds)
    timings["total"] = time.perf_counter() - started
    order = ("load", "chunk", "embed", "store", "warm-up", "retrieve", "generate", "questions", "total")
    return AnswerReport(
        dataset=Path(dataset_dir).name,
        mode=mode,
        embedder=index.embedder.name if mode != "bm25" else "none",
        generator=generator_name,
        top_k=settings.top_k,
        half=half,
        docs=len(corpus),
        chunks=index.chunks,
        scores=scores,
        timings={stage: timings[stage] for stage in order if stage in timings},
        latency_ms=latency_summary(latencies),
        cache=index.cache_report(),
        answers=answers,
    )


def _ask(
    questions: Sequence[GoldQuestion],
    service: Any,
    top_k: int,
    beir_ids: dict[str, str],
    clock: StageClock,
    progress: bool,
) -> tuple[list[QuestionScore], dict[str, str], list[float]]:
    """Each question's score, each answer's text and each question's latency in seconds."""
    roles = frozenset({EVAL_ROLE})
    scores: list[QuestionScore] = []
    answers: dict[str, str] = {}
    latencies: list[float] = []
    bar = progress_bar(len(questions), "answering", "question", progress)
    try:
        for question in questions:
            start = time.perf_counter()
            result = service.answer(question.text, roles, top_k)
            elapsed = time.perf_counter() - start
            latencies.append(elapsed)
            clock.seconds["questions"] += elapsed
            for stage in ("retrieve", "generate"):
                clock.seconds[stage] += result.timings_ms.get(stage, 0.0) / 1000
            read = {beir_ids.get(hit.chunk.doc_id) for hit in result.sources}
            scores.append(score_answer(question, result.answer, question.context_id in read))
            answers[question.id] = result.answer.text
            bar.update()
    finally:
        bar.close()
    return scores, answers, latencies


def _row(label: str, of_all: float, of_answered: float | None = None) -> str:
    return f"  {label:<28}{of_all:8.4f}" + (f"{of_answered:10.4f}" if of_answered is not None else "")


def format_answer_report(report: AnswerReport) -> str:
    """The human-readable table ``ragline eval --answers`` prints."""
    answerable, unanswerable = report.answerable(), report.unanswerable()
    answered = answerable["of_answered"]
    words = answerable["answer_words"]
    heading = f"answerable ({answerable['questions']})"
    lines = [
        f"ragline eval --answers: {report.dataset}, mode {report.mode}, embedder {report.embedder}, "
        f"generator {report.generator}, top {report.top_k} sources",
        f"{len(report.scores)} questions"
        + (f" (the {report.half} half)" if report.half else "")
        + f": {answerable['questions']} answerable, {unanswerable['questions']} unanswerable; "
        f"{report.docs} documents ({report.chunks} chunks)",
        "",
        f"{heading:<30}{'all':>8}{'answered':>10}",
        _row("answered", answerable["answered"]),
        _row("declined", answerable["declined"]),
        _row("contains the answer", answerable["contains_answer"], answered["contains_answer"]),
        _row("token F1", answerable["f1"], answered["f1"]),
        _row("exact match", answerable["exact_match"], answered["exact_match"]),
        _row("its paragraph among sources", answerable["context_retrieved"]),
        f"  {'answer length (words)':<28}mean {words['mean']:.1f}, median {words['median']:.1f}",
        f"unanswerable ({unanswerable['questions']})",
        _row("declined", unanswerable["declined"]),
        "",
        "timings (s):",
    ]
    lines += [f"  {stage:<12}{seconds:9.2f}" for stage, seconds in report.timings.items()]
    latency = report.latency_ms
    lines += [
        "",
        f"answer latency (ms): mean {latency['mean']:.1f}, p50 {latency['p50']:.1f}, p95 {latency['p95']:.1f}",
    ]
    if report.cache is not None:
        cache = report.cache
        lines.append(f"embedding cache: {cache['hits']} hits, {cache['misses']} misses ({cache['path']})")
    return "\n".join(lines)
