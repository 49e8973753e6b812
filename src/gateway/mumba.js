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

/** Calls an exported method of this app's daemon with a JSON request; resolves to the JSON reply. */
export async function call(method, request = {}) {
  const res = await fetch("/_mumba/call/" + method, {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify(request),
  });
  if (!res.ok) throw await failure(res);
  return res.json();
}

/**
 * Requests a route of this app: "hello://greet?name=Ann", "mumba://<id>/greet" or a
 * plain path "/greet". `init` is fetch's (method, headers, body). Resolves to the
 * Response, whatever its status.
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
  return fetch(path, init);
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

// ---- Events the daemon emits. ----

const handlers = new Map();
let socket = null;
let retry = 250;

function connect() {
  socket = new WebSocket("ws://" + location.host + "/_mumba/events");
  socket.onopen = () => { retry = 250; };
  socket.onmessage = (msg) => {
    let frame;
    try { frame = JSON.parse(msg.data); } catch (e) { return; }
    for (const fn of handlers.get(frame.event) || []) fn(frame.data);
    for (const fn of handlers.get("*") || []) fn(frame.data, frame.event);
  };
  socket.onclose = () => {
    socket = null;
    if (handlers.size) setTimeout(connect, retry = Math.min(retry * 2, 5000));
  };
}

/** Runs `fn(data)` for each event `name` the daemon emits ("*" for all: fn(data, name)). Returns an unsubscribe function. */
export function on(name, fn) {
  if (!handlers.has(name)) handlers.set(name, new Set());
  handlers.get(name).add(fn);
  if (!socket) connect();
  return () => handlers.get(name)?.delete(fn);
}

/** Resolves once the events socket is open (events emitted before that are not seen). */
export function ready() {
  if (!socket) connect();
  if (socket.readyState === WebSocket.OPEN) return Promise.resolve();
  return new Promise((resolve) => socket.addEventListener("open", () => resolve(), {once: true}));
}
