#!/usr/bin/env python3
"""The dashboard page in headless Firefox, driven over WebDriver BiDi (Firefox's own remote
protocol: a WebSocket carrying JSON commands; no geckodriver, no third-party modules).

  firefox_bidi.py dashboard URL WORKDIR ARTIFACTS

Starts Firefox at once (its start-up takes seconds: start it early), waits (bounded) until
WORKDIR/firefox.go exists, then loads URL once and, without reloading:
  1. waits (bounded) until the page says its WebSocket is live and shows its first tables;
     prints "phase P", "tables T1 T2 ..." and "fraction F"; then creates WORKDIR/firefox.ready;
  2. waits (bounded) until the overall fraction in the DOM grows past F (the pushes moved it)
     and prints "fraction G";
  3. saves screenshots at a laptop's and a phone's width to ARTIFACTS/firefox_dashboard_W.png.
Exits 1 with one line on stderr when something fails, also when the page logged anything to
the console (console.* calls or uncaught errors: BiDi's log.entryAdded events).
"""
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_probe import ws_connect, ws_message, ws_send  # noqa: E402

PREFS = """
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);
user_pref("app.update.disabledForTesting", true);
user_pref("app.normandy.enabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("browser.safebrowsing.update.enabled", false);
user_pref("extensions.update.enabled", false);
user_pref("browser.newtab.preload", false);
user_pref("browser.newtabpage.enabled", false);
user_pref("browser.startup.page", 0);
user_pref("browser.aboutwelcome.enabled", false);
user_pref("messaging-system.rsexperimentloader.enabled", false);
user_pref("app.shield.optoutstudies.enabled", false);
user_pref("browser.ping-centre.telemetry", false);
"""

# What the page shows: the phase badge, the WebSocket's state, the overall fraction, the tables.
READ_DOM = """(() => ({
  phase: document.getElementById('phase').textContent,
  conn: document.getElementById('conn').textContent,
  fraction: document.getElementById('overall').dataset.fraction || '',
  tables: Array.from(document.querySelectorAll('td.tname')).map((e) => e.textContent),
}))()"""


def fail(message):
    sys.stderr.write("firefox: " + message + "\n")
    sys.exit(1)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class bidi:
    def __init__(self, port):
        self.sock = ws_connect(port, "/session")
        self.next_id = 0
        self.events = []

    def call(self, method, params, timeout=20):
        self.next_id += 1
        ws_send(self.sock, json.dumps({"id": self.next_id, "method": method, "params": params}))
        end = time.monotonic() + timeout
        while True:
            self.sock.settimeout(max(0.05, end - time.monotonic()))
            try:
                m = ws_message(self.sock)
            except (socket.timeout, EOFError):
                fail(f"no answer to {method}")
            if m is None:
                fail(f"Firefox closed the session during {method}")
            msg = json.loads(m)
            if msg.get("type") == "event":
                self.events.append(msg)
            elif msg.get("id") == self.next_id:
                if msg.get("type") == "error":
                    fail(f"{method}: {msg.get('error')}: {msg.get('message')}")
                return msg["result"]

    def console_errors(self):
        return [e["params"] for e in self.events if e.get("method") == "log.entryAdded"]


def start_firefox(work):
    profile = os.path.join(work, "firefox-profile")
    shutil.rmtree(profile, ignore_errors=True)
    os.makedirs(profile)
    with open(os.path.join(profile, "user.js"), "w") as f:
        f.write(PREFS)
    port = free_port()
    log = open(os.path.join(work, "firefox.log"), "w+")
    env = dict(os.environ, MOZ_HEADLESS="1", HOME=work)
    proc = subprocess.Popen(
        ["firefox-esr", "--headless", "--no-remote", "--profile", profile,
         f"--remote-debugging-port={port}", "about:blank"],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    # Firefox says when its BiDi server listens; read its log until then (bounded).
    end = time.monotonic() + 30
    while time.monotonic() < end:
        if proc.poll() is not None:
            log.seek(0)
            fail("Firefox exited at start: " + log.read()[-300:])
        log.seek(0)
        if "WebDriver BiDi listening on" in log.read():
            return proc, port
        time.sleep(0.05)
    proc.kill()
    fail("Firefox never started its WebDriver BiDi server")


def read_dom(b, context):
    r = b.call("script.evaluate", {"expression": READ_DOM, "target": {"context": context},
                                   "awaitPromise": False, "serializationOptions": {}})
    if r.get("type") == "exception":
        fail("the page's DOM could not be read: " + json.dumps(r)[:300])
    out = {}
    for key, value in r["result"]["value"]:
        v = value.get("value")
        out[key] = [x["value"] for x in v] if isinstance(v, list) else v
    return out


def wait_dom(b, context, ok, what, seconds=30):
    end = time.monotonic() + seconds
    while True:
        d = read_dom(b, context)
        if ok(d):
            return d
        if time.monotonic() > end:
            fail(f"{what} (the page shows {json.dumps(d)})")
        time.sleep(0.1)


def wait_go(work):
    go = os.path.join(work, "firefox.go")
    end = time.monotonic() + 120
    while not os.path.exists(go):
        if time.monotonic() > end or not os.path.isdir(work):
            fail("the test never said go")
        time.sleep(0.05)


def dashboard(url, work, artifacts):
    # A test that fails kills this script: leave no browser behind.
    signal.signal(signal.SIGTERM, lambda *_: fail("terminated"))
    proc, port = start_firefox(work)
    try:
        b = bidi(port)
        b.call("session.new", {"capabilities": {}}, timeout=60)
        wait_go(work)
        b.call("session.subscribe", {"events": ["log.entryAdded"]})
        context = b.call("browsingContext.getTree", {})["contexts"][0]["context"]
        b.call("browsingContext.setViewport",
               {"context": context, "viewport": {"width": 1280, "height": 900}})
        b.call("browsingContext.navigate", {"context": context, "url": url, "wait": "complete"})
        first = wait_dom(b, context, lambda d: d["conn"] == "live" and d["tables"] and
                         d["fraction"] != "", "the page never went live with its tables")
        print("phase", first["phase"])
        print("tables", " ".join(first["tables"]))
        print("fraction", first["fraction"], flush=True)
        open(os.path.join(work, "firefox.ready"), "w").close()
        moved = wait_dom(b, context, lambda d: float(d["fraction"] or 0) > float(first["fraction"]),
                         "the overall progress never moved on the live WebSocket", 60)
        print("fraction", moved["fraction"], "conn", moved["conn"], flush=True)
        for width, height in ((1280, 900), (390, 844)):
            b.call("browsingContext.setViewport",
                   {"context": context, "viewport": {"width": width, "height": height}})
            shot = b.call("browsingContext.captureScreenshot", {"context": context})
            with open(os.path.join(artifacts, f"firefox_dashboard_{width}.png"), "wb") as f:
                f.write(base64.b64decode(shot["data"]))
        errors = b.console_errors()
        if errors:
            fail("the page logged to the console: " +
                 "; ".join(f"{e.get('level')} {e.get('text')}" for e in errors[:3]))
        b.call("session.end", {})
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "dashboard":
        fail("usage: firefox_bidi.py dashboard URL WORKDIR ARTIFACTS")
    dashboard(*sys.argv[2:])
