// Ask: a question in, an answer out with numbered citations ([1] in the text, a numbered list of sources);
// each citation opens its passage. "Retrieve only" lists the passages without an answer; "Explain the
// ranking" gives each source a "Why this passage?" disclosure (explain.js).
//
// The page keeps the conversation: each question is sent with the turns before it (the standalone
// question the API answered, and its answer), so a follow-up ("and in Q4?") is rewritten to stand alone;
// earlier turns are listed above the form, and "New conversation" forgets them. Nothing is stored by the
// API. When no answer is found, the passages searched are listed as related, not as citations.
import { byId, el, say } from "./dom.js";
import { whyThisPassage } from "./explain.js";

const MAX_TURNS = 10; // the API's bound on history (README, "HTTP API")
const MAX_ANSWER_CHARS = 2000;
const EXCERPT_CHARS = 200; // of a related passage, under its title; the whole passage opens on a click

const excerpt = (text) => (text.length > EXCERPT_CHARS ? `${text.slice(0, EXCERPT_CHARS).trimEnd()}…` : text);

export function setUpAsk(api, openPassage) {
  const form = byId("ask-form");
  const button = form.querySelector("button[type=submit]");
  const newConversation = byId("new-conversation");
  let turns = []; // {asked, standalone, answer}, oldest first; the last one is the answer shown

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const question = byId("question").value.trim();
    if (!question) return;
    const retrieveOnly = byId("retrieve-only").checked;
    const explain = byId("explain").checked;
    // The last question asked again (say with "Explain the ranking" on) is asked in its place, not as a
    // follow-up of itself.
    const again = turns.length > 0 && turns[turns.length - 1].asked === question;
    const before = again ? turns.slice(0, -1) : turns;
    button.disabled = true;
    say("ask-alert", "");
    say("ask-status", retrieveOnly ? "Retrieving passages…" : "Looking for an answer…");
    try {
      const body = await api.ask(question, { retrieveOnly, explain, history: retrieveOnly ? [] : history(before) });
      if (retrieveOnly) {
        showThread(turns);
        show(null, body.results, []);
        say("ask-status", `${body.results.length} passage(s) found.`);
      } else {
        turns = [...before, { asked: question, standalone: body.standalone_question || question, answer: body.answer }];
        showThread(turns.slice(0, -1));
        show(body.answered === false ? null : body.answer, body.citations, body.related ?? []);
        showStandalone(question, body.standalone_question);
        say("ask-status", answeredStatus(body));
      }
    } catch (error) {
      byId("answer").hidden = true;
      say("ask-status", "");
      say("ask-alert", `Could not ask: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  });

  newConversation.addEventListener("click", () => {
    forget();
    byId("question").focus();
    say("ask-status", "A new conversation: the next question stands on its own.");
  });

  return {
    /** Nothing of the last user's questions stays in the page. */
    reset() {
      forget();
      byId("question").value = "";
      say("ask-status", "");
    },
  };

  function forget() {
    turns = [];
    showThread([]);
    byId("answer").hidden = true;
    byId("answer-text").replaceChildren();
    byId("sources").replaceChildren();
    byId("related").replaceChildren();
    byId("standalone").hidden = true;
    say("ask-alert", "");
  }

  /** What the API is sent of the conversation: the last turns, each as it was answered. */
  function history(earlier) {
    return earlier.slice(-MAX_TURNS).map((turn) => ({
      question: turn.standalone,
      answer: turn.answer.slice(0, MAX_ANSWER_CHARS),
    }));
  }

  function answeredStatus(body) {
    if (body.answered !== false) return `Answered from ${body.citations.length} source(s).`;
    return body.related?.length
      ? "No answer was found in the passages searched; the closest are listed as related passages."
      : "No answer was found.";
  }

  function showThread(earlier) {
    byId("thread").replaceChildren(
      ...earlier.map((turn) =>
        el("li", {}, el("p", { class: "asked" }, turn.asked), el("p", { class: "said" }, turn.answer)),
      ),
    );
    byId("thread-box").hidden = earlier.length === 0;
    newConversation.hidden = turns.length === 0;
  }

  function showStandalone(question, standalone) {
    const rewritten = Boolean(standalone) && standalone !== question;
    byId("standalone").hidden = !rewritten;
    say("standalone", rewritten ? `Searched for: ${standalone}` : "");
  }

  function show(answer, sources, related) {
    const numbered = new Map(sources.map((source) => [source.id, source]));
    byId("answer-title").hidden = byId("answer-text").hidden = answer === null;
    byId("answer-text").replaceChildren(...(answer === null ? [] : withCitations(answer, numbered)));
    const shown = new Set(numbered.keys());
    byId("sources").replaceChildren(...sources.map((source) => sourceItem(source, shown)));
    byId("sources-title").hidden = sources.length === 0;
    byId("related").replaceChildren(...related.map((passage) => relatedItem(passage)));
    byId("related-box").hidden = related.length === 0;
    byId("standalone").hidden = true;
    byId("answer").hidden = false;
  }

  /** The answer's text with each [n] a button that opens source n. */
  function withCitations(text, numbered) {
    const parts = [];
    let from = 0;
    for (const match of text.matchAll(/\[(\d+)\]/g)) {
      const source = numbered.get(Number(match[1]));
      parts.push(text.slice(from, match.index), source ? citation(source) : match[0]);
      from = match.index + match[0].length;
    }
    parts.push(text.slice(from));
    return parts;
  }

  function citation(source) {
    const label = `[${source.id}] ${source.title}`;
    return el("button", { type: "button", class: "cite", "aria-label": label, onclick: () => openPassage(source) }, `[${source.id}]`);
  }

  function sourceItem(source, shown) {
    const page = source.page ? `page ${source.page}` : null;
    return el(
      "li",
      { value: source.id },
      el("button", { type: "button", class: "link", onclick: () => openPassage(source) }, source.title || source.source),
      page && el("span", { class: "page" }, ` — ${page}`),
      el("span", { class: "hint source" }, source.source),
      whyThisPassage(source, shown),
    );
  }

  /** A related passage: no number (nothing cites it); it opens like a source. */
  function relatedItem(passage) {
    const page = passage.page ? `page ${passage.page}` : null;
    return el(
      "li",
      {},
      el("button", { type: "button", class: "link", onclick: () => openPassage(passage) }, passage.title || passage.source),
      page && el("span", { class: "page" }, ` — ${page}`),
      el("span", { class: "hint source" }, passage.source),
      el("span", { class: "excerpt" }, excerpt(passage.text)),
      whyThisPassage(passage, new Set()),
    );
  }
}
