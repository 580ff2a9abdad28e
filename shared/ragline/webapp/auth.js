// Sign-in, in one of two modes named by config.json:
//   {"auth": "local"}: the local stack's form; POST /local/sign-in signs a token with the stack's key.
//   {"auth": "cognito", "cognito": {domain, client_id, redirect_uri, scopes}}: Cognito's hosted UI, the
//   authorization code flow with PKCE (a public client: no secret in the page).
// The ID token lives in sessionStorage: it ends with the tab, and other tabs and sites cannot read it.

const TOKEN = "ragline.id_token";
const PENDING = "ragline.sign_in"; // {state, verifier} of a hosted-UI sign-in under way in this tab

export async function loadConfig() {
  const response = await fetch("config.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`config.json answered ${response.status}`);
  const config = await response.json();
  config.api_url = (config.api_url ?? "").replace(/\/+$/, "");
  return config;
}

/** The claims of a JWT, read without checking its signature (the API checks it; the page only shows them). */
export function claimsOf(token) {
  const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "="));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (char) => char.charCodeAt(0))));
}

/** Cognito groups as the token holds them: a list, or (as some authorizers render them) "a,b". */
export function groupsOf(claims) {
  const groups = claims["cognito:groups"] ?? [];
  return Array.isArray(groups) ? groups : String(groups).split(",").filter(Boolean);
}

export function createAuth(config) {
  const cognito = config.cognito ?? {};
  const domain = (cognito.domain ?? "").replace(/\/+$/, "");

  /** {token, user, groups} while signed in with an unexpired token, else null. */
  function session() {
    const token = sessionStorage.getItem(TOKEN);
    if (!token) return null;
    try {
      const claims = claimsOf(token);
      if (typeof claims.exp === "number" && claims.exp * 1000 <= Date.now()) throw new Error("expired");
      return { token, user: claims["cognito:username"] ?? claims.email ?? claims.sub, groups: groupsOf(claims) };
    } catch {
      sessionStorage.removeItem(TOKEN);
      return null;
    }
  }

  function forget() {
    sessionStorage.removeItem(TOKEN);
  }

  async function signInLocally(user, groups) {
    const response = await fetch(`${config.api_url}/local/sign-in`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user, groups }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok || !body.token) throw new Error(body.message ?? `sign-in failed (${response.status})`);
    sessionStorage.setItem(TOKEN, body.token);
  }

  /** Off to the hosted UI; it comes back to redirect_uri with ?code=&state=. */
  async function startHostedSignIn() {
    const state = randomText(16);
    const verifier = randomText(32);
    sessionStorage.setItem(PENDING, JSON.stringify({ state, verifier }));
    const query = new URLSearchParams({
      response_type: "code",
      client_id: cognito.client_id,
      redirect_uri: cognito.redirect_uri,
      scope: (cognito.scopes ?? ["openid"]).join(" "),
      state,
      code_challenge: await challengeOf(verifier),
      code_challenge_method: "S256",
    });
    location.assign(`${domain}/oauth2/authorize?${query}`);
  }

  /** Back from the hosted UI: check the state, exchange the code. False when this page load is not a return. */
  async function completeHostedSignIn() {
    const query = new URLSearchParams(location.search);
    if (config.auth !== "cognito" || !(query.has("code") || query.has("error"))) return false;
    const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? "null");
    sessionStorage.removeItem(PENDING);
    history.replaceState(null, "", location.pathname + location.hash); // the code is single-use: out of history
    if (query.has("error")) throw new Error(`Sign-in failed: ${query.get("error_description") ?? query.get("error")}`);
    if (!pending || query.get("state") !== pending.state) {
      throw new Error("Sign-in failed: the answer does not belong to a sign-in started in this tab. Sign in again.");
    }
    const response = await fetch(`${domain}/oauth2/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        client_id: cognito.client_id,
        code: query.get("code"),
        redirect_uri: cognito.redirect_uri,
        code_verifier: pending.verifier,
      }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok || !body.id_token) {
      throw new Error(`Sign-in failed: ${body.error_description ?? body.error ?? `the token endpoint answered ${response.status}`}`);
    }
    sessionStorage.setItem(TOKEN, body.id_token);
    return true;
  }

  /** Forget the token; with Cognito, end the hosted UI's session too (it comes back to logout_uri). */
  function signOut() {
    forget();
    if (config.auth !== "cognito") return false;
    const query = new URLSearchParams({
      client_id: cognito.client_id,
      logout_uri: cognito.logout_uri ?? cognito.redirect_uri,
    });
    location.assign(`${domain}/logout?${query}`);
    return true;
  }

  return { session, forget, signInLocally, startHostedSignIn, completeHostedSignIn, signOut };
}

function base64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomText(size) {
  return base64url(crypto.getRandomValues(new Uint8Array(size)));
}

async function challengeOf(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}
