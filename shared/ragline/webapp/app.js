// The app: sign-in, then three views (Ask, Documents, Upload) chosen by the URL's #fragment.
import { createApi } from "./api.js";
import { setUpAsk } from "./ask.js";
import { createAuth, loadConfig } from "./auth.js";
import { byId, say } from "./dom.js";
import { setUpDocuments } from "./documents.js";
import { setUpPassage } from "./passage.js";
import { setUpUpload } from "./upload.js";

const VIEWS = ["ask", "documents", "upload"];

async function main() {
  let config;
  try {
    config = await loadConfig();
  } catch (error) {
    say("notice", `The app cannot start: ${error.message}.`);
    return;
  }
  const auth = createAuth(config);
  const api = createApi(config.api_url, () => auth.session()?.token, () => {
    auth.forget();
    forgetViews();
    render("Your sign-in has ended: sign in again.");
  });
  const ask = setUpAsk(api, setUpPassage(api));
  const upload = setUpUpload(api);
  const documents = setUpDocuments(api, {
    onReplace(key) {
      upload.replace(key);
      location.hash = "#upload";
    },
  });
  /** Nothing of one user's session stays in the page for the next. */
  const forgetViews = () => [ask, documents, upload].forEach((view) => view.reset());
  setUpSignIn(config, auth, render, forgetViews);
  byId("tabs").addEventListener("click", (event) => {
    if (event.target.hash === location.hash) render(); // the view shown: look again (the list may have changed)
  });
  window.addEventListener("hashchange", () => {
    render();
    byId(`${currentView()}-title`)?.focus(); // a screen reader hears which view it is in
  });

  try {
    await auth.completeHostedSignIn();
  } catch (error) {
    say("sign-in-alert", error.message);
  }
  render();

  /** Show the sign-in, or the view the URL names, for whoever is signed in. */
  function render(message = "") {
    say("notice", message);
    const session = auth.session();
    byId("sign-in").hidden = session !== null;
    for (const id of ["who", "sign-out", "tabs"]) byId(id).hidden = session === null;
    const view = currentView();
    for (const id of VIEWS) byId(id).hidden = session === null || id !== view;
    if (session === null) {
      byId("local-sign-in").hidden = config.auth !== "local";
      byId("hosted-sign-in").hidden = config.auth !== "cognito";
      return;
    }
    say("who-user", session.user);
    say("who-groups", session.groups.length ? `in ${session.groups.join(", ")}` : "in no group");
    for (const link of byId("tabs").querySelectorAll("a")) {
      if (link.hash === `#${view}`) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    if (view === "documents") documents.load();
    if (view === "upload") upload.setGroups(session.groups);
  }
}

function currentView() {
  const named = location.hash.slice(1);
  return VIEWS.includes(named) ? named : "ask";
}

function setUpSignIn(config, auth, render, forgetViews) {
  byId("local-sign-in").addEventListener("submit", async (event) => {
    event.preventDefault();
    const user = byId("user").value.trim();
    const groups = byId("groups").value.split(",").map((group) => group.trim()).filter(Boolean);
    say("sign-in-alert", "");
    try {
      await auth.signInLocally(user, groups);
    } catch (error) {
      say("sign-in-alert", `Could not sign in: ${error.message}`);
      return;
    }
    render();
    byId(currentView() === "ask" ? "question" : `${currentView()}-title`).focus();
  });
  byId("hosted-sign-in-button").addEventListener("click", () => auth.startHostedSignIn());
  byId("sign-out").addEventListener("click", () => {
    forgetViews();
    if (!auth.signOut()) {
      render("Signed out.");
      byId(config.auth === "local" ? "user" : "hosted-sign-in-button").focus();
    }
  });
}

main();
