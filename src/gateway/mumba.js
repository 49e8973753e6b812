// mumba.js: what an app's page uses to reach its own daemon through the host.
//
//   import * as mumba from "/_mumba/mumba.js";
//   const reply = await mumba.call("hello.v1.Greeter/SayHello", {name: "Ann"});
//   const res = await mumba.route("hello://greet?name=Ann");   // a fetch Response
//   mumba.on("tick", (data) => console.log(data));             // daemon's app.Emit
//   await mumba.kv.put("theme", "dark"); await mumba.kv.get("theme");
//   const {rows} = await mumba.sql.execute("SELECT id, body FROM notes WHERE id > ?", [10]);
//
// Every request goes to this page's own origin; the host refuses other apps' pages.
// Calls and small routes travel over the page's one WebSocket to the host when it
// is open, many at once; over HTTP otherwise. The answers are the same either way.

/** An error the host or the daemon returned; `code` is a gRPC code name. */
export class MumbaError extends Error {
  constructor(message, code, status) {
    super(message);
    this.name = "MumbaError";
    this.code = code;
    this.status = status;
  }
}

async function failure(res) {
  let body = {};
  try { body = await res.json(); } catch (e) { /* not JSON */ }
  return new MumbaError(body.error || res.statusText, body.code || "UNKNOWN", res.status);
}

/**
 * Calls an exported method of this app's daemon with a JSON request; resolves to the JSON reply.
 * Over the page's socket to the host when it is open (many calls in flight at once), over HTTP
 * otherwise and for requests larger than the socket takes; the same either way.
 */
export async function call(method, request = {}) {
  const body = JSON.stringify(request);
  if (socketTakesRequests()) {
    const id = nextId++;
    const frame = '{"id":' + id + ',"call":' + JSON.stringify(method) + "}\n" + body;
    if (fits(frame)) {
      const answer = await viaSocket(id, frame);
      if (answer) return answer.reply;
    }
  }
  const res = await fetch("/_mumba/call/" + method, {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body,
  });
  if (!res.ok) throw await failure(res);
  return res.json();
}

/**
 * Requests a route of this app: "hello://greet?name=Ann", "mumba://<id>/greet" or a
 * plain path "/greet". `init` is fetch's (method, headers, body). Resolves to the
 * Response, whatever its status. A route with no body or a small one (a string or
 * bytes) goes over the page's socket when it is open: the Response then has no
 * url, redirects are followed with fetch, and Set-Cookie is not applied.
 */
export async function route(url, init = {}) {
  let path = url;
  const m = /^([a-z0-9-]+):\/\/([^/?#]*)(.*)$/.exec(url);
  if (m) {
    const [, scheme, authority, rest] = m;
    const self = location.hostname.split(".")[0];
    const target = scheme === "mumba" ? authority : scheme;
    if (target !== self && target !== appName()) {
      throw new MumbaError("a page reaches only its own app's routes (" + url + ")", "PERMISSION_DENIED", 403);
    }
    path = scheme === "mumba" ? rest : "/" + authority + rest;
  }
  if (!path.startsWith("/")) path = "/" + path;
  return (await routeViaSocket(path, init)) || fetch(path, init);
}

const STANDARD_METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"];
const REDIRECTS = [301, 302, 303, 307, 308];

// The route over the page's socket, or null when it is to go over HTTP: the socket
// is not open, `init` asks for more than a method, headers and a string or bytes
// body, the frame is too large, or the path is not one of the app's routes.
async function routeViaSocket(path, init) {
  const {method: asked = "GET", headers, body, ...rest} = init;
  if (Object.keys(rest).length || !socketTakesRequests()) return null;
  const method = STANDARD_METHODS.includes(String(asked).toUpperCase()) ? String(asked).toUpperCase() : String(asked);
  let bytes;
  if (body === undefined || body === null) bytes = "";
  else if (typeof body === "string") bytes = body;
  else if (body instanceof ArrayBuffer) bytes = new Uint8Array(body);
  else if (ArrayBuffer.isView(body)) bytes = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  else return null;
  if ((method === "GET" || method === "HEAD") && bytes.length) return null;  // fetch's own TypeError.
  const url = new URL(path, location.origin);
  const list = [...new Headers(headers)];
  if (typeof body === "string" && !list.some(([name]) => name === "content-type")) {
    list.push(["content-type", "text/plain;charset=UTF-8"]);
  }
  const id = nextId++;
  const header = JSON.stringify({id, route: url.pathname + url.search, method, headers: list}) + "\n";
  let frame = header + bytes;
  if (typeof bytes !== "string") {
    const head = encoder.encode(header);
    frame = new Uint8Array(head.length + bytes.length);
    frame.set(head);
    frame.set(bytes, head.length);
  }
  if (!fits(frame)) return null;
  let answer;
  try {
    answer = await viaSocket(id, frame);
  } catch (e) {
    // The host's refusal is a Response, as over HTTP; a socket that closed is fetch's network error.
    if (!(e instanceof MumbaError) || e.closed) throw e;
    return new Response(JSON.stringify({error: e.message, code: e.code}) + "\n",
                        {status: e.status || 500, headers: {"content-type": "application/json"}});
  }
  if (!answer) return null;
  const replyHeaders = new Headers(answer.headers);
  if (REDIRECTS.includes(answer.status) && replyHeaders.has("location")) {
    const keep = answer.status === 307 || answer.status === 308 || (answer.status !== 303 && method !== "POST");
    return fetch(new URL(replyHeaders.get("location"), url).href, keep ? init : {headers});
  }
  if (answer.status < 200 || answer.status > 599) {
    return new Response(JSON.stringify({error: "the app answered with status " + answer.status, code: "INTERNAL"}) + "\n",
                        {status: 502, headers: {"content-type": "application/json"}});
  }
  const empty = [204, 205, 304].includes(answer.status) || method === "HEAD";
  return new Response(empty ? null : answer.body, {status: answer.status, headers: replyHeaders});
}

function appName() {
  const meta = document.querySelector('meta[name="mumba-app"]');
  return meta ? meta.content : location.hostname.split(".")[0];
}

// ---- Storage: the app's own stores, as its daemon has them (mumba.storage.v1). ----

function toBase64(text) {
  const bytes = typeof text === "string" ? new TextEncoder().encode(text) : new Uint8Array(text);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function fromBase64(b64) {
  return new TextDecoder().decode(Uint8Array.from(atob(b64 || ""), (c) => c.charCodeAt(0)));
}

// A database is created by its first write: reading one never written is empty.
function unwritten(e) {
  if (e instanceof MumbaError && e.code === "NOT_FOUND") return null;
  throw e;
}

/** The app's key-value databases (LMDB on the host). Keys and values are strings here (UTF-8). */
export const kv = {
  /** The value of `key`, or null (also when the database was never written). */
  async get(key, db = "main") {
    const r = await call("mumba.storage.v1.Kv/Get", {store: {db}, key: toBase64(key)}).catch(unwritten);
    return r && r.found ? fromBase64(r.value) : null;
  },
  async put(key, value, db = "main") {
    await call("mumba.storage.v1.Kv/Write", {store: {db}, ops: [{kind: "PUT", key: toBase64(key), value: toBase64(value)}]});
  },
  async delete(key, db = "main") {
    await call("mumba.storage.v1.Kv/Write", {store: {db}, ops: [{kind: "DELETE", key: toBase64(key)}]});
  },
  /** [[key, value], ...] of keys starting with `prefix`, in order (at most `limit`). */
  async scan(prefix = "", {db = "main", limit = 1000} = {}) {
    const r = await call("mumba.storage.v1.Kv/Scan", {store: {db}, prefix: toBase64(prefix), limit}).catch(unwritten);
    return ((r && r.pairs) || []).map((p) => [fromBase64(p.key), fromBase64(p.value)]);
  },
};

function sqlValue(v) {
  if (v === null || v === undefined) return {null: true};
  if (typeof v === "number") return Number.isInteger(v) ? {integer: String(v)} : {real: v};
  if (typeof v === "bigint") return {integer: String(v)};
  if (typeof v === "boolean") return {integer: v ? "1" : "0"};
  return {text: String(v)};
}

function jsValue(v) {
  if (!v || "null" in v) return null;
  if ("integer" in v) return Number(v.integer);
  if ("real" in v) return v.real;
  if ("text" in v) return v.text;
  if ("blob" in v) return Uint8Array.from(atob(v.blob), (c) => c.charCodeAt(0));
  return null;
}

/** The app's SQL databases (SQLite on the host). */
export const sql = {
  /**
   * Runs one statement with `params` bound to its ?s, in a transaction. Resolves to
   * {columns, rows (arrays), changes, lastInsertRowid}.
   */
  async execute(statement, params = [], db = "main") {
    const r = await call("mumba.storage.v1.Sql/Execute",
                         {store: {db}, statements: [{sql: statement, params: params.map(sqlValue)}]});
    const result = (r.results || [])[0] || {};
    return {
      columns: result.columns || [],
      rows: (result.rows || []).map((row) => (row.values || []).map(jsValue)),
      changes: Number(result.changes || 0),
      lastInsertRowid: Number(result.last_insert_rowid || 0),
    };
  },
};

// ---- The page's socket: events the daemon emits, and calls and routes. ----
//
// One WebSocket to the host (/_mumba/events, subprotocol "mumba.v1"). The host's
// first frame says how large a frame may be and how many requests may be in
// flight; past that many, requests wait here for a place. Frames are described in
// the host's src/gateway/page_frames.h.

const handlers = new Map();
let socket = null;
let retry = 250;
let closedAt = 0;
let limits = null;           // From the host's first frame; the socket takes requests once set.
let nextId = 1;
const inFlight = new Map();  // id -> {resolve, reject}
const waiting = [];          // Requests waiting for a place: {frame, resolve, reject}.
const encoder = new TextEncoder();

function connect() {
  closedAt = 0;
  socket = new WebSocket("ws://" + location.host + "/_mumba/events", "mumba.v1");
  socket.binaryType = "arraybuffer";
  socket.onopen = () => { retry = 250; };
  socket.onmessage = (msg) => {
    if (typeof msg.data !== "string") return settle(routeFrame(msg.data));
    let frame;
    try { frame = JSON.parse(msg.data); } catch (e) { return; }
    if ("id" in frame) return settle(frame);
    if (frame.hello) {
      limits = frame.hello;
      return;
    }
    if (!("event" in frame)) return;
    for (const fn of handlers.get(frame.event) || []) fn(frame.data);
    for (const fn of handlers.get("*") || []) fn(frame.data, frame.event);
  };
  socket.onclose = () => {
    socket = null;
    limits = null;
    closedAt = Date.now();
    // Whether requests already sent ran is unknown: they fail. Those still waiting
    // were never sent, and go over HTTP.
    const lost = new MumbaError("the page's socket to the host closed before the answer came", "UNAVAILABLE", 503);
    lost.closed = true;
    for (const p of inFlight.values()) p.reject(lost);
    inFlight.clear();
    for (const w of waiting.splice(0)) w.resolve(null);
    retry = Math.min(retry * 2, 5000);
    if (handlers.size) setTimeout(connect, retry);
  };
}

// True when the socket is open and the host has said its limits. Opens it for
// later requests when there is none (one that failed is not tried again for a
// while: requests go over HTTP meanwhile).
function socketTakesRequests() {
  if (!socket) {
    if (Date.now() - closedAt >= retry) connect();
    return false;
  }
  return limits !== null && socket.readyState === WebSocket.OPEN;
}

// True when `frame` (a string, or bytes) is no larger than the socket takes.
function fits(frame) {
  if (typeof frame !== "string") return frame.length <= limits.max_frame;
  if (frame.length * 3 <= limits.max_frame) return true;
  if (frame.length > limits.max_frame) return false;
  return encoder.encode(frame).length <= limits.max_frame;
}

// Sends `frame` (a string, or bytes for a binary frame) of request `id` on the
// socket, or waits for a place among the requests in flight. Resolves to the
// answer's frame, or to null when the request is to go over HTTP instead (nothing
// of it ran); rejects with the host's error.
function viaSocket(id, frame) {
  return new Promise((resolve, reject) => {
    const w = {id, frame, resolve, reject};
    if (inFlight.size < limits.max_in_flight) send(w);
    else waiting.push(w);
  });
}

function send(w) {
  inFlight.set(w.id, w);
  socket.send(w.frame);
}

// A route's answer, a binary frame: its JSON header line, then the body's bytes.
function routeFrame(data) {
  const bytes = new Uint8Array(data);
  const newline = bytes.indexOf(10);
  if (newline < 0) return null;
  let head;
  try { head = JSON.parse(new TextDecoder().decode(bytes.subarray(0, newline))); } catch (e) { return null; }
  head.body = bytes.slice(newline + 1);
  return head;
}

function settle(frame) {
  if (!frame) return;
  const p = inFlight.get(frame.id);
  if (!p) return;
  inFlight.delete(frame.id);
  if (frame.error !== undefined) p.reject(new MumbaError(frame.error, frame.code || "UNKNOWN", frame.status));
  else p.resolve(frame.fetch ? null : frame);
  while (waiting.length && socket && limits && inFlight.size < limits.max_in_flight) send(waiting.shift());
}

/** Runs `fn(data)` for each event `name` the daemon emits ("*" for all: fn(data, name)). Returns an unsubscribe function. */
export function on(name, fn) {
  if (!handlers.has(name)) handlers.set(name, new Set());
  handlers.get(name).add(fn);
  if (!socket) connect();
  return () => handlers.get(name)?.delete(fn);
}

/** Resolves once the page's socket is open (events emitted before that are not seen). */
export function ready() {
  if (!socket) connect();
  if (socket.readyState === WebSocket.OPEN) return Promise.resolve();
  return new Promise((resolve) => socket.addEventListener("open", () => resolve(), {once: true}));
}
