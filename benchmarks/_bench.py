"""Shared helpers of the benchmarks: the machine, quiet waiting, tables, results files, realistic prose.

Every benchmark writes ``benchmarks/results/<name>.json`` with the machine (platform, CPU, CPU count,
Python), the date, the load average before and after, and its own numbers; and prints a table.

The prose generator makes English-like business and research text with a Zipf-distributed vocabulary (a
few hundred common words and a long tail of rarer made-up terms), so that BM25 posting lists, chunk sizes
and tokenisation behave as they would on real documents. It is deterministic for a given seed.
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parent
REPO = BENCHMARKS.parent
# Where results go: benchmarks/results, or RAGLINE_BENCH_RESULTS (run_all.py --quick uses a temporary folder).
RESULTS = Path(os.environ.get("RAGLINE_BENCH_RESULTS") or BENCHMARKS / "results")

# Other heavy jobs on this machine whose CPU use would pollute a measurement.
BUSY_PATTERN = "ragline eval|tune_hybrid|pytest"


# -- the machine --------------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_revision() -> str:
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return head + ("+dirty" if dirty else "") if head else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "revision": _git_revision(),
    }


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# -- waiting for a quiet machine ----------------------------------------------------------------------


def busy_processes(pattern: str = BUSY_PATTERN) -> list[str]:
    """Command lines of other processes matching ``pattern`` (this process and its parents excluded)."""
    try:
        output = subprocess.run(["pgrep", "-fa", pattern], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    mine = {os.getpid(), os.getppid()}
    found = []
    for line in output.splitlines():
        pid, _, command = line.partition(" ")
        if pid.isdigit() and int(pid) not in mine and "pgrep" not in command:
            found.append(line.strip())
    return found


def wait_until_quiet(max_wait: float = 1200.0, poll: float = 15.0, pattern: str = BUSY_PATTERN) -> dict[str, Any]:
    """Sleep until no other heavy job runs, for at most ``max_wait`` seconds. Returns what was seen."""
    started = time.monotonic()
    seen: list[str] = []
    while True:
        busy = busy_processes(pattern)
        if not busy:
            break
        for line in busy:
            if line not in seen:
                seen.append(line)
        waited = time.monotonic() - started
        if waited >= max_wait:
            print(f"[bench] still busy after {waited:.0f} s, measuring anyway: {busy}", file=sys.stderr)
            break
        print(f"[bench] waiting for other jobs to finish ({len(busy)} running, {waited:.0f} s so far)", file=sys.stderr)
        time.sleep(poll)
    return {
        "waited_s": round(time.monotonic() - started, 1),
        "busy_seen": seen,
        "still_busy": busy_processes(pattern),
        "load_average": load_average(),
    }


def before_run(no_wait: bool) -> dict[str, Any]:
    """Wait for a quiet machine (unless ``no_wait``); what was seen goes into the results."""
    if no_wait:
        return {"waited_s": 0, "busy_seen": [], "still_busy": busy_processes(), "load_average": load_average()}
    return wait_until_quiet()


def conditions(before: dict[str, Any]) -> dict[str, Any]:
    """The load around a run: before (waited, what was busy, load average) and after."""
    return {"before": before, "load_average_after": load_average(), "busy_after": busy_processes()}


# -- numbers and tables -------------------------------------------------------------------------------


def set_environment(values: dict[str, str], remove: Sequence[str] = ()) -> dict[str, str | None]:
    """Set ``values`` and unset ``remove`` in the environment; returns what was there, for
    :func:`restore_environment`."""
    saved = {name: os.environ.get(name) for name in (*values, *remove)}
    os.environ.update(values)
    for name in remove:
        os.environ.pop(name, None)
    return saved


def restore_environment(saved: dict[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def use_local_stack_defaults(embedder: str | None = None) -> dict[str, str | None]:
    """The environment a DevStack benchmark runs in: moto (not LocalStack), quiet logs, the given embedder."""
    values = {"POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING")}
    if embedder:
        values["RAGLINE_EMBEDDER"] = embedder
    return set_environment(values, remove=("LOCALSTACK_URL",))


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100) by linear interpolation, as numpy's default."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    rank = (len(ordered) - 1) * p / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def summary(values: Sequence[float], digits: int = 2) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), digits),
        "p95": round(percentile(values, 95), digits),
        "mean": round(statistics.fmean(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def table(rows: Iterable[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain-text table (also valid Markdown)."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)


def write_result(name: str, payload: dict[str, Any], results_dir: Path | None = None) -> Path:
    """Write ``results/<name>.json`` with the machine and the date around ``payload``."""
    directory = results_dir or RESULTS
    directory.mkdir(parents=True, exist_ok=True)
    document = {"benchmark": name, "date": now(), "machine": machine(), **payload}
    path = directory / f"{name}.json"
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
    return path


def read_result(name: str, results_dir: Path | None = None) -> dict[str, Any] | None:
    path = (results_dir or RESULTS) / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# -- realistic prose ----------------------------------------------------------------------------------

_NOUNS = """revenue margin forecast quarter customer supplier contract invoice budget pipeline report audit
policy employee manager team department office region market segment product service platform release
feature roadmap milestone deadline risk incident outage latency throughput capacity cluster server
database index query document page chapter section figure table appendix summary analysis study trial
experiment sample batch protocol method result measurement sensor cathode anode electrolyte cell battery
module prototype design material coating polymer alloy sample temperature pressure voltage current cycle
capacity efficiency yield defect inspection shipment warehouse inventory order freight carrier route
schedule training onboarding benefit leave salary bonus payroll compliance regulation license permit
agreement partner vendor procurement tender proposal grant funding investment acquisition merger
subsidiary shareholder dividend earnings expense cost price discount subscription renewal churn
retention growth decline trend baseline target threshold metric dashboard review approval request
ticket escalation support feedback survey interview workshop meeting agenda decision action owner
committee board director officer counsel auditor analyst engineer researcher scientist technician
operator contractor consultant laboratory facility plant site campus building floor network firewall
credential password access role permission account login session token certificate backup archive
migration upgrade patch version dependency library interface endpoint gateway function queue bucket
event notification message alert alarm threshold reading calibration specification standard"""

_ADJECTIVES = """quarterly annual monthly weekly regional global internal external critical minor major
significant modest steady rapid gradual unexpected planned unplanned preliminary final revised
initial current previous upcoming strategic operational financial technical commercial legal
regulatory scientific experimental thermal electrical mechanical chemical structural digital manual
automated secure restricted confidential public private shared dedicated redundant primary secondary
average median peak minimum maximum total net gross adjusted reported estimated projected"""

_VERBS = """increased decreased improved declined rose fell doubled halved stabilised recovered exceeded
missed reached delayed accelerated approved rejected reviewed published released deployed migrated
replaced retired extended renewed signed terminated completed launched paused resumed measured
recorded reported confirmed identified resolved escalated investigated documented tested validated
adjusted allocated analysed announced archived assessed assigned audited balanced benchmarked billed
blocked booked budgeted calibrated cancelled captured certified challenged changed charged checked
cleared closed collected combined compared compiled configured consolidated constrained consumed
converted corrected covered created cut debated declared defined delivered designed detected
developed diagnosed discounted discovered dispatched distributed drafted dropped earned eased
enabled ended enforced estimated evaluated expanded expected explained exported filed financed fixed
flagged forecast funded gained granted grouped halted handled hired hosted imported included indexed
inspected installed integrated introduced invoiced isolated issued joined labelled lifted limited
loaded logged lowered maintained managed mapped merged modelled monitored moved negotiated noted
offered opened ordered organised outsourced packaged paid passed patched planned posted prepared
presented priced printed processed procured produced projected promoted proposed protected provided
purchased qualified raised ranked rebuilt received reduced refunded registered relocated removed
repaired requested reserved restored restructured revised rolled sampled scaled scheduled screened
secured settled shared shifted shipped simplified sold sourced split staffed standardised started
stopped stored streamlined submitted supplied supported surveyed suspended tracked traded trained
transferred trimmed upgraded verified waived widened withdrew"""

_PLACES = """Northwind Contoso Fabrikam Globex Initech Umbrella Acme Tailspin Litware Adatum Proseware
Woodgrove Fourth Coffee Wingtip Lucerne Margie Trey Humongous Alpine Blue Yonder Consolidated"""

_PERIODS = [
    "Q1",
    "Q2",
    "Q3",
    "Q4",
    "the first half",
    "the second half",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
    "the fiscal year",
    "the last twelve months",
    "the pilot phase",
    "2024",
    "2025",
    "2026",
    "the spring",
    "the autumn",
]

_TEMPLATES = [
    "{Org}'s {adj} {noun} {verb} by {pct} in {period}, {reason}.",
    "The {adj} {noun} {verb} after the {noun2} {noun5} {verb2} the {noun3} {noun4}.",
    "{Intro} the {adj} {noun}, the {noun2} {verb} from {num} to {num2} {unit} {during} {period}.",
    "In {period}, {Org} {verb} its {noun} {noun2} and {verb2} the {adj} {noun3}.",
    "The {noun} of the {adj} {noun2} was {num} {unit}, {cmp} the {noun3} {noun5} of {num2} {unit}.",
    "{People} {verb} the {noun} {noun2} at the {Org} {noun3} and {verb2} a {adj} {noun4}.",
    "A {adj} {noun} in the {noun2} {verb} the {noun3} for {num} {unit}, so the {noun4} was {verb2}.",
    "The {noun} {noun2} {verb} {adv} {because} {Org} {verb2} the {adj} {noun3}.",
    "Each {noun} {must} be {verb} by the {noun2} {noun3} before the {adj} {noun4} is {verb2}.",
    "The {adj} {noun} {lists} {num} {noun2} {noun5}, of which {num2} were {verb} in {period}.",
    "{Org} and {Org2} {verb} a {adj} {noun} on {noun2} and {noun3} {until} {period}.",
    "{People} {must} {ask} {adj} {noun} {via} the {noun2} {noun3}; the {noun4} {verb} {within} {num} {unit}.",
    "{Intro} {Org}, {adj} {noun} {verb} {adv} {while} the {noun2} {noun3} {verb2}.",
    "{Neither} the {noun} {nor} the {adj} {noun2} {verb} the {noun3} {noun4} in {period}.",
    "{People} {verb} {num} {adj} {noun} {noun2} and {verb2} {num2} of them {adv}.",
    "The {noun} {verb} {adv}; {People} {verb2} the {adj} {noun2} {noun3} {after}.",
]

_INTROS = [
    "According to",
    "Based on",
    "As noted in",
    "Under",
    "Per",
    "Following",
    "Despite",
    "Given",
    "Compared with",
    "Alongside",
    "Ahead of",
    "Regarding",
]
_PEOPLE = [
    "Engineers",
    "Analysts",
    "Auditors",
    "Staff",
    "Managers",
    "Researchers",
    "Technicians",
    "Operators",
    "Contractors",
    "Reviewers",
    "Partners",
    "Two teams",
    "The committee",
    "The board",
    "Our vendors",
]
_LISTS = ["lists", "names", "covers", "tracks", "counts", "flags", "includes", "summarises"]
_GLUE = {
    "Neither": ["Neither", "Both", "Either", "Only", "Not even"],
    "nor": ["nor", "and", "or", "but not", "let alone"],
    "until": ["through", "until", "into", "across", "for"],
    "via": ["through", "via", "using", "from", "in"],
    "within": ["within", "in", "after", "inside"],
    "while": ["while", "whereas", "although", "as", "until"],
    "because": ["because", "since", "once", "after", "when"],
    "during": ["during", "in", "over", "across", "throughout"],
    "after": ["as a result", "in response", "afterwards", "in turn", "soon after", "last week"],
    "must": ["must", "should", "will", "can", "may", "could", "might", "need to", "ought to", "would"],
}
_ASK = ["request", "apply for", "ask for", "book", "renew", "cancel", "transfer", "claim"]

_REASONS = [
    "driven by {adj} {noun} demand",
    "mostly because of the {adj} {noun}",
    "while {noun} {noun2} stayed flat",
    "despite a {adj} {noun} in {period}",
    "after the {noun} {noun2} was {verb}",
    "as the {noun} {noun2} had forecast",
    "helped by {adj} {noun}",
    "with {noun} {noun2} unchanged",
]
_PLANS = ["plan", "review", "schedule", "proposal", "rollout", "audit", "report"]
_UNITS = [
    "percent",
    "units",
    "hours",
    "days",
    "weeks",
    "cycles",
    "million dollars",
    "thousand euros",
    "tonnes",
    "ms",
    "GB",
    "sites",
    "kWh",
    "litres",
    "batches",
    "tickets",
    "seats",
    "licences",
    "requests",
    "pallets",
]
_COMPARE = ["above", "below", "close to", "well above", "just under"]
_ADVERBS = [
    "sharply",
    "slightly",
    "steadily",
    "unexpectedly",
    "again",
    "twice",
    "early",
    "late",
    "quietly",
    "quickly",
    "partly",
    "fully",
    "briefly",
    "largely",
    "mainly",
    "still",
    "already",
    "eventually",
]

_SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ra",
    "ven",
    "tor",
    "sel",
    "qui",
    "dra",
    "nor",
    "pel",
    "zan",
    "bri",
    "cos",
    "tal",
    "mer",
    "vio",
    "gan",
    "lux",
    "fen",
    "dor",
    "shi",
    "pra",
    "kel",
    "mon",
    "sta",
    "rix",
    "ul",
]


def _pseudo_words(rng: random.Random, count: int, suffixes: Sequence[str]) -> list[str]:
    words: dict[str, None] = {}
    while len(words) < count:
        stem = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3)))
        words[stem + rng.choice(suffixes)] = None
    return list(words)


class Prose:
    """Deterministic English-like prose with a Zipf vocabulary: ``sentence()``, ``paragraph()``,
    ``words(n)`` (about n words of whole sentences), ``question_about(text)``."""

    def __init__(self, seed: int = 7, tail_nouns: int = 20000, tail_adjectives: int = 3000) -> None:
        self.rng = random.Random(seed)
        vocab_rng = random.Random(1234)  # the same vocabulary for every seed
        # Real words first (the frequent ranks), made-up words as the long tail.
        self.nouns = _NOUNS.split() + _pseudo_words(
            vocab_rng, tail_nouns, ["ine", "ate", "ion", "er", "ite", "um", "ance"]
        )
        self.adjectives = _ADJECTIVES.split() + _pseudo_words(vocab_rng, tail_adjectives, ["ic", "al", "ous", "ive"])
        self.verbs = _VERBS.split()
        vocab_rng.shuffle(self.verbs)
        self.orgs = _PLACES.split()
        self._noun_weights = self._zipf(len(self.nouns))
        self._adjective_weights = self._zipf(len(self.adjectives))
        self._verb_weights = self._zipf(len(self.verbs), q=20.0)

    @staticmethod
    def _zipf(n: int, s: float = 1.0, q: float = 10.0) -> list[float]:
        """Cumulative Zipf-Mandelbrot weights 1 / (rank + q)^s: the offset flattens the head, so that the
        most common content word is in about a third of 170-word chunks, as in English prose (a pure
        Zipf head puts it in nearly all of them, and BM25 would match the whole corpus)."""
        weights = [1.0 / ((rank + q) ** s) for rank in range(1, n + 1)]
        cumulative, total = [], 0.0
        for weight in weights:
            total += weight
            cumulative.append(total)
        return cumulative

    def _pick(self, words: list[str], cumulative: list[float]) -> str:
        return self.rng.choices(words, cum_weights=cumulative, k=1)[0]

    def noun(self) -> str:
        return self._pick(self.nouns, self._noun_weights)

    def adjective(self) -> str:
        return self._pick(self.adjectives, self._adjective_weights)

    def _fill(self, template: str) -> str:
        rng = self.rng
        values = {
            "Org": rng.choice(self.orgs),
            "Org2": rng.choice(self.orgs),
            "period": rng.choice(_PERIODS),
            "pct": f"{rng.randint(1, 60)}%",
            "num": str(rng.randint(2, 900)),
            "num2": str(rng.randint(2, 900)),
            "unit": rng.choice(_UNITS),
            "cmp": rng.choice(_COMPARE),
            "adv": rng.choice(_ADVERBS),
            "plan": rng.choice(_PLANS),
            "Intro": rng.choice(_INTROS),
            "People": rng.choice(_PEOPLE),
            "lists": rng.choice(_LISTS),
            "ask": rng.choice(_ASK),
            **{slot: rng.choice(words) for slot, words in _GLUE.items()},
        }
        for slot in ("noun", "noun2", "noun3", "noun4", "noun5"):
            values[slot] = self.noun()
        values["adj"] = self.adjective()
        values["verb"] = self._pick(self.verbs, self._verb_weights)
        values["verb2"] = self._pick(self.verbs, self._verb_weights)
        if "{reason}" in template:
            values["reason"] = self._fill(rng.choice(_REASONS))
        return template.format(**values)

    def sentence(self) -> str:
        text = self._fill(self.rng.choice(_TEMPLATES))
        return text[0].upper() + text[1:]

    def words(self, count: int) -> str:
        """Whole sentences adding up to about ``count`` words."""
        sentences: list[str] = []
        total = 0
        while total < count:
            sentence = self.sentence()
            sentences.append(sentence)
            total += len(sentence.split())
        return " ".join(sentences)

    def paragraph(self, sentences: int | None = None) -> str:
        return " ".join(self.sentence() for _ in range(sentences or self.rng.randint(3, 7)))

    def heading(self) -> str:
        return f"{self.adjective().capitalize()} {self.noun()} {self.noun()}"

    def markdown(self, pages: int, words_per_page: int = 500, title: str = "") -> str:
        """A markdown document of about ``pages`` x ``words_per_page`` words, with headings."""
        parts = [f"# {title or self.heading()}", ""]
        for _ in range(pages):
            parts += [f"## {self.heading()}", ""]
            written = 0
            while written < words_per_page:
                paragraph = self.paragraph()
                written += len(paragraph.split())
                parts += [paragraph, ""]
        return "\n".join(parts)

    def page_lines(self, words: int = 450, width: int = 90) -> str:
        """About ``words`` words wrapped into lines of at most ``width`` characters (for a PDF page)."""
        text = self.words(words)
        lines, line = [], ""
        for word in text.split():
            if line and len(line) + 1 + len(word) > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        if line:
            lines.append(line)
        return "\n".join(lines)

    def question_about(self, text: str) -> str:
        """A question that shares two or three content words with ``text`` (so BM25 has matches)."""
        candidates = [w for w in re.findall(r"[A-Za-z]{4,}", text) if w.lower() not in _QUESTION_STOP]
        if not candidates:
            return "What changed in the report?"
        picked = self.rng.sample(candidates, k=min(len(candidates), self.rng.randint(2, 3)))
        opener = self.rng.choice(["What happened to", "Why did", "How much did", "When was", "Who approved"])
        return f"{opener} the {' '.join(w.lower() for w in picked)}?"


_QUESTION_STOP = {
    "that",
    "this",
    "with",
    "from",
    "were",
    "was",
    "after",
    "before",
    "because",
    "while",
    "according",
    "during",
    "through",
    "which",
    "must",
    "each",
    "days",
    "despite",
    "mostly",
}


def add_repo_to_path() -> None:
    """So that ``tests.fixtures`` (make_pdf) can be imported by a benchmark run as a script."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
