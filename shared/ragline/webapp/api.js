// The HTTP API (README.md, "HTTP API"): every call carries the bearer token; an error is an ApiError with
// the API's status, code and message. A 401 means the token is gone or expired: onUnauthorized signs out.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The API at `baseUrl` ("" = this page's origin), as the holder of `token()`. */
export function createApi(baseUrl, token, onUnauthorized) {
  async function request(method, path, { body, params } = {}) {
    const url = new URL(baseUrl + path, location.href);
    for (const [name, value] of Object.entries(params ?? {})) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
    }
    const headers = { Authorization: `Bearer ${token()}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch {
      throw new ApiError(0, "unreachable", "The API does not answer: is the stack running?");
    }
    const decoded = await decode(response);
    if (response.status === 401) {
      onUnauthorized();
      throw new ApiError(401, "unauthorized", "Your sign-in has ended: sign in again.");
    }
    if (!response.ok) {
      throw new ApiError(response.status, decoded?.code ?? "", decoded?.message ?? response.statusText);
    }
    return decoded;
  }

  const documentPath = (docId) => `/documents/${encodeURIComponent(docId)}`;
  return {
    /** `explain`: each source comes with its explanation (README.md, "Why this passage?"). `history`: the
     * conversation so far, [{question, answer}], oldest first; /query only. */
    ask: (question, { retrieveOnly = false, explain = false, history = [] } = {}) =>
      request("POST", retrieveOnly ? "/retrieve" : "/query", {
        body: retrieveOnly || history.length === 0 ? { question, explain } : { question, explain, history },
      }),
    documents: (params) => request("GET", "/documents", { params }),
    document: (docId) => request("GET", documentPath(docId)),
    downloadLink: (docId) => request("GET", `${documentPath(docId)}/download`),
    remove: (docId) => request("DELETE", documentPath(docId)),
    /** `writers` undefined: a new document gets none, a replaced one keeps its own. */
    createUpload: (key, roles, size, writers) =>
      request("POST", "/documents", { body: writers === undefined ? { key, roles, size } : { key, roles, size, writers } }),
  };
}

/** PUT a file to the presigned URL of `POST /documents`, with exactly the headers it was signed with. */
export async function putFile(grant, file) {
  const headers = new Headers();
  for (const [name, value] of Object.entries(grant.headers)) {
    // Content-Length is the browser's to send (a script may not set it); it sends the file's size, the signed one.
    if (name.toLowerCase() !== "content-length") headers.set(name, value);
  }
  // Not signed, so any type will do; without one a server may take the bytes for a form.
  if (!headers.has("Content-Type")) headers.set("Content-Type", file.type || "application/octet-stream");
  let response;
  try {
    response = await fetch(grant.upload_url, { method: grant.method || "PUT", headers, body: file });
  } catch {
    throw new ApiError(0, "upload_failed", "the storage did not accept the upload (no answer, or refused by CORS)");
  }
  if (response.status === 412) {
    throw new ApiError(412, "changed", "someone wrote to this key since the upload was granted: try again");
  }
  if (!response.ok) throw new ApiError(response.status, "upload_failed", `the storage refused the upload (${response.status})`);
}

async function decode(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { message: text.slice(0, 300) };
  }
}
