// mumba.js: what an app's page uses to reach its own daemon through the host.
//
//   import * as mumba from "/_mumba/mumba.js";
//   const reply = await mumba.call("hello.v1.Greeter/SayHello", {name: "Ann"});
//   const res = await mumba.route("hello://greet?name=Ann");   // a fetch Response
//   mumba.on("tick", (data) => console.log(data));             // daemon's app.Emit
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
