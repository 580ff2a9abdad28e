"""FakeGenerator: the Generator port, answering with its sources' own words."""

from __future__ import annotations

from collections.abc import Sequence

from ragline.models import NO_ANSWER, Answer, SearchHit

DECLINE = NO_ANSWER  # what every generator says when it declines


class FakeGenerator:
    """Answers with the text of each source it cites, each followed by its number; cites every source,
    or the numbers in ``cite`` (which may name sources that are not there, as a model may). With no
    sources, or with ``decline``, it declines (:data:`DECLINE`, nothing cited). Every call's question and
    sources are kept.

    >>> from ragline.models import Chunk
    >>> source = SearchHit(Chunk("c", "d", "v", "Revenue grew.", "s", "T", ("r",), 0), 1.0)
    >>> FakeGenerator().generate("How did revenue do?", [source])
    Answer(text='Revenue grew. [1]', cited=[1], model='fake')
    """

    name = "fake"

    def __init__(self, cite: Sequence[int] | None = None, decline: bool = False) -> None:
        self.cite = None if cite is None else list(cite)
        self.decline = decline
        self.calls: list[tuple[str, list[SearchHit]]] = []

    def generate(self, question: str, sources: Sequence[SearchHit]) -> Answer:
        self.calls.append((question, list(sources)))
        if not sources or self.decline:
            return Answer(DECLINE, cited=[], model=self.name)
        cited = self.cite if self.cite is not None else list(range(1, len(sources) + 1))
        text = " ".join(f"{sources[n - 1].chunk.text} [{n}]" for n in cited if 1 <= n <= len(sources))
        return Answer(text, cited=list(cited), model=self.name)
