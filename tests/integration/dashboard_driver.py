#!/usr/bin/env python3
"""Drives ONE live page in headless Chromium over the DevTools protocol (--remote-debugging-pipe:
JSON messages ending in NUL, commands on fd 3, answers and events on fd 4), for
dashboard_test.cpp. No reload, no second page: what the second sample shows, the page's own
polling put there.

usage: dashboard_driver.py CHROMIUM URL DIR

1. Opens URL once; waits until the page rendered /status (#state is no longer "-"); marks the
   page (window.bgtMarker) and writes DIR/first.json.
2. Waits for the test to create DIR/go (after it changed the weights through the admin API).
3. Samples the same page until #weights differs from the first sample; writes DIR/second.json.
Each wait is bounded; a timeout exits 1 with the reason on stderr. A sample is
{"marker", "text": {id: textContent}, "progress": width of #step-progress,
 "tables": {"window"|"evidence"|"history": [[cell, ...], ...]}}.
"""
import json
import os
import signal
import subprocess
import sys
import time

SAMPLE = r"""(() => {
  const text = {};
  for (const id of ["state", "held", "live", "candidate", "retained", "weights", "bar-blue",
                    "bar-green", "step", "step-left", "decision", "error"]) {
    const element = document.getElementById(id);
    text[id] = element ? element.textContent : null;
  }
  const rows = (id) => Array.from(document.querySelectorAll("#" + id + " tr"))
      .map((tr) => Array.from(tr.cells).map((td) => td.textContent));
  const progress = document.getElementById("step-progress");
  return JSON.stringify({
    marker: window.bgtMarker || null,
    text: text,
    progress: progress ? progress.style.width : null,
    tables: {window: rows("window"), evidence: rows("evidence"), history: rows("history")},
  });
})()"""


class Browser:
    def __init__(self, chromium, profile):
        to_chromium_r, self.to_chromium = os.pipe()
        self.from_chromium, from_chromium_w = os.pipe()
        # Above the descriptors the child gets, so that dup2 onto 3 and 4 cannot clobber them.
        high_r = os.dup2(to_chromium_r, 20, inheritable=False)
        high_w = os.dup2(from_chromium_w, 21, inheritable=False)
        os.close(to_chromium_r)
        os.close(from_chromium_w)

        def pipes_on_3_and_4():
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.process = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--remote-debugging-pipe", "--user-data-dir=" + profile, "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=False, preexec_fn=pipes_on_3_and_4)
        os.close(high_r)
        os.close(high_w)
        self.next_id = 0
        self.buffer = b""

    def call(self, method, params=None, session=None):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.to_chromium, json.dumps(message).encode() + b"\0")
        while True:  # events and other answers are skipped
            answer = self.read_message()
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})

    def read_message(self):
        while b"\0" not in self.buffer:
            chunk = os.read(self.from_chromium, 65536)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self):
        try:
            self.call("Browser.close")
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def wait_for(what, predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.1)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


def write_json(path, value):
    with open(path + ".tmp", "w") as out:
        json.dump(value, out)
    os.rename(path + ".tmp", path)  # the test never reads half a file


def main():
    chromium, url, directory = sys.argv[1:4]
    # Stopped by the test (SIGTERM): Chromium is closed on the way out, not left behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    browser = Browser(chromium, os.path.join(directory, "profile"))
    try:
        target = browser.call("Target.createTarget", {"url": url})["targetId"]
        session = browser.call("Target.attachToTarget",
                               {"targetId": target, "flatten": True})["sessionId"]

        def sample():
            result = browser.call("Runtime.evaluate",
                                  {"expression": SAMPLE, "returnByValue": True}, session)
            value = result.get("result", {}).get("value")
            return json.loads(value) if isinstance(value, str) else None

        def rendered():
            s = sample()
            return s if s and s["text"]["state"] not in (None, "-") else None

        first = wait_for("the page to render /status", rendered, 60)
        browser.call("Runtime.evaluate", {"expression": "window.bgtMarker = 'first-load'"},
                     session)
        first["marker"] = sample()["marker"]
        write_json(os.path.join(directory, "first.json"), first)

        wait_for("the test's go", lambda: os.path.exists(os.path.join(directory, "go")), 60)

        def changed():
            s = sample()
            return s if s and s["text"]["weights"] != first["text"]["weights"] else None

        second = wait_for("the same page to show new weights", changed, 30)
        write_json(os.path.join(directory, "second.json"), second)
    except Exception as e:  # the reason, for the test's log
        print(f"dashboard_driver: {e}", file=sys.stderr)
        return 1
    finally:
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
