// Documents: the ones the caller may see, a page at a time (GET /documents with cursors), searched by
// name and filtered by status; a failed one shows why. Replace and Delete where the API says the caller
// may write (can_write); the API still decides, and a refusal shows its message.
import { byId, el, keyOf, localTime, say } from "./dom.js";

const PAGE_SIZE = 25;

export function setUpDocuments(api, { onReplace }) {
  let cursors = [null]; // the cursor of every page seen so far; the last is the page shown
  let nextCursor = null;
  let loads = 0; // which load an answer belongs to: one overtaken by a later load is not shown

  byId("documents-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    cursors = [null];
    load();
  });
  byId("documents-status-filter").addEventListener("change", () => {
    cursors = [null];
    load();
  });
  byId("next-page").addEventListener("click", () => {
    cursors.push(nextCursor);
    load();
  });
  byId("previous-page").addEventListener("click", () => {
    cursors.pop();
    load();
  });

  async function load() {
    say("documents-alert", "");
    say("documents-status", "Loading documents…");
    const params = {
      limit: PAGE_SIZE,
      cursor: cursors.at(-1),
      search: byId("documents-search").value.trim(),
      status: byId("documents-status-filter").value,
    };
    const thisLoad = ++loads;
    byId("next-page").disabled = byId("previous-page").disabled = true; // until this page is in
    try {
      const page = await api.documents(params);
      if (thisLoad !== loads) return;
      nextCursor = page.next_cursor;
      byId("documents-rows").replaceChildren(...page.documents.map(row));
      byId("next-page").disabled = !nextCursor;
      byId("previous-page").disabled = cursors.length === 1;
      say("page-label", `Page ${cursors.length}`);
      const more = nextCursor ? "; there are more on the next page" : "";
      say("documents-status", page.documents.length ? `${page.documents.length} document(s) on this page${more}.` : `No documents here${more}.`);
    } catch (error) {
      if (thisLoad !== loads) return;
      say("documents-status", "");
      say("documents-alert", `Could not list the documents: ${error.message}`);
    }
  }

  function row(doc) {
    const key = keyOf(doc.source);
    const name = doc.title || key;
    return el(
      "tr",
      { "data-doc-id": doc.doc_id },
      el("td", {}, doc.title || el("span", { class: "hint" }, "(no title)")),
      el("td", { class: "key" }, key),
      el("td", {}, el("span", { class: `badge ${doc.status}` }, doc.status), doc.error && el("p", { class: "error" }, doc.error)),
      el("td", {}, el("time", { datetime: doc.updated_at }, localTime(doc.updated_at))),
      el("td", { class: "number" }, String(doc.chunk_count)),
      el("td", { class: "actions" }, doc.status === "deleted" ? "" : doc.can_write ? actions(doc, key, name) : readOnly()),
    );
  }

  function readOnly() {
    return el("span", { class: "hint" }, "read only");
  }

  function actions(doc, key, name) {
    return [
      el("button", { type: "button", class: "secondary", "aria-label": `Replace ${name}`, onclick: () => onReplace(key) }, "Replace"),
      el("button", { type: "button", class: "danger", "aria-label": `Delete ${name}`, onclick: () => remove(doc, key) }, "Delete"),
    ];
  }

  async function remove(doc, key) {
    if (!confirm(`Delete ${key}? It stops being cited within seconds.`)) return;
    say("documents-alert", "");
    try {
      await api.remove(doc.doc_id);
      await load();
      say("documents-status", `Deleting ${key}: it stops being cited within seconds.`);
    } catch (error) {
      say("documents-alert", `Could not delete ${key}: ${error.message}`);
    }
  }

  return {
    load,
    /** Nothing of the last user's documents stays in the page. */
    reset() {
      cursors = [null];
      nextCursor = null;
      byId("documents-rows").replaceChildren();
      byId("documents-search").value = "";
      say("documents-status", "");
      say("documents-alert", "");
    },
  };
}
