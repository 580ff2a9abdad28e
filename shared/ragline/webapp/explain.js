// "Why this passage?": a source's explanation (`"explain": true`; README.md, "Why this passage?") in plain
// words, in a <details> disclosure; and a passage's text with the question's words in <mark>.
// An explanation says only what the caller's own results determine (docs/security.md, "Explanations"):
// there is no count of what the role filter left out, and none is shown.
import { el } from "./dom.js";

const MODES = {
  bm25: "the keyword search (BM25) alone",
  dense: "the meaning search (k-NN) alone",
  hybrid: "a keyword search (BM25) and a meaning search (k-NN), fused",
  "hybrid+rerank": "a keyword search (BM25) and a meaning search (k-NN), fused, then reranked",
};
const SEARCHES = { dense: "Meaning (k-NN)", lexical: "Keyword (BM25)" };

/** The "Why this passage?" disclosure of `source`; null when it has no explanation. `shown`: the numbers
 *  of the sources on the page, so that a near-duplicate among them is named by its number. */
export function whyThisPassage(source, shown) {
  const explanation = source.explanation;
  if (!explanation) return null;
  const { mode, dense, lexical } = explanation;
  const rows = [
    ["Mode", MODES[mode] ? `${mode}: ${MODES[mode]}` : mode],
    dense && ["Meaning search (k-NN)", searchRank(dense, "similarity", "cosine")],
    lexical && ["Keyword search (BM25)", searchRank(lexical, "score", "scaled 0 to 1 over your results")],
    explanation.fusion && ["Fused score", fusion(explanation.fusion)],
    explanation.rerank && ["Reranking", rerank(explanation.rerank)],
    ["Diversity (MMR)", mmr(explanation.mmr, shown)],
    ["Admitted by your roles", explanation.admitted_by.join(", ") || "none"],
    ["Question words in it", matchedWords(explanation.matches)],
  ];
  return el(
    "details",
    { class: "why" },
    el("summary", {}, "Why this passage?", el("span", { class: "visually-hidden" }, ` (source ${source.id})`)),
    el("dl", {}, rows.filter(Boolean).map(([name, value]) => el("div", {}, el("dt", {}, name), el("dd", {}, value)))),
  );
}

/** `text` as text nodes with each matched span in a <mark>. The spans' offsets count characters (code
 *  points, as the API's Python does), not JavaScript's UTF-16 units; one outside the text is left out. */
export function highlighted(text, matches) {
  const characters = Array.from(text);
  const nodes = [];
  let position = 0;
  for (const { start, end } of [...matches].sort((a, b) => a.start - b.start)) {
    if (start < position || end > characters.length || start >= end) continue;
    nodes.push(characters.slice(position, start).join(""), el("mark", {}, characters.slice(start, end).join("")));
    position = end;
  }
  nodes.push(characters.slice(position).join(""));
  return nodes.filter((node) => node !== "");
}

/** 0.8354 -> "0.835", 1 -> "1", 1 / 61 -> "0.0164": three significant digits, no trailing zeros. */
const number = (value) => String(Number(value.toPrecision(3)));

function searchRank({ rank, score }, scoreName, note) {
  return rank === null ? "not returned by this search" : `rank ${rank}, ${scoreName} ${number(score)} (${note})`;
}

function fusion({ method, score, parts, rrf_k: k }) {
  const adds = method === "rrf" ? `reciprocal rank fusion: each search adds its weight × 1 / (${k} + its rank)`
    : "each search adds its weight × its score scaled 0 to 1";
  return [`${number(score)}; ${adds}.`, el("ul", { class: "shares" }, parts.map((part) => share(part, score)))];
}

/** One search's part of the fused score: a bar (the text beside it says the same, for every reader). */
function share(part, total) {
  const fraction = total > 0 ? Math.min(1, Math.max(0, part.contribution / total)) : 0;
  const formula = `${number(part.weight)} × ${number(part.value)}`;
  return el(
    "li",
    {},
    el("span", { class: "share-name" }, SEARCHES[part.search] ?? part.search),
    el("meter", { min: 0, max: 1, value: fraction, "aria-hidden": "true" }),
    el("span", {}, `${Math.round(fraction * 100)}%, adds ${number(part.contribution)} (${formula})`),
  );
}

function rerank({ score, rank_before: before, rank_after: after }) {
  const move = after < before ? "moved up" : after > before ? "moved down" : "unchanged";
  const scored = score === null ? "not scored: past the reranker's shortlist" : `the reranker's score ${number(score)}`;
  return `rank ${before} → ${after} (${move}); ${scored}`;
}

function mmr(choice, shown) {
  if (!choice.considered) return "past the shortlist MMR picks from: kept in ranking order";
  const line = (text) => el("span", { class: "line" }, text);
  const lambda = `λ ${number(choice.mmr_lambda)}; 1 keeps the ranking, lower favours variety`;
  const lines = [line(`kept at pick ${choice.step} (${lambda})`)];
  const over = choice.passed_over;
  if (over) lines.push(line(`first passed over at pick ${over.step}, as a near-duplicate of ${named(over, shown)}`));
  if (choice.displaced.length) {
    const duplicates = choice.displaced.map((near) => el("li", {}, `${named(near, shown)}, at pick ${near.step}`));
    lines.push(line("passed over for it, as near-duplicates:"), el("ul", { class: "duplicates" }, duplicates));
  }
  return lines;
}

/** "[2] Title (similarity 0.64)" for a source on the page; one that is not, by its chunk id. */
function named(duplicate, shown) {
  const similarity = `similarity ${number(duplicate.similarity)}`;
  if (duplicate.result !== null && shown.has(duplicate.result)) {
    return `[${duplicate.result}] ${duplicate.title} (${similarity})`;
  }
  return `${duplicate.title}, chunk ${duplicate.chunk_id} (not among the sources; ${similarity})`;
}

function matchedWords(matches) {
  const words = [...new Set(matches.map((match) => match.term))];
  return words.length ? `${words.join(", ")} (highlighted in the passage)` : "none of the question's words";
}
