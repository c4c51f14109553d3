"""A probe, not a test: nginx CPU per one-server change, by thread, with N
run-time upstreams of S servers each (issue 11's "nginx CPU per change").

The control plane's store is seeded with the N upstreams directly (writing
them one by one would cost O(N^2) in SotW), one nginx (2 workers) syncs
them, then K changes each replace one server of a random upstream; each is
answered after the node's ACK, then each worker gets one request (catching
up happens before a worker's next request). CPU comes from /proc per
thread: worker 0's event loop (the module's apply), worker 0's other
threads (the agent: gRPC, decoding, the cache file), the other worker
(catching up) and the master.

  bazel build -c opt --symlink_prefix=/ //controlplane:nginx-xds-controlplane \\
      //nginx_module:ngx_http_xds_module.so //tests/python:nginx_xds_py_proto
  BIN=$(bazel info -c opt --symlink_prefix=/ bazel-bin)
  PYTHONPATH=$BIN/tests/python:tests/python /usr/bin/python3 bench/nginx/apply_cost.py \\
      --bin=$BIN --upstreams=100 --servers=10 --changes=200
"""

import argparse
import http.client
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

from nginx_xds.v1 import upstream_pb2
from nginx_xds_testing import paths
from nginx_xds_testing.controlplane import ControlPlane
from nginx_xds_testing.nginx import Nginx
from nginx_xds_testing.processes import free_port
from nginx_xds_testing.waits import wait_until

NODE = "cost-node"
TICK = os.sysconf("SC_CLK_TCK")


def address(u, s):
    n = u * 64 + s
    return "127.%d.%d.%d:80" % (1 + n // 62500, (n // 250) % 250, n % 250 + 1)


def seed(db_path, n, s):
    db = sqlite3.connect(db_path)
    with db:
        db.execute("INSERT INTO fleets(fleet, version, slots) VALUES ('default', 1, ?) "
                   "ON CONFLICT(fleet) DO UPDATE SET version = 1, slots = excluded.slots", (n,))
        db.execute("UPDATE meta SET version = 1 WHERE id = 0")
        for u in range(n):
            upstream = upstream_pb2.Upstream(
                name="u%d" % u,
                servers=[upstream_pb2.Server(address=address(u, i)) for i in range(s)])
            db.execute("INSERT INTO upstreams(fleet, key, body, created) VALUES (?, ?, ?, ?)",
                       ("default", "u%d" % u, upstream.SerializeToString(), u))
    db.close()


def ticks(pid, tid=None):
    path = "/proc/%d/task/%d/stat" % (pid, tid) if tid else "/proc/%d/stat" % pid
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def cpu(master, worker0, other):
    threads = [int(t) for t in os.listdir("/proc/%d/task" % worker0)]
    loop = ticks(worker0, worker0)
    return {
        "worker0_loop": loop,
        "worker0_agent": sum(ticks(worker0, t) for t in threads if t != worker0),
        "other_worker": ticks(other),
        "master": ticks(master),
    }


def apply_metrics(nginx):
    """(sum seconds, count) of nginx_xds_apply_duration_seconds: the time in
    ngx_http_xds_apply_snapshot alone, as worker 0 measures it."""
    code, _, body = nginx.request("GET", "/xds/status?format=prometheus", timeout=60.0)
    assert code == 200
    total = count = None
    for line in body.splitlines():
        if line.startswith("nginx_xds_apply_duration_seconds_sum"):
            total = float(line.split()[-1])
        elif line.startswith("nginx_xds_apply_duration_seconds_count"):
            count = int(line.split()[-1])
    return total, count


def pid_of(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/pid")
    pid = int(conn.getresponse().read())
    return pid, conn


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, help="bazel-bin of the -c opt build")
    parser.add_argument("--upstreams", type=int, default=100)
    parser.add_argument("--servers", type=int, default=10)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--perf", help="perf record a thread into this file")
    parser.add_argument("--perf_thread", choices=("loop", "other"), default="loop",
                        help="worker 0's event loop, or the other worker")
    args = parser.parse_args()

    paths.NGINX_MODULE = os.path.join(args.bin, "nginx_module/ngx_http_xds_module.so")
    paths.CONTROLPLANE = os.path.join(args.bin, "controlplane/nginx-xds-controlplane")

    cp = ControlPlane()
    nginx = None
    try:
        cp.start()
        cp.stop()
        seed(os.path.join(cp.dir, "data", "nginx-xds.db"), args.upstreams, args.servers)
        cp.start()
        pinned = free_port()
        nginx = Nginx(http="""
            xds_server %s;
            xds_node_id %s;
            xds_zone_size 256m;
            server {
                listen 127.0.0.1:%d reuseport;
                location = /pid { return 200 $pid; }
                location / { proxy_pass http://$host; }
            }
            """ % (cp.xds_address, NODE, pinned), error_log_level="notice")
        started = time.monotonic()
        nginx.start()
        def synced():
            node = cp.node_status(NODE)
            return node is not None and node.acked_version == 1

        wait_until(synced, timeout=600.0, what="the seeded version ACKed")
        sync_s = time.monotonic() - started

        conns = {}
        for _ in range(400):
            pid, conn = pid_of(pinned)
            if pid in conns:
                conn.close()
            else:
                conns[pid] = conn
            if len(conns) == 2:
                break
        assert len(conns) == 2
        worker0 = None
        for line in nginx.error_log().splitlines():
            if "xds agent started" in line:
                worker0 = int(line.split("] ")[1].split("#")[0])
        other = [p for p in conns if p != worker0][0]
        master = nginx.master_pid

        rng = random.Random(11)

        def change(k):
            u = rng.randrange(args.upstreams)
            servers = [address(u, i) for i in range(args.servers)]
            servers[k % args.servers] = address(u, 63 - (k % 2))
            written = cp.put_upstream("u%d" % u, servers)
            assert written.acked_nodes == 1, written
            for conn in conns.values():
                conn.request("GET", "/pid")
                conn.getresponse().read()

        for k in range(5):
            change(k)
        profiler = None
        if args.perf:
            target = worker0 if args.perf_thread == "loop" else other
            profiler = subprocess.Popen(["perf", "record", "-q", "-g", "-t", str(target),
                                         "-o", args.perf])
            time.sleep(1)
        applied_before = apply_metrics(nginx)
        before = cpu(master, worker0, other)
        t0 = time.monotonic()
        for k in range(args.changes):
            change(k + 5)
        wall = time.monotonic() - t0
        after = cpu(master, worker0, other)
        applied_after = apply_metrics(nginx)
        if profiler:
            profiler.send_signal(signal.SIGINT)
            profiler.wait()
        per = {key: (after[key] - before[key]) * 1000.0 / TICK / args.changes for key in after}
        per["nginx_total"] = sum(per.values())
        result = {
            "upstreams": args.upstreams, "servers": args.servers, "changes": args.changes,
            "initial_sync_s": round(sync_s, 2),
            "ms_per_change_wall": round(wall * 1000.0 / args.changes, 2),
            "cpu_ms_per_change": {k: round(v, 3) for k, v in per.items()},
            # wall time inside the module's apply, per change
            "module_apply_ms": round((applied_after[0] - applied_before[0]) * 1000.0
                                     / (applied_after[1] - applied_before[1]), 3),
        }
        print(json.dumps(result))
        lines = [l for l in nginx.error_log().splitlines() if "xds applied version" in l]
        print(lines[0][-80:], "...", lines[-1][-80:], file=sys.stderr)
    finally:
        if nginx:
            nginx.stop()
            nginx.cleanup()
        cp.stop()


if __name__ == "__main__":
    main()
