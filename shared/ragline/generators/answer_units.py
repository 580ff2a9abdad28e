"""The answerable units of a passage: sentences, list items and table rows, with headings left out.

An extractive answer quotes units, so a unit must be something a person can read on its own:

* **sentences** of running text (split by :func:`ragline.words.split_sentences`), with a line break
  inside a paragraph read as wrapped text;
* **list items**, each on its own, without its bullet or number;
* **table rows**, each with its header: a markdown table (``| a | b |`` lines) and a table whose cells
  the DOCX and HTML parsers give as one short paragraph each (the column count is inferred, see
  :func:`rows_from_cells`) become ``"Country: USA; Per diem: $75"``;
* **headings** are never units, and never glued to the sentence after them: a markdown ``#`` line, and a
  short line without end punctuation between sentences (a PDF's text keeps its headings as plain
  lines: ``"Passwords\\nAll passwords must ..."`` gives ``"All passwords must ..."``).

Example:
    >>> answer_units("Passwords\\nAll passwords must have 14 characters.")
    ['All passwords must have 14 characters.']
    >>> answer_units("| Country | Per diem |\\n|---|---|\\n| USA | $75 |")
    ['Country: USA; Per diem: $75']
"""

from __future__ import annotations

import re

from ragline.generators.prompt import truncate_tokens
from ragline.words import count_tokens, split_sentences

#: Units longer than this (in :func:`ragline.words.count_tokens` tokens) are cut and marked with "...".
MAX_UNIT_TOKENS = 80
#: A line of at most this many words, without end punctuation, reads as a heading or a table cell.
SHORT_LINE_WORDS = 8
#: At least this many short paragraphs in a row are read as the cells of a table.
MIN_TABLE_CELLS = 4
_MAX_COLUMNS = 6

_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_LIST_MARKER = re.compile(r"^(?:[-*•]|\d+[.)])\s+")
_EMPHASIS = re.compile(r"\*\*|__")
_MARKDOWN_HEADING = re.compile(r"^#{1,6}\s")
_TABLE_LINE = re.compile(r"^\|.*\|$")
_TABLE_RULE = re.compile(r"^\|[\s:|-]+\|$")
_SENTENCE_END = (".", "!", "?", ":", ";")
_DIGIT = re.compile(r"\d")


def answer_units(passage: str) -> list[str]:
    """The units of ``passage`` in reading order (see the module's docstring)."""
    units: list[str] = []
    blocks = [block.strip() for block in _BLANK_LINE.split(passage) if block.strip()]
    start = 0
    while start < len(blocks):
        end = start
        while end < len(blocks) and _is_cell(blocks[end]):
            end += 1
        if end - start >= MIN_TABLE_CELLS and (rows := rows_from_cells(blocks[start:end])):
            units.extend(rows)
            start = end
            continue
        units.extend(_block_units(blocks[start]))
        start += 1
    return [_bounded(unit) for unit in units if unit]


def rows_from_cells(cells: list[str]) -> list[str] | None:
    """Rows ``"header: value; ..."`` of a table given cell by cell, or None when no column count fits.

    A column count fits when it divides the cells into a header row without digits over at least one
    body row, and each body column is of one kind (with digits, or without). Of the counts that fit, the
    smallest count wins.

    >>> rows_from_cells(["Country", "Per diem", "USA", "$75", "Germany", "EUR 60"])
    ['Country: USA; Per diem: $75', 'Country: Germany; Per diem: EUR 60']
    """
    for columns in range(2, min(_MAX_COLUMNS, len(cells) // 2) + 1):
        header = cells[:columns]
        if len(cells) % columns or any(_DIGIT.search(cell) for cell in header):
            continue
        if _columns_are_consistent(cells[columns:], columns):
            return [
                "; ".join(f"{name}: {value}" for name, value in zip(header, cells[row : row + columns], strict=True))
                for row in range(columns, len(cells), columns)
            ]
    return None


def _columns_are_consistent(body: list[str], columns: int) -> bool:
    """Whether each column of ``body`` (cells row by row) has digits in all its cells or in none."""
    return all(len({bool(_DIGIT.search(cell)) for cell in body[column::columns]}) == 1 for column in range(columns))


def _is_cell(block: str) -> bool:
    return "\n" not in block and _is_short_line(block) and not _MARKDOWN_HEADING.match(block)


def _is_short_line(line: str) -> bool:
    """Few words, no end punctuation, no colon: a heading or a cell ("Owner: People team" is a statement)."""
    stripped = _EMPHASIS.sub("", line).strip()
    return (
        0 < len(stripped.split()) <= SHORT_LINE_WORDS and not stripped.endswith(_SENTENCE_END) and ": " not in stripped
    )


def _block_units(block: str) -> list[str]:
    """The units of one paragraph: table rows, list items, and sentences of the text between them."""
    units: list[str] = []
    lines = [line.strip() for line in block.split("\n") if line.strip()]
    headings = _heading_lines(lines)
    table: list[str] = []
    prose: list[str] = []
    for line, is_heading in zip(lines, headings, strict=True):
        if _TABLE_LINE.match(line):
            units.extend(_sentences(prose))
            prose = []
            table.append(line)
            continue
        units.extend(_markdown_rows(table))
        table = []
        if is_heading:
            units.extend(_sentences(prose))
            prose = []
        elif _LIST_MARKER.match(line):
            units.extend(_sentences(prose))
            prose = []
            units.extend(_sentences([_LIST_MARKER.sub("", line)]))
        else:
            prose.append(line)
    units.extend(_markdown_rows(table))
    units.extend(_sentences(prose))
    return units


def _heading_lines(lines: list[str]) -> list[bool]:
    """Which lines are headings: a markdown ``#`` line, or a short line without end punctuation that
    stands between sentences, not inside one. The line before it (if any) ended a sentence or was a
    heading too, and the line after it (if any) starts with a capital or a digit; a line wrapped inside a
    sentence fails the first test. List items are never headings."""
    headings: list[bool] = []
    for index, line in enumerate(lines):
        if _MARKDOWN_HEADING.match(line):
            headings.append(True)
            continue
        following = lines[index + 1][:1] if index + 1 < len(lines) else ""
        before_ok = index == 0 or headings[-1] or lines[index - 1].endswith(_SENTENCE_END)
        after_ok = not following or following.isupper() or following.isdigit()
        headings.append(_is_short_line(line) and not _LIST_MARKER.match(line) and before_ok and after_ok)
    return headings


def _markdown_rows(lines: list[str]) -> list[str]:
    """A markdown table's body rows with the header's names; without a ``|---|`` rule, rows as they are."""
    if not lines:
        return []
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines if not _TABLE_RULE.match(line)]
    has_header = len(lines) > 1 and bool(_TABLE_RULE.match(lines[1]))
    if not has_header:
        return ["; ".join(cell for cell in row if cell) for row in rows]
    header, body = rows[0], rows[1:]
    return [
        "; ".join(f"{name}: {value}" if name else value for name, value in zip(header, row, strict=False) if value)
        for row in body
    ]


def _sentences(lines: list[str]) -> list[str]:
    if not lines:
        return []
    text = " ".join(_EMPHASIS.sub("", " ".join(lines)).split())
    return [sentence.strip() for sentence in split_sentences(text) if sentence.strip()]


def _bounded(unit: str) -> str:
    return unit if count_tokens(unit) <= MAX_UNIT_TOKENS else truncate_tokens(unit, MAX_UNIT_TOKENS) + " ..."
