#!/usr/bin/env python3
"""The fleet's targets (docs/fleet.md), measured on loopback with real etcd members and three real
bgproxy replicas:

  bench/fleet.py [--bgproxy build/bgproxy] [--trials 30]

prints a Markdown table: rollback propagation, leader SIGKILL, etcd member loss, quorum loss, and
a bad candidate caught from fleet numbers. Everything listens on 127.0.0.1 and is stopped at the
end (etcd data in /dev/shm).
"""
import argparse
import http.client
import http.server
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(method, url, body=None, timeout=2.0):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (OSError, http.client.HTTPException):
        return 0, b""


def wait_for(predicate, timeout, every=0.01):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(every)
    return False


class Backend:
    """A color's backend: answers its name, or 500 for a share of requests."""

    def __init__(self, name):
        self.error_rate = 0.0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                fail = random.random() < outer.error_rate
                body = name.encode()
                self.send_response(500 if fail else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Etcd:
    def __init__(self, size, root):
        self.members = []
        names = [f"m{i}" for i in range(size)]
        ports = [(free_port(), free_port()) for _ in names]
        cluster = ",".join(f"{n}=http://127.0.0.1:{p[1]}" for n, p in zip(names, ports))
        for name, (client, peer) in zip(names, ports):
            self.members.append({"name": name, "client": client, "peer": peer,
                                 "dir": os.path.join(root, name), "cluster": cluster, "proc": None})
        for m in self.members:
            self.start(m)
        for m in self.members:
            assert wait_for(lambda: self.healthy(m), 30, 0.1), "etcd did not start"

    def start(self, m):
        m["proc"] = subprocess.Popen(
            ["etcd", "--name", m["name"], "--data-dir", m["dir"],
             "--listen-client-urls", f"http://127.0.0.1:{m['client']}",
             "--advertise-client-urls", f"http://127.0.0.1:{m['client']}",
             "--listen-peer-urls", f"http://127.0.0.1:{m['peer']}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{m['peer']}",
             "--initial-cluster", m["cluster"], "--initial-cluster-state",
             "existing" if os.path.exists(m["dir"]) else "new"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def healthy(self, m):
        status, body = request("GET", f"http://127.0.0.1:{m['client']}/health", timeout=0.5)
        return status == 200 and b"true" in body

    def kill(self, m):
        m["proc"].send_signal(signal.SIGKILL)
        m["proc"].wait()

    def addresses(self):
        return [f"127.0.0.1:{m['client']}" for m in self.members]

    def stop(self):
        for m in self.members:
            if m["proc"] and m["proc"].poll() is None:
                self.kill(m)


class Replica:
    def __init__(self, binary, root, rid, etcd, blue, green, rollout):
        self.id = rid
        self.port, self.admin = free_port(), free_port()
        self.config = os.path.join(root, f"{rid}.yaml")
        with open(self.config, "w") as f:
            f.write(f"""listen: 127.0.0.1:{self.port}
workers: 1
admin: {{ listen: 127.0.0.1:{self.admin} }}
backends:
  blue: {{ endpoints: [127.0.0.1:{blue.port}] }}
  green: {{ endpoints: [127.0.0.1:{green.port}] }}
rollout: {{ {rollout} }}
fleet: {{ etcd: [{", ".join(etcd.addresses())}], replica_id: {rid}, lease_ttl: 2s }}
log: {{ level: warn }}
""")
        self.log = open(os.path.join(root, f"{rid}.log"), "w")
        self.proc = subprocess.Popen([binary, "run", "-c", self.config], stdout=self.log,
                                     stderr=self.log)
        assert wait_for(lambda: self.status() is not None, 10, 0.05), f"{rid} did not start"

    def status(self):
        status, body = request("GET", f"http://127.0.0.1:{self.admin}/status", timeout=1)
        return json.loads(body) if status == 200 else None

    def call(self, method, path, body=None):
        return request(method, f"http://127.0.0.1:{self.admin}{path}", body)[0]

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class Load:
    """Requests to the given replicas from a few threads; counts answers that are not 2xx/5xx."""

    def __init__(self, replicas, threads=3, pause=0.002):
        self.stop_flag = False
        self.sent = self.failed = 0
        self.lock = threading.Lock()
        self.replicas = replicas
        self.threads = [threading.Thread(target=self.run, args=(pause,), daemon=True)
                        for _ in range(threads)]
        for t in self.threads:
            t.start()

    def run(self, pause):
        while not self.stop_flag:
            r = random.choice(self.replicas)
            status, _ = request("GET", f"http://127.0.0.1:{r.port}/", timeout=2)
            with self.lock:
                self.sent += 1
                self.failed += 1 if status == 0 else 0  # no answer at all
            time.sleep(pause)

    def stop(self):
        self.stop_flag = True
        for t in self.threads:
            t.join()


def state_of(replica):
    s = replica.status()
    return s["state"] if s else None


def quantile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, max(0, int(q * len(values) + 0.999) - 1))]


def bench_propagation(replicas, trials):
    """Start on one replica, roll back on a random one; time until every replica applied it."""
    times = []
    for _ in range(trials):
        assert replicas[0].call("POST", "/rollout/start") == 200
        assert wait_for(lambda: all(state_of(r) == "progressing" for r in replicas), 5)
        chosen = random.choice(replicas)
        t0 = time.monotonic()
        assert chosen.call("POST", "/rollout/rollback") == 200
        assert wait_for(lambda: all(state_of(r) == "rolled_back" for r in replicas), 5, 0.001)
        times.append((time.monotonic() - t0) * 1000)
    return times


def line_of(replica):
    s = replica.status()
    if not s:
        return f"{replica.id}: (down)"
    fleet = s.get("fleet", {})
    step = "-" if s["step"] is None else f"{s['step'] + 1}/{len(s['steps'])}"
    role = "leader" if fleet.get("leader") == replica.id else "follower"
    return (f"{replica.id} {role:8} {s['state']:12} step {step:4} live {s['live']:5} "
            f"blue {s['weights']['blue']:>3}% green {s['weights']['green']:>3}%")


def demo(binary, root):
    """Three replicas and one etcd member acting as one rollout, for a newcomer."""
    blue, green = Backend("blue"), Backend("green")
    etcd = Etcd(1, root)
    rollout = "steps: [10, 50, 100], step_duration: 3s, check_interval: 250ms, min_requests: 5"
    replicas = [Replica(binary, root, f"r{i}", etcd, blue, green, rollout) for i in (1, 2, 3)]
    try:
        wait_for(lambda: all((r.status() or {}).get("fleet", {}).get("leader") for r in replicas),
                 10)
        print("three bgproxy replicas share one rollout through etcd; each gets its own load\n")
        load = Load(replicas, threads=3, pause=0.01)
        print("$ bgproxy ctl --admin http://127.0.0.1:%d start   (on r2)\n" % replicas[1].admin)
        replicas[1].call("POST", "/rollout/start")
        killed = False
        for tick in range(60):
            time.sleep(1)
            print(f"t={tick + 1:>2}s  " + "\n       ".join(line_of(r) for r in replicas
                                                        if r.proc.poll() is None))
            s = replicas[1].status() or {}
            if not killed and s.get("step") == 1:
                leader = next(r for r in replicas if r.id == s["fleet"]["leader"])
                print(f"\n       kill -9 {leader.id} (the leader): another takes over within "
                      "lease_ttl (2s), same step\n")
                leader.kill()
                killed = True
            if s.get("state") in ("stable", "rolled_back"):
                break
        load.stop()
        print(f"\nr2 says: {replicas[1].status()['last_decision'][:150]}...")
    finally:
        for r in replicas:
            r.stop()
        etcd.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bgproxy", default="build/bgproxy")
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--demo", action="store_true", help="show a fleet at work, no figures")
    args = parser.parse_args()
    binary = os.path.abspath(args.bgproxy)
    if not shutil.which("etcd"):
        sys.exit("fleet.py: etcd is missing (apt install etcd-server)")
    root = tempfile.mkdtemp(prefix="bgproxy-fleet-", dir="/dev/shm")
    if args.demo:
        try:
            demo(binary, root)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        return
    blue, green = Backend("blue"), Backend("green")
    rows = []
    etcd = replicas = None
    try:
        # 1-3: three replicas on a 3-member etcd.
        etcd = Etcd(3, root)
        rollout = "steps: [20, 50, 100], step_duration: 3s, check_interval: 250ms, min_requests: 5"
        replicas = [Replica(binary, root, f"r{i}", etcd, blue, green, rollout) for i in (1, 2, 3)]
        assert wait_for(lambda: all((r.status() or {}).get("fleet", {}).get("leader")
                                    for r in replicas), 10)
        times = bench_propagation(replicas, args.trials)
        rows.append(("rollback on any replica applied on all 3 (ms)",
                     f"p50 {statistics.median(times):.1f}, p99 {quantile(times, 0.99):.1f}, "
                     f"max {max(times):.1f} over {len(times)}", "p99 <= 100, max < 1000"))

        # Leader SIGKILL mid-step.
        load = Load(replicas)
        assert replicas[0].call("POST", "/rollout/start", {"step_duration": "30s"}) == 200
        time.sleep(1)
        before = replicas[0].status()
        leader = next(r for r in replicas if r.id == before["fleet"]["leader"])
        survivors = [r for r in replicas if r is not leader]
        load.stop()
        load = Load(survivors)
        t0 = time.monotonic()
        leader.kill()
        new_leader = lambda: (survivors[0].status() or {}).get("fleet", {}).get("leader")
        assert wait_for(lambda: new_leader() not in (None, leader.id), 15)
        took = time.monotonic() - t0
        after = survivors[0].status()
        same = (after["step"], after["step_started_at"]) == (before["step"],
                                                             before["step_started_at"])
        time.sleep(0.5)
        load.stop()
        rows.append(("leader SIGKILL: new leader (s), lease_ttl 2s",
                     f"{took:.2f}; same step and step_started_at: {same}; failed requests "
                     f"{load.failed} of {load.sent}", "<= 3 s, same step, 0 failed"))

        # An etcd member lost: state changes keep reaching every survivor.
        etcd.kill(etcd.members[0])
        changes = 20
        for i in range(changes):
            weight = 10 + i
            assert survivors[i % 2].call("PUT", "/weights", {"blue": 100 - weight}) == 200
        seen = wait_for(lambda: all(abs(r.status()["weights"]["green"] - (10 + changes - 1)) < 1e-9
                                    for r in survivors), 5)
        histories = [sum(1 for e in r.status()["history"] if e["event"] == "weights")
                     for r in survivors]
        rows.append(("etcd member lost (3 members): state changes", f"{changes} made; every "
                     f"survivor ends at the last: {seen}; weights events {histories}",
                     "0 missed"))

        # Quorum lost: traffic flows, nothing advances, recovery after quorum returns.
        assert survivors[0].call("POST", "/rollout/rollback") in (200, 409)
        assert survivors[0].call("POST", "/rollout/start", {"step_duration": "2s"}) == 200
        load = Load(survivors)
        etcd.kill(etcd.members[1])
        step_then = survivors[0].status()["step"]
        time.sleep(4)  # two step lengths without quorum: the rollout must not advance
        step_during = survivors[0].status()["step"]
        etcd.start(etcd.members[1])
        wait_for(lambda: etcd.healthy(etcd.members[1]), 30, 0.05)  # quorum is back
        t0 = time.monotonic()
        recovered = wait_for(lambda: (survivors[0].status() or {}).get("step") != step_during
                             or state_of(survivors[0]) != "progressing", 30, 0.05)
        recovery = time.monotonic() - t0
        load.stop()
        rows.append(("etcd quorum lost for 4 s (2 of 3 down)",
                     f"failed requests {load.failed} of {load.sent}; step {step_then} -> "
                     f"{step_during} during; advanced {recovery:.2f} s after quorum returned"
                     if recovered else "did not recover", "0 failed, no advance, <= 5 s"))
        for r in survivors:
            r.stop()
        etcd.start(etcd.members[0])

        # A bad candidate that no replica alone sees enough of.
        replicas = [Replica(binary, root, f"b{i}", etcd, blue, green,
                            "steps: [10, 100], step_duration: 1h, check_interval: 250ms, "
                            "min_requests: 100") for i in (1, 2, 3)]
        assert wait_for(lambda: all((r.status() or {}).get("fleet", {}).get("leader")
                                    for r in replicas), 10)
        if state_of(replicas[0]) != "stable" or replicas[0].status()["live"] != "blue":
            replicas[0].call("POST", "/rollout/rollback")
        live = replicas[0].status()["live"]
        (green if live == "blue" else blue).error_rate = 0.2
        assert replicas[0].call("POST", "/rollout/start") == 200
        load = Load(replicas, threads=3, pause=0.01)
        caught = wait_for(lambda: state_of(replicas[0]) == "rolled_back", 60, 0.05)
        load.stop()
        reason = (replicas[0].status().get("last_rollback") or {}).get("reason")
        per_replica = []
        for r in replicas:
            status, body = request("GET", f"http://127.0.0.1:{r.admin}/metrics")
            text = body.decode()
            cand = "green" if live == "blue" else "blue"
            total = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                        if line.startswith("bgproxy_requests_total{") and f'color="{cand}"' in line
                        and 'route="split"' in line)
            per_replica.append(int(total))
        rows.append(("20% errors, each replica under min_requests (100)",
                     f"rolled back: {caught} ({reason}); candidate requests per replica "
                     f"{per_replica}", "caught from fleet numbers"))
    finally:
        for r in replicas or []:
            r.stop()
        if etcd:
            etcd.stop()
        shutil.rmtree(root, ignore_errors=True)
    print("| target | measured | goal |")
    print("| --- | --- | --- |")
    for name, value, goal in rows:
        print(f"| {name} | {value} | {goal} |")


if __name__ == "__main__":
    main()
