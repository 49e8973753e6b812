// The home app: the host's Control and Distribution APIs through mumba.js, like
// any app calls its daemon, and home's own routes (/api/...) for what those do
// not say: icons, seeding, updates, installs and logs.
import * as mumba from "/_mumba/mumba.js";

const $ = (id) => document.getElementById(id);
const Control = "mumba.host.v1.Control/";

const icons = new Map();  // "id version" -> data: URL, or null when the app has none.
let refreshing = null;

function showError(e) {
  $("error").textContent = e ? String(e.message || e) : "";
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.dataset[k.slice(5)] = v;
    else if (k.includes("-")) e.setAttribute(k, String(v));
    else e[k] = v;
  }
  e.append(...children.filter((c) => c !== null && c !== undefined));
  return e;
}

// A button whose action runs once at a time; errors show at the bottom. `key`
// finds it again after the list is redrawn, so keyboard focus stays on it.
function button(label, key, action, cls = "") {
  const b = el("button", {type: "button", class: cls, "data-action": key.split(":")[0], "data-key": key}, label);
  b.addEventListener("click", async () => {
    b.disabled = true;
    try {
      await action(b);
      showError(null);
    } catch (e) {
      showError(e);
    } finally {
      b.disabled = false;
      refresh();
    }
  });
  return b;
}

function bytes(n) {
  n = Number(n) || 0;
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return (i === 0 ? String(n) : n.toFixed(n < 10 ? 1 : 0)) + " " + units[i];
}

function shortAddress(id) {
  const key = id.replace("mumba://", "");
  return "mumba://" + key.slice(0, 6) + "…" + key.slice(-6);
}

async function copy(text, b) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Without clipboard permission: the old way, from a selected text field.
    const t = el("textarea", {value: text});
    document.body.append(t);
    t.select();
    document.execCommand("copy");
    t.remove();
  }
  b.textContent = "Copied";
  setTimeout(() => (b.textContent = "Copy"), 1500);
}

function iconFor(app, info) {
  const fallback = el("div", {class: "icon fallback", "aria-hidden": true}, (app.name[0] || "?").toUpperCase());
  let hue = 0;
  for (const c of app.id) hue = (hue * 31 + c.charCodeAt(0)) % 360;
  fallback.style.background = `hsl(${hue} 45% 45%)`;
  const key = app.id + " " + app.version;
  const src = icons.get(key);
  if (src) return el("img", {class: "icon", src, alt: ""});
  if (info?.icon && !icons.has(key)) {
    icons.set(key, null);
    mumba.route("/api/icon?app=" + encodeURIComponent(app.id)).then(async (res) => {
      if (!res.ok) return;
      icons.set(key, (await res.json()).src);
      const old = document.querySelector(`li[data-id="${app.id}"] .icon`);
      if (old) old.replaceWith(el("img", {class: "icon", src: icons.get(key), alt: ""}));
    });
  }
  return fallback;
}

async function showLogs(app) {
  const res = await mumba.route("/api/logs?app=" + encodeURIComponent(app.id) + "&lines=200");
  const body = await res.json();
  if (!res.ok) throw new Error(body.error);
  $("logs-app").textContent = app.name;
  $("logs").textContent = body.log || "(empty)";
  $("logs-section").hidden = false;
  $("logs").focus();
}

function permissions(app) {
  const perms = app.permissions || [];
  if (perms.length === 0) return el("span", {class: "perms-none"}, "asks for nothing");
  return el("ul", {class: "perms"}, ...perms.map((p) => {
    const verb = p.granted ? "revoke" : "grant";
    const b = button(p.granted ? "Revoke" : "Grant", verb + ":" + p.ask, () =>
      mumba.call(Control + "Permissions", {app: app.id, [verb]: [p.ask]}), "small");
    b.setAttribute("aria-label", `${p.granted ? "Revoke" : "Grant"} ${p.description} for ${app.name}`);
    return el("li", {class: "perm " + (p.granted ? "granted" : "revoked"), "data-ask": p.ask,
                     title: p.granted ? "granted" : "not granted"},
              el("span", {}, p.description), b);
  }));
}

function network(info) {
  if (!info?.network) return el("span", {class: "net"}, "installed from a folder, not shared");
  const parts = [];
  if (info.published) parts.push("published here");
  parts.push(info.seeded ? "seeded here" : "not seeded");
  if (info.peers >= 0) parts.push(`${info.peers} peer${info.peers === 1 ? "" : "s"} in the DHT`);
  return el("span", {class: "net", "data-seeded": String(!!info.seeded), "data-peers": String(info.peers ?? -1)},
            parts.join(" · "));
}

function row(app, info, windows) {
  const running = app.state === "running" || app.state === "starting";
  const state = el("span", {class: "state state-" + app.state, title: app.error || ""}, app.state);
  if (windows > 0) state.title = `${windows} window(s) open`;
  const quota = Number(app.quota_bytes) || 0;
  const used = Number(app.storage_bytes) || 0;
  const storage = el("span", {class: "storage"}, el("span", {class: "label"}, "Storage"),
                     quota ? `${bytes(used)} of ${bytes(quota)} ` : `${bytes(used)} `,
                     quota ? el("meter", {min: 0, max: quota, value: used, high: quota * 0.9}) : null);
  const update = info?.update;
  const li = el("li", {class: "app", "data-app": app.name, "data-id": app.id},
    iconFor(app, info),
    el("div", {class: "title"}, el("span", {class: "name"}, app.name), el("span", {class: "version"}, app.version),
       state),
    el("div", {class: "actions"},
       button("Open", "launch", () => mumba.call(Control + "Launch", {app: app.id}), "primary"),
       running ? button("Stop", "stop", () => mumba.call(Control + "Stop", {app: app.id}))
               : button("Start", "start", () => mumba.call(Control + "Start", {app: app.id})),
       button("Logs", "logs", () => showLogs(app)),
       button("Uninstall", "uninstall", async () => {
         if (await ask(`Uninstall ${app.name}?`, ["Its data is kept; installing it again finds it."],
                       "Uninstall")) {
           await mumba.call(Control + "Uninstall", {app: app.id});
         }
       })),
    el("div", {class: "desc"}, app.description || ""),
    el("div", {class: "line"},
       el("span", {}, el("span", {class: "label"}, "Address"),
          el("code", {class: "address", title: app.id}, shortAddress(app.id)), " ",
          button("Copy", "copy", (b) => copy(app.id, b), "small")),
       storage, network(info)),
    el("div", {class: "line perm-line"}, el("span", {class: "label"}, "Permissions"), permissions(app)),
    update ? el("div", {class: "line"},
                el("span", {class: "update"},
                   `Update: ${app.version} → ${update.version} (${bytes(update.size)}) `,
                   button("Update", "update", () => startUpdate(app, false), "small primary"))) : null,
  );
  return li;
}

function applyFilter() {
  const q = $("filter").value.trim().toLowerCase();
  let shown = 0;
  for (const li of $("apps").children) {
    li.hidden = q !== "" && !li.dataset.app.toLowerCase().includes(q);
    if (!li.hidden) shown++;
  }
  $("no-match").hidden = shown > 0 || $("apps").children.length === 0;
}

async function refresh() {
  if (refreshing) return refreshing;
  refreshing = (async () => {
    try {
      const [status, list, extra, windows] = await Promise.all([
        mumba.call(Control + "HostStatus", {}),
        mumba.call(Control + "List", {}),
        mumba.route("/api/apps").then((r) => r.json()),
        mumba.call(Control + "ListWindows", {}),
      ]);
      $("host").textContent = `host ${status.version} · ${status.apps_running || 0} of ${status.apps_installed || 0} apps running`;
      const apps = list.apps || [];
      const open = {};
      for (const w of windows.windows || []) open[w.app_id] = (open[w.app_id] || 0) + 1;
      // Redrawn only where something changed, and focus goes back to the same button.
      const focused = document.activeElement?.closest?.("li.app") ? document.activeElement : null;
      const focusKey = focused && [focused.closest("li.app").dataset.id, focused.dataset.key];
      const old = new Map([...$("apps").children].map((li) => [li.dataset.id, li]));
      const rows = apps.map((app) => {
        const info = extra.apps?.[app.id];
        const sig = JSON.stringify([app, info, open[app.id] || 0, icons.get(app.id + " " + app.version) || ""]);
        const prev = old.get(app.id);
        if (prev && prev.dataset.sig === sig) return prev;
        const li = row(app, info, open[app.id] || 0);
        li.dataset.sig = sig;
        return li;
      });
      $("apps").replaceChildren(...rows);
      if (focusKey && !document.activeElement?.closest?.("li.app")) {
        $("apps").querySelector(`li[data-id="${focusKey[0]}"] [data-key="${CSS.escape(focusKey[1] || "")}"]`)?.focus();
      }
      $("no-apps").hidden = apps.length > 0;
      applyFilter();
      document.body.dataset.ready = "true";
    } catch (e) {
      showError(e);
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

// An in-page question with a list; resolves true for yes. Escape or "Don't"
// says no; focus stays inside while it is open and goes back where it was.
function ask(title, items, yesLabel = "Grant and continue") {
  const dialog = $("asks");
  const back = document.activeElement;
  $("asks-title").textContent = title;
  $("asks-list").replaceChildren(...items.map((i) => el("li", {}, i)));
  $("asks-yes").textContent = yesLabel;
  dialog.hidden = false;
  $("asks-no").focus();
  return new Promise((resolve) => {
    const done = (yes) => {
      dialog.hidden = true;
      dialog.removeEventListener("keydown", keys);
      $("asks-yes").onclick = $("asks-no").onclick = null;
      back?.focus?.();
      resolve(yes);
    };
    const keys = (ev) => {
      if (ev.key === "Escape") {
        ev.preventDefault();
        done(false);
      } else if (ev.key === "Tab") {
        ev.preventDefault();
        (document.activeElement === $("asks-yes") ? $("asks-no") : $("asks-yes")).focus();
      }
    };
    dialog.addEventListener("keydown", keys);
    $("asks-yes").onclick = () => done(true);
    $("asks-no").onclick = () => done(false);
  });
}

// "<name> <version> asks for: a; b (say yes ...)" or "... asks for more than 0.1.0: a; b (...)".
function parseAsks(error) {
  const m = error.match(/^(.*?) asks for(?: more than [^:]+)?: (.*?)(?: \([^()]*\))?$/);
  if (!m) return null;
  return {what: m[1], asks: m[2].split("; ")};
}

$("lookup").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("found").hidden = true;
  $("install-status").textContent = "looking up...";
  try {
    const item = await mumba.call("mumba.host.v1.Distribution/Resolve",
                                  {address: $("address").value.trim(), count_seeders: true});
    $("found-title").textContent = `${item.name} ${item.version}`;
    $("found-text").textContent =
        `${item.name} ${item.version}, ${bytes(item.size)}, published by ${shortAddress(item.publisher)}` +
        (item.seeders >= 0 ? `, ${item.seeders} seeder(s)` : "");
    const facts = [["Name", item.name], ["Version", item.version], ["Publisher", item.publisher],
                   ["Size", bytes(item.size)], ["Seeders", item.seeders >= 0 ? String(item.seeders) : "not known"]];
    $("found-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
    $("found").dataset.address = item.address;
    $("found").hidden = false;
    $("install-status").textContent = "";
    $("install").focus();
  } catch (e) {
    $("install-status").textContent = "";
    showError(e);
  }
});

async function install(address, accept) {
  $("found").hidden = true;
  $("install-status").textContent = accept ? "installing..." : "fetching...";
  const res = await mumba.route("/api/install?address=" + encodeURIComponent(address) + (accept ? "&accept=1" : ""),
                                {method: "POST"});
  if (!res.ok) showError(new Error((await res.json()).error));
}

async function startUpdate(app, accept) {
  $("install-status").textContent = `updating ${app.name}...`;
  const res = await mumba.route("/api/update?app=" + encodeURIComponent(app.id) + (accept ? "&accept=1" : ""),
                                {method: "POST"});
  if (!res.ok) throw new Error((await res.json()).error);
}

$("install").addEventListener("click", () => install($("found").dataset.address || $("address").value.trim(), false));
$("cancel-install").addEventListener("click", () => {
  $("found").hidden = true;
  $("address").focus();
});
$("close-logs").addEventListener("click", () => ($("logs-section").hidden = true));

function progress(kind, e) {
  const bar = $("install-progress");
  if (e.phase === "downloading" && Number(e.total) > 0) {
    bar.hidden = false;
    bar.value = Number(e.done) / Number(e.total);
    const rate = (e.rate / 1e6).toFixed(1);
    $("install-status").textContent =
        `downloading ${e.name}: ${(bar.value * 100).toFixed(0)}%, ${rate} MB/s, ${e.peers} peer(s)`;
    return false;
  }
  if (e.phase !== "failed" && e.phase !== "done" && e.phase !== "up-to-date") {
    $("install-status").textContent = e.phase + (e.name ? " " + e.name : "") + "...";
    return false;
  }
  bar.hidden = true;
  return true;
}

mumba.on("install", async (e) => {
  if (!progress("install", e)) return;
  const asks = e.phase === "failed" ? parseAsks(e.error) : null;
  if (e.phase === "done") {
    $("install-status").textContent = `installed ${e.name} ${e.version}`;
    refresh();
  } else if (asks) {
    // The same question `mumba install` asks, in the page: what it wants, and a yes.
    $("install-status").textContent = "";
    if (await ask(`Install ${asks.what}?`, asks.asks, "Grant and install")) install(e.address, true);
    else $("install-status").textContent = `not installed: ${asks.what} was not granted what it asks for`;
  } else {
    $("install-status").textContent = "install failed: " + e.error;
  }
});

mumba.on("update", async (e) => {
  if (!progress("update", e)) return;
  const asks = e.phase === "failed" ? parseAsks(e.error) : null;
  if (e.phase === "done") {
    $("install-status").textContent = `updated ${e.name} to ${e.version}`;
  } else if (e.phase === "up-to-date") {
    $("install-status").textContent = `${e.name} is up to date`;
  } else if (asks) {
    $("install-status").textContent = "";
    if (await ask(`Update to ${asks.what}? It asks for more than the version installed:`, asks.asks,
                  "Grant and update")) {
      startUpdate({id: e.app, name: e.name}, true).catch(showError);
    } else {
      $("install-status").textContent = `not updated: ${asks.what} was not granted what it asks for`;
    }
  } else {
    $("install-status").textContent = "update failed: " + e.error;
  }
  refresh();
});

// The keyboard: "/" goes to the filter, Enter there to the first app shown,
// Escape clears it.
$("filter").addEventListener("input", applyFilter);
$("filter").addEventListener("keydown", (ev) => {
  if (ev.key === "Escape") {
    $("filter").value = "";
    applyFilter();
  } else if (ev.key === "Enter") {
    ev.preventDefault();
    [...$("apps").children].find((li) => !li.hidden)?.querySelector("button")?.focus();
  }
});
document.addEventListener("keydown", (ev) => {
  const typing = ev.target.closest?.("input, textarea, [role=dialog]");
  if (ev.key === "/" && !typing) {
    ev.preventDefault();
    $("filter").focus();
  } else if (ev.key === "Escape" && !typing && !$("logs-section").hidden) {
    $("logs-section").hidden = true;
  }
});

await mumba.ready();
await refresh();
setInterval(refresh, 2000);
