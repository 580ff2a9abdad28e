// Ask: a question in, an answer out with numbered citations ([1] in the text, a numbered list of sources);
// each citation opens its passage. "Retrieve only" lists the passages without an answer; "Explain the
// ranking" gives each source a "Why this passage?" disclosure (explain.js).
import { byId, el, say } from "./dom.js";
import { whyThisPassage } from "./explain.js";

export function setUpAsk(api, openPassage) {
  const form = byId("ask-form");
  const button = form.querySelector("button[type=submit]");

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const question = byId("question").value.trim();
    if (!question) return;
    const retrieveOnly = byId("retrieve-only").checked;
    const explain = byId("explain").checked;
    button.disabled = true;
    say("ask-alert", "");
    say("ask-status", retrieveOnly ? "Retrieving passages…" : "Looking for an answer…");
    try {
      const body = await api.ask(question, { retrieveOnly, explain });
      const sources = retrieveOnly ? body.results : body.citations;
      show(retrieveOnly ? null : body.answer, sources);
      const found = retrieveOnly ? `${sources.length} passage(s) found.` : `Answered from ${sources.length} source(s).`;
      say("ask-status", sources.length ? found : "None of the documents you may see answers this.");
    } catch (error) {
      byId("answer").hidden = true;
      say("ask-status", "");
      say("ask-alert", `Could not ask: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  });

  return {
    /** Nothing of the last user's questions stays in the page. */
    reset() {
      byId("answer").hidden = true;
      byId("answer-text").replaceChildren();
      byId("sources").replaceChildren();
      byId("question").value = "";
      say("ask-status", "");
      say("ask-alert", "");
    },
  };

  function show(answer, sources) {
    const numbered = new Map(sources.map((source) => [source.id, source]));
    byId("answer-title").hidden = byId("answer-text").hidden = answer === null;
    byId("answer-text").replaceChildren(...(answer === null ? [] : withCitations(answer, numbered)));
    const shown = new Set(numbered.keys());
    byId("sources").replaceChildren(...sources.map((source) => sourceItem(source, shown)));
    byId("sources-title").hidden = sources.length === 0;
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
}
