// Upload: files dropped or chosen, each with its key (its name by default, after an optional prefix), the
// reader roles (checkboxes of the groups the user holds, at least one) and optional writer roles. For each
// file: POST /documents for a presigned PUT, the PUT straight to S3 with exactly the signed headers, then
// GET /documents/{doc_id} until it is indexed or failed, the progress in a live region.
import { putFile } from "./api.js";
import { byId, el, sleep } from "./dom.js";

const POLL_MS = 500;
const POLL_LIMIT_MS = 5 * 60 * 1000;

export function setUpUpload(api) {
  let files = [];
  let replacing = null; // the key a Replace button chose: the next file goes there

  const zone = byId("drop-zone");
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (event) => {
      event.preventDefault(); // allows the drop
      zone.classList.add("over");
    });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    choose(event.dataTransfer.files);
  });
  byId("file-input").addEventListener("change", (event) => choose(event.target.files));
  byId("keep-writers").addEventListener("change", (event) => keptWriters(event.target.checked));
  byId("upload-form").addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });

  function choose(chosen) {
    files = [...chosen];
    byId("upload-alert").textContent = "";
    byId("upload-files").replaceChildren(...files.map(fileRow));
    byId("chosen-files").textContent = files.length ? `Chosen: ${files.map((file) => file.name).join(", ")}` : "";
  }

  function fileRow(file, index) {
    const id = `key-${index}`;
    const key = replacing && index === 0 ? replacing : file.name;
    return el(
      "div",
      { class: "file-row" },
      el("label", { for: id }, `Key for ${file.name} (${size(file.size)})`),
      el("input", { id, name: id, value: key, required: true, autocomplete: "off" }),
    );
  }

  function checked(boxes) {
    return [...byId(boxes).querySelectorAll("input:checked")].map((box) => box.value);
  }

  async function submit() {
    const alert = byId("upload-alert");
    const roles = checked("reader-role-boxes");
    alert.textContent = !files.length
      ? "Choose or drop at least one file."
      : !roles.length
        ? "Choose at least one group who may read it."
        : "";
    if (alert.textContent) return;
    // Writers are sent as chosen. Unsent, a new document gets none and a replaced one keeps its own: so
    // for an upload naming none, and for a replacement keeping them ([] there: none any more).
    const chosenWriters = checked("writer-role-boxes");
    const named = chosenWriters.length ? chosenWriters : undefined;
    const forReplaced = byId("keep-writers").checked ? undefined : chosenWriters;
    const prefix = byId("key-prefix").value.trim();
    const jobs = files.map((file, index) => {
      const key = byId(`key-${index}`).value.trim();
      return replacing && index === 0 ? upload(file, key, roles, forReplaced) : upload(file, prefix + key, roles, named);
    });
    clearChoice();
    // Each upload names its readers afresh: the next file is not shared with this one's groups by mistake.
    for (const box of byId("upload-form").querySelectorAll(".checks input")) box.checked = false;
    await Promise.all(jobs);
  }

  async function upload(file, key, roles, writers) {
    const line = el("li", {}, `${key}: asking for an upload URL…`);
    byId("upload-progress").prepend(line);
    const show = (text, state = "") => {
      line.textContent = `${key}: ${text}`;
      line.className = state;
    };
    try {
      const grant = await api.createUpload(key, roles, file.size, writers);
      const before = await api.document(grant.doc_id).catch(() => null); // the version being replaced, if any
      show(`uploading ${size(file.size)}…`);
      await putFile(grant, file);
      show("uploaded; waiting for it to be indexed…");
      const doc = await settled(grant.doc_id, before?.updated_at, show);
      if (doc.status === "indexed") show(`indexed (${doc.chunk_count} chunk${doc.chunk_count === 1 ? "" : "s"})`, "done");
      else show(`failed: ${doc.error}`, "failed");
    } catch (error) {
      show(`not uploaded: ${error.message}`, "failed");
    }
  }

  /** The document once its new version is indexed or failed. */
  async function settled(docId, previousUpdate, show) {
    const deadline = Date.now() + POLL_LIMIT_MS;
    while (Date.now() < deadline) {
      const doc = await api.document(docId).catch((error) => {
        if (error.status === 404) return null; // not recorded yet
        throw error;
      });
      if (doc && doc.updated_at !== previousUpdate) {
        if (doc.status === "indexed" || doc.status === "failed") return doc;
        show(`${doc.status}…`);
      }
      await sleep(POLL_MS);
    }
    throw new Error("not indexed after 5 minutes; its status is in Documents");
  }

  function clearChoice() {
    files = [];
    replacing = null;
    byId("replacing").hidden = true;
    showKeepWriters(false);
    byId("upload-files").replaceChildren();
    byId("chosen-files").textContent = "";
    byId("file-input").value = "";
  }

  return {
    /** Nothing of the last user's uploads stays in the page. */
    reset() {
      clearChoice();
      byId("upload-progress").replaceChildren();
      byId("upload-alert").textContent = "";
    },
    /** Offer the groups the user holds as reader and writer roles. */
    setGroups(groups) {
      for (const [boxes, kind] of [["reader-role-boxes", "reader"], ["writer-role-boxes", "writer"]]) {
        const keep = new Set(checked(boxes));
        byId(boxes).replaceChildren(...groups.map((group) => roleBox(kind, group, keep.has(group))));
      }
      keptWriters(replacing !== null && byId("keep-writers").checked);
      if (!groups.length) byId("upload-alert").textContent = "You are in no group, so nobody could read what you upload.";
    },
    /** The next file chosen replaces the document at `key`. */
    replace(key) {
      replacing = key;
      byId("replacing").textContent = `Replacing ${key}: drop or choose its new file.`;
      byId("replacing").hidden = false;
      showKeepWriters(true);
      byId("upload-files").replaceChildren();
      files = [];
    },
  };
}

/** While replacing: keep the document's writers (the group boxes off), or choose them anew. */
function showKeepWriters(shown) {
  byId("keep-writers-choice").hidden = !shown;
  byId("keep-writers").checked = true;
  keptWriters(shown);
}

function keptWriters(kept) {
  for (const box of byId("writer-role-boxes").querySelectorAll("input")) box.disabled = kept;
}

function roleBox(kind, group, isChecked) {
  const id = `${kind}-${group}`;
  return el("label", { class: "check", for: id }, el("input", { type: "checkbox", id, value: group, checked: isChecked }), ` ${group}`);
}

function size(bytes) {
  return bytes < 1024 ? `${bytes} B` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KB` : `${(bytes / 1048576).toFixed(1)} MB`;
}
