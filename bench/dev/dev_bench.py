#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench/dev: how quick `mumba dev` makes an author's loop, and how long `mumba
doctor` takes, each beside a baseline from the same run. Run through
bench/dev/run.sh, which builds what this drives.

One host in a throw-away MUMBA_HOME runs a `mumba new` app whose page, once loaded,
stamps itself: after two animation frames (the new page is painted) it notes
Date.now() as `shown`, calls its daemon's SayHello and notes `live` when the reply
is back, then calls SayHello again with a name that carries the page's marker, both
times and the first reply. The daemon keeps every name in its key-value store, where
the bench reads the stamps (`mumba kv`). The page and the bench read the same wall
clock, so each figure is a stamp minus the moment the bench saved the file.

  ui edit      the marker in ui/index.html changed while `mumba dev APP --headless`
               runs; `shown` in the host's window, against the issue's 300 ms.
  baseline     a plain reload (Page.reload) of the same page, served the same way,
               in the bench's own headless Chromium, right after each ui edit.
  source edit  the daemon's greeting changed in src/main.cc; `live` is when the
               window's page has the new daemon's reply. After the build: from the
               newest file of build/bundle (what `mumba build` writes last) to
               `live`, against the issue's 2 s.
  baseline     the same edit to a second app of the same template, in rounds
               alternating with those of `mumba dev`, by bare commands: `mumba
               build`, `mumba install DIR/build/bundle` (the running daemon
               restarts on it), and the first `mumba call` that answers with the
               new greeting.
  doctor       `mumba doctor --json` with no host and with the host running,
               against the three programs it runs, run by hand: `mumba-host
               --version`, `chromium --version` and a bubblewrap jail of /bin/true.

Each figure is the median of the rounds (min and max beside it). Everything listens
on 127.0.0.1; the host starts no p2p node (nothing here needs one). On any exit,
error or Ctrl-C included, `mumba dev` gets SIGINT (then SIGKILL), the bench's
Chromium is closed and the host stopped, by PID if it must, and every folder made
is removed.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

# The integration tests' helpers: a host in a temporary home whose pids are kept
# and ended, bounded waits, and a DevTools client of its own.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tests/integration"))
import harness  # noqa: E402
from cdp import Browser  # noqa: E402
from harness import Home, wait_for  # noqa: E402

APP = "devb"
OTHER = "devc"  # The app of the bare rounds.
GREET = f"{APP}.v1.Greeter/SayHello"
UI_TARGET_MS = 300
SOURCE_TARGET_MS = 2000
COMMAND_TIMEOUT = 300

# Added to the scaffold's page: the stamps described above. `marker` is what the
# bench changes for a ui edit; a page opened with ?via=bench says so in its stamp.
PROBE = """
  <meta name="bench-marker" content="@MARKER@">
  <script type="module">
    import * as mumba from "/_mumba/mumba.js";
    const marker = document.querySelector('meta[name="bench-marker"]').content;
    const via = new URLSearchParams(location.search).get("via") || "window";
    requestAnimationFrame(() => requestAnimationFrame(async () => {
      const shown = Date.now();
      await mumba.ready();
      for (const until = Date.now() + 10000; Date.now() < until;) {
        try {
          const reply = await mumba.call("@GREET@", {name: "probe"});
          const live = Date.now();
          await mumba.call("@GREET@", {name: ["seen", marker, via, shown, live, reply.message].join("|")});
          return;
        } catch (e) {
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    }));
  </script>
</head>"""


def log(*args):
    print(*args, file=sys.stderr, flush=True)


class _Untested:
    """What Home registers its cleanup with; outside unittest, main's finally does."""

    def addCleanup(self, fn):
        pass


def mumba(home, *args, timeout=COMMAND_TIMEOUT):
    p = home.run(*args, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"mumba {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()}")
    return p.stdout


def stamps(home):
    """Every stamp the app's pages left: (marker, via, shown, live, message)."""
    out = []
    for line in mumba(home, "kv", APP, "scan", "greeted/seen|", "--json", "-n", "100000").splitlines():
        key = json.loads(line)["key"].split("|")
        out.append((key[1], key[2], int(key[3]) / 1000, int(key[4]) / 1000, key[5]))
    return out


def wait_stamp(home, marker, via, after, message=None, timeout=60):
    def found():
        for s in stamps(home):
            if s[0] == marker and s[1] == via and s[2] >= after and (message is None or s[4].startswith(message)):
                return s
        return None
    return wait_for(found, timeout, interval=0.1, what=f"the {via} page's stamp {marker}")


def write(path, text):
    """Writes `path` as an editor saves it, and returns the moment it was saved."""
    with open(path, "w") as f:
        f.write(text)
    return time.time()


def bundle_done(app):
    """When `mumba build` finished: the newest file of build/bundle (it writes each one anew)."""
    newest = 0.0
    for root, _, files in os.walk(os.path.join(app, "build", "bundle")):
        for name in files:
            newest = max(newest, os.stat(os.path.join(root, name)).st_mtime)
    return newest


def timed(argv, env=None):
    start = time.monotonic()
    p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr.strip()}")
    return (time.monotonic() - start) * 1000


def row(name, values, target=None, unit="ms"):
    if not values:
        return f"  {name:<46} (no rounds)"
    med = statistics.median(values)
    text = f"  {name:<46} {med:8.0f} {unit}   (min {min(values):.0f}, max {max(values):.0f}, n={len(values)})"
    if target is not None:
        text += f"   target <= {target} {unit}: {'met' if med <= target else 'MISSED'}"
    return text


class DevProcess:
    """`mumba dev APP --headless --yes`, its stderr kept line by line with the time
    each line came."""

    def __init__(self, home, app):
        self.proc = subprocess.Popen([harness.MUMBA, "dev", app, "--headless", "--yes"], env=home.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in iter(self.proc.stderr.readline, ""):
            self.lines.append((time.time(), line.rstrip("\n")))

    def said(self, text, after=0.0):
        return next((line for t, line in self.lines if t >= after and text in line), None)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def reported_ms(line):
    """The 'N ms after the change' that `mumba dev` prints for a reload."""
    try:
        return float(line.split(" ms after the change")[0].rsplit(" ", 1)[1])
    except (AttributeError, IndexError, ValueError):
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ui-rounds", type=int, default=10, help="ui edits (and plain reloads)")
    parser.add_argument("--source-rounds", type=int, default=3, help="source edits, and as many bare rebuilds")
    parser.add_argument("--doctor-rounds", type=int, default=5, help="doctor runs of each kind")
    args = parser.parse_args()

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    home = Home(_Untested())
    work = tempfile.mkdtemp(prefix="mdb-", dir="/tmp")
    dev = None
    browser = None
    try:
        with open("/proc/loadavg") as f:
            load = f.read().split()[:3]
        app = os.path.join(work, APP)
        mumba(home, "new", APP, "--dir", app)
        index = os.path.join(app, "ui", "index.html")
        with open(index) as f:
            page = f.read().replace("</head>", PROBE.replace("@GREET@", GREET), 1)
        write(index, page.replace("@MARKER@", "m0"))
        main_cc = os.path.join(app, "src", "main.cc")
        with open(main_cc) as f:
            source = f.read()

        # Doctor, with no host and then with one.
        doctor = {"none": [], "host": []}
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        bwrap = ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--cap-drop", "ALL", "--ro-bind",
                 "/", "/", "/bin/true"]
        parts = {"mumba-host --version": [], "chromium --version": [], "bwrap jail /bin/true": []}
        for _ in range(args.doctor_rounds):
            doctor["none"].append(timed([harness.MUMBA, "doctor", "--json"], home.env))
        mumba(home, "host", "start")
        for _ in range(args.doctor_rounds):
            doctor["host"].append(timed([harness.MUMBA, "doctor", "--json"], home.env))
            parts["mumba-host --version"].append(timed([harness.HOST, "--version"]))
            parts["chromium --version"].append(timed([chromium, "--version"]))
            parts["bwrap jail /bin/true"].append(timed(bwrap))
        log("doctor: done")

        # A second app of the same template for the bare rounds, so that they can
        # alternate with mumba dev's without its watch seeing them.
        other = os.path.join(work, OTHER)
        mumba(home, "new", OTHER, "--dir", other)
        mumba(home, "install", other, "--yes")
        mumba(home, "start", OTHER)
        other_cc = os.path.join(other, "src", "main.cc")
        with open(other_cc) as f:
            other_source = f.read()

        dev = DevProcess(home, app)
        wait_for(lambda: dev.said("mumba dev: watching") or dev.proc.poll() is not None, 600, interval=0.1,
                 what="mumba dev to build and open its window")
        if dev.proc.poll() is not None:
            raise RuntimeError("mumba dev ended: " + "\n".join(line for _, line in dev.lines[-10:]))
        wait_stamp(home, "m0", "window", 0)
        browser = Browser(_Untested())
        browser.set_cookie(**home.window_cookie(APP))
        port = home.json("host", "status")["gateway_port"]
        bench_page = browser.new_page(f"http://{APP}.localhost:{port}/?via=bench")
        wait_stamp(home, "m0", "bench", 0)

        ui = {"shown": [], "live": [], "reported": [], "reload_shown": [], "reload_live": []}
        for r in range(1, args.ui_rounds + 1):
            marker = f"m{r}"
            saved = write(index, page.replace("@MARKER@", marker))
            s = wait_stamp(home, marker, "window", saved)
            ui["shown"].append((s[2] - saved) * 1000)
            ui["live"].append((s[3] - saved) * 1000)
            line = wait_for(lambda: dev.said("ui changed", saved), 10, what="mumba dev's reload line")
            if (ms := reported_ms(line)) is not None:
                ui["reported"].append(ms)
            time.sleep(0.2)
            start = time.time()
            bench_page.send("Page.reload", {"ignoreCache": True})
            s = wait_stamp(home, marker, "bench", start)
            ui["reload_shown"].append((s[2] - start) * 1000)
            ui["reload_live"].append((s[3] - start) * 1000)
            log(f"ui round {r}: window shows it {ui['shown'][-1]:.0f} ms after the save; "
                f"a plain reload {ui['reload_shown'][-1]:.0f} ms")
            time.sleep(0.3)

        src = {"total": [], "after_build": [], "build": [], "reported": []}
        bare = {"build": [], "install": [], "live": []}
        for r in range(args.source_rounds):
            greeting = f"Dev{r}, "
            saved = write(main_cc, source.replace('"Hello, "', f'"{greeting}"'))
            s = wait_stamp(home, marker, "window", saved, greeting, timeout=COMMAND_TIMEOUT)
            built = bundle_done(app)
            src["total"].append((s[3] - saved) * 1000)
            src["after_build"].append((s[3] - built) * 1000)
            src["build"].append((built - saved) * 1000)
            line = wait_for(lambda: dev.said("rebuilt: reloaded", saved), 10, what="mumba dev's reload line")
            if (ms := reported_ms(line)) is not None:
                src["reported"].append(ms)
            log(f"source round {r}: live {s[3] - saved:.2f} s after the save, {s[3] - built:.2f} s after the build")
            time.sleep(0.5)

            # The same edit by hand: build, install the bundle, call until the new reply.
            greeting = f"Bare{r}, "
            saved = write(other_cc, other_source.replace('"Hello, "', f'"{greeting}"'))
            mumba(home, "build", other)
            built = time.time()
            mumba(home, "install", os.path.join(other, "build", "bundle"), "--yes")
            installed = time.time()
            wait_for(lambda: json.loads(mumba(home, "call", OTHER, f"{OTHER}.v1.Greeter/SayHello", '{"name":"x"}'))
                     ["message"].startswith(greeting), 30, interval=0.01, what="the new reply")
            live = time.time()
            bare["build"].append((built - saved) * 1000)
            bare["install"].append((installed - built) * 1000)
            bare["live"].append((live - built) * 1000)
            log(f"bare round {r}: build {built - saved:.2f} s, install {installed - built:.2f} s, "
                f"live {live - built:.2f} s after the build")
            time.sleep(0.5)

        print(f"mumba dev and mumba doctor ({time.strftime('%Y-%m-%d %H:%M:%S')}, load {' '.join(load)} at the start, "
              f"{os.cpu_count()} CPUs); medians in ms")
        print("UI edit (ui/index.html saved while `mumba dev --headless` runs):")
        print(row("new page painted in the host's window", ui["shown"], UI_TARGET_MS))
        print(row("  and its daemon answered it", ui["live"]))
        print(row("  mumba dev's own 'ms after the change'", ui["reported"]))
        print(row("baseline: Page.reload of that page, painted", ui["reload_shown"]))
        print(row("  and its daemon answered it", ui["reload_live"]))
        print("Source edit (src/main.cc's greeting changed):")
        print(row("mumba dev: build (save to build/bundle)", src["build"]))
        print(row("mumba dev: build done -> window has new reply", src["after_build"], SOURCE_TARGET_MS))
        print(row("mumba dev: save -> window has new reply", src["total"]))
        print(row("  mumba dev's own 'ms after the change'", src["reported"]))
        print(row("baseline: mumba build", bare["build"]))
        print(row("baseline: mumba install build/bundle", bare["install"]))
        print(row("baseline: build done -> mumba call has new reply", bare["live"]))
        print("Doctor (mumba doctor --json):")
        print(row("no host running", doctor["none"]))
        print(row("host running (no p2p node)", doctor["host"]))
        for name, values in parts.items():
            print(row(f"baseline: {name}", values))
        print(row("baseline: the three above, added", [sum(v) for v in zip(*parts.values())]))
        return 0
    except KeyboardInterrupt:
        log("dev_bench: stopped")
        return 130
    finally:
        if dev:
            dev.stop()
        if browser:
            browser.close()
        home.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
