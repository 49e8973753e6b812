// The home app: the host's Control and Distribution APIs through mumba.js, like
// any app calls its daemon.
import * as mumba from "/_mumba/mumba.js";

const $ = (id) => document.getElementById(id);
const Control = "mumba.host.v1.Control/";

function showError(e) {
  $("error").textContent = e ? String(e.message || e) : "";
}

function button(label, action) {
  const b = document.createElement("button");
  b.textContent = label;
  b.dataset.action = label.toLowerCase();
  b.addEventListener("click", async () => {
    b.disabled = true;
    try {
      await action();
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

async function showLogs(app) {
  const res = await mumba.route("/api/logs?app=" + encodeURIComponent(app.id) + "&lines=200");
  const body = await res.json();
  if (!res.ok) throw new Error(body.error);
  $("logs-app").textContent = app.name;
  $("logs").textContent = body.log || "(empty)";
  $("logs-section").hidden = false;
}

function row(app) {
  const tr = document.createElement("tr");
  tr.dataset.app = app.name;
  const cells = [app.name, app.version, app.state];
  for (const text of cells) {
    const td = document.createElement("td");
    td.textContent = text;
    tr.append(td);
  }
  tr.children[2].className = "state-" + app.state;
  tr.children[2].classList.add("state");
  if (app.error) tr.children[2].title = app.error;
  const actions = document.createElement("td");
  const running = app.state === "running" || app.state === "starting";
  actions.append(
    running ? button("Stop", () => mumba.call(Control + "Stop", {app: app.id}))
            : button("Start", () => mumba.call(Control + "Start", {app: app.id})),
    button("Launch", () => mumba.call(Control + "Launch", {app: app.id})),
    button("Logs", () => showLogs(app)),
    button("Uninstall", async () => {
      if (confirm("Uninstall " + app.name + "? Its data is kept.")) {
        await mumba.call(Control + "Uninstall", {app: app.id});
      }
    }),
  );
  tr.append(actions);
  return tr;
}

async function refresh() {
  try {
    const [status, list] = await Promise.all([
      mumba.call(Control + "HostStatus", {}),
      mumba.call(Control + "List", {}),
    ]);
    $("host").textContent = `host ${status.version}, ${status.apps_running} of ${status.apps_installed} apps running`;
    const apps = list.apps || [];
    $("apps").tBodies[0].replaceChildren(...apps.map(row));
    $("no-apps").hidden = apps.length > 0;
    document.body.dataset.ready = "true";
  } catch (e) {
    showError(e);
  }
}

$("lookup").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("found").hidden = true;
  $("install-status").textContent = "looking up...";
  try {
    const item = await mumba.call("mumba.host.v1.Distribution/Resolve", {address: $("address").value.trim(), count_seeders: true});
    const size = (Number(item.size) / 1e6).toFixed(1);
    $("found-text").textContent =
        `${item.name} ${item.version}, ${size} MB, published by ${item.publisher}` +
        (item.seeders >= 0 ? `, ${item.seeders} seeder(s)` : "");
    $("found").hidden = false;
    $("install-status").textContent = "";
  } catch (e) {
    $("install-status").textContent = "";
    showError(e);
  }
});

async function install(address, accept) {
  $("found").hidden = true;
  const res = await mumba.route("/api/install?address=" + encodeURIComponent(address) + (accept ? "&accept=1" : ""),
                                {method: "POST"});
  if (!res.ok) showError(new Error((await res.json()).error));
}

$("install").addEventListener("click", () => install($("address").value.trim(), false));

mumba.on("install", (e) => {
  const bar = $("install-progress");
  if (e.phase === "downloading" && Number(e.total) > 0) {
    bar.hidden = false;
    bar.value = Number(e.done) / Number(e.total);
    const rate = (e.rate / 1e6).toFixed(1);
    $("install-status").textContent = `downloading ${e.name}: ${(bar.value * 100).toFixed(0)}%, ${rate} MB/s, ${e.peers} peer(s)`;
  } else if (e.phase === "done") {
    bar.hidden = true;
    $("install-status").textContent = `installed ${e.name} ${e.version}`;
    refresh();
  } else if (e.phase === "failed" && e.error.includes(" asks for: ")) {
    // The same question `mumba install` asks: what the app wants, and a yes.
    bar.hidden = true;
    $("install-status").textContent = "";
    if (confirm(e.error.replace(/ \(say yes.*$/, "") + ".\n\nGrant it and install?")) install(e.address, true);
    else $("install-status").textContent = "not installed";
  } else if (e.phase === "failed") {
    bar.hidden = true;
    $("install-status").textContent = "install failed: " + e.error;
  } else {
    $("install-status").textContent = e.phase + (e.name ? " " + e.name : "") + "...";
  }
});

await mumba.ready();
await refresh();
setInterval(refresh, 2000);
