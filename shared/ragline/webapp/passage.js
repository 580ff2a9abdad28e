// The cited passage in a modal <dialog> (Escape closes it, focus goes back to the citation), with a link to
// the source document: a short-lived presigned GET from /documents/{doc_id}/download. With an explanation,
// the question's words in the passage are highlighted.
import { byId, say } from "./dom.js";
import { highlighted } from "./explain.js";

export function setUpPassage(api) {
  const dialog = byId("passage");
  const link = byId("passage-link");
  let opener = null;
  let opened = 0; // which opening a link answer belongs to: a late one for an earlier passage is dropped

  byId("passage-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => opener?.focus());

  return async function openPassage(source) {
    const opening = ++opened;
    opener = document.activeElement;
    say("passage-title", source.title || source.source);
    const section = (source.heading_path ?? []).join(" › ");
    const where = [source.page && `Page ${source.page}`, section && `Section: ${section}`, source.source];
    say("passage-where", where.filter(Boolean).join(" · "));
    const matches = source.explanation?.matches ?? [];
    byId("passage-text").replaceChildren(...highlighted(source.text, matches));
    byId("passage-marks").hidden = matches.length === 0;
    link.hidden = true;
    link.removeAttribute("href");
    say("passage-link-status", "Getting a link to the source document…");
    dialog.showModal();
    byId("passage-text").querySelector("mark")?.scrollIntoView({ block: "nearest" }); // the first match in view
    try {
      const grant = await api.downloadLink(source.doc_id);
      if (opening !== opened) return;
      link.href = grant.url;
      link.hidden = false;
      say("passage-link-status", `The link to the source is valid for ${Math.round(grant.expires_in / 60)} minutes.`);
    } catch (error) {
      if (opening === opened) say("passage-link-status", `No link to the source: ${error.message}`);
    }
  };
}
