"""End to end: an HTTP write to the control plane -> every worker of three nginx
serving the new peers.

    e2e_bench.py --nginx_module=SO --controlplane=BIN --out=results.json
        [--writes=1000] [--sustained_writes=1000] [--writers=1,4]

One control plane (its HTTP gateway), three Debian nginx with our module
(2 workers each, one fleet, upstream `backends` in zone `zone_for_backends`
with servers A and B backup), two echo backends answering their own port.

1. latency: `GET /dynamic?upstream=zone_for_backends&server=A&down=` (then
   `&up=`) flips which backend every worker must answer from; each of the six
   workers is polled on its own keepalive connection until it has answered
   from the new backend `--consecutive` times in a row. Measured from just
   before the HTTP request: the HTTP answer (durable + ACKed by the fleet) and
   the last worker's switch. The same with dyups' `POST /upstream/backends`,
   and /dynamic again with `--sparse_gap` seconds between writes (as an
   operator's script writes, to an otherwise idle control plane).
2. sustained: `--sustained_writes` /dynamic weight changes back to back from
   W concurrent writers; writes/s, and how many answers report fewer
   acked than connected nodes (the fleet fell behind the write's wait).

Every process listens on 127.0.0.1 (ports picked at run time) and is killed
on exit; every loop is bounded in count and time.
"""

import argparse
import concurrent.futures
import http.client
import json
import os
import signal
import sys
import threading
import time

import harness
import nginx_bench as nb

NGINX_COUNT = 3
FLEET = "bench-e2e"
ZONE = "zone_for_backends"


class Gateway:
    """HTTP/1.1 keepalive client of the control plane's gateway, one per thread."""

    def __init__(self, address):
        self.host, port = address.rsplit(":", 1)
        self.port = int(port)
        self.local = threading.local()

    def request(self, method, path, body=None):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        conn.request(method, path, body=body, headers={"X-Xds-Fleet": FLEET})
        response = conn.getresponse()
        payload = response.read()
        return {
            "status": response.status,
            "body": payload.decode("utf-8", "replace"),
            "version": response.getheader("X-Xds-Version"),
            "acked": int(response.getheader("X-Xds-Acked-Nodes") or -1),
            "connected": int(response.getheader("X-Xds-Connected-Nodes") or -1),
        }


def fleet_accepted(answer):
    """Applied by the whole fleet: 200, and all three nodes ACKed before the answer."""
    return (answer["status"] == 200 and answer["acked"] == NGINX_COUNT
            and answer["connected"] == NGINX_COUNT)


class FleetClient:
    """nginx_bench.WorkerClient over several nginx: every worker of every one."""

    def __init__(self, ports, workers):
        self.clients = [nb.WorkerClient(port, workers) for port in ports]
        self.by_pid = {pid: c for c in self.clients for pid in c.pids}
        self.pids = sorted(self.by_pid)

    def get(self, pid):
        return self.by_pid[pid].get(pid)

    def close(self):
        for c in self.clients:
            c.close()


def start_fleet(cp, a, b):
    """Three nginx in one fleet; each answers with X-Worker on a reuseport listener."""
    upstreams = """\
        xds_fleet %s;
        upstream backends {
            zone %s 256k;
            server %s;
            server %s backup;
        }
        """ % (FLEET, ZONE, a, b)
    location = nb.PROXY_LOCATION.replace(
        "location / {\n", "location / {\n    add_header X-Worker $pid always;\n")
    fleet = []
    for i in range(NGINX_COUNT):
        poll_port = harness.free_port()
        nginx = nb.module_nginx(cp, "e2e-%d" % (i + 1), upstreams, server_extra=location,
                                extra_ports=[poll_port])
        nginx.poll_port = poll_port
        nginx.start()
        fleet.append(nginx)
    for nginx in fleet:
        nb.wait_applied(nginx)
    # The adopted nginx.conf upstream is the fleet's; wait until every node is
    # connected, so the first timed write counts three.
    harness.wait_until(lambda: len([n for n in cp.fleet_status(FLEET).nodes
                                    if n.connected]) == NGINX_COUNT,
                       timeout=30, what="three connected nodes")
    return fleet


def phase_latency(out, args, gateway, client, backends, executor):
    (a, b), (pa, pb) = backends.addresses, backends.backend_ports
    settings = dict(consecutive=args.consecutive, deadline_s=5.0, max_requests=20000,
                    is_accepted=fleet_accepted)

    def dynamic(flag):
        path = "/dynamic?upstream=%s&server=%s&%s=" % (ZONE, a, flag)
        return lambda: executor.submit(gateway.request, "GET", path)

    def dyups(address):
        body = "server %s;" % address
        return lambda: executor.submit(gateway.request, "POST", "/upstream/backends", body)

    for i in range(args.warmup_writes):
        nb.timed_write(client, dynamic("down" if i % 2 == 0 else "up"),
                       pb if i % 2 == 0 else pa, **settings)
    # Each write flips the backend; start from A serving.
    nb.timed_write(client, dynamic("up"), pa, **settings)
    samples = []
    started = time.monotonic()
    for i in range(args.writes):
        if time.monotonic() - started > args.seconds:
            break
        down = i % 2 == 0
        samples.append(nb.timed_write(client, dynamic("down" if down else "up"),
                                      pb if down else pa, **settings))
    out["dynamic"] = nb.summarize_apply(samples, time.monotonic() - started)
    nb.log("e2e /dynamic: %s" % json.dumps(out["dynamic"]))

    # dyups POST replaces the upstream: the only server flips between B and A.
    samples = []
    started = time.monotonic()
    for i in range(args.writes):
        if time.monotonic() - started > args.seconds:
            break
        address, port = (b, pb) if i % 2 == 0 else (a, pa)
        samples.append(nb.timed_write(client, dyups(address), port, **settings))
    out["dyups"] = nb.summarize_apply(samples, time.monotonic() - started)
    nb.log("e2e dyups POST: %s" % json.dumps(out["dyups"]))

    # As an operator writes: one /dynamic flip every `sparse_gap` seconds,
    # on A and B backup again (the dyups phase left one server).
    restored = gateway.request("POST", "/upstream/backends", "server %s;server %s backup;" % (a, b))
    assert fleet_accepted(restored), restored
    nb.timed_write(client, dynamic("up"), pa, **settings)
    samples = []
    started = time.monotonic()
    for i in range(args.sparse_writes):
        time.sleep(args.sparse_gap)
        down = i % 2 == 0
        samples.append(nb.timed_write(client, dynamic("down" if down else "up"),
                                      pb if down else pa, **settings))
    out["sparse"] = nb.summarize_apply(samples, time.monotonic() - started)
    out["sparse_gap_s"] = args.sparse_gap
    nb.log("e2e sparse /dynamic: %s" % json.dumps(out["sparse"]))


def phase_sustained(out, args, gateway, a):
    """Back-to-back weight changes from `writers` threads."""
    out["sustained"] = {}
    for writers in [int(w) for w in args.writers.split(",") if w]:
        per_writer = args.sustained_writes // writers
        lock = threading.Lock()
        counts = {"writes": 0, "behind": 0, "errors": 0}
        latencies = []

        def writer(index):
            for i in range(per_writer):
                weight = 1 + (index * per_writer + i) % 9
                t = time.perf_counter()
                answer = gateway.request(
                    "GET", "/dynamic?upstream=%s&server=%s&weight=%d" % (ZONE, a, weight))
                elapsed = (time.perf_counter() - t) * 1e3
                with lock:
                    counts["writes"] += 1
                    latencies.append(elapsed)
                    if answer["status"] != 200:
                        counts["errors"] += 1
                    elif answer["acked"] < answer["connected"]:
                        counts["behind"] += 1

        started = time.perf_counter()
        threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=args.seconds)
        elapsed = time.perf_counter() - started
        result = dict(counts, seconds=elapsed, writes_per_s=counts["writes"] / elapsed,
                      answer_ms=nb.dist(latencies))
        out["sustained"][str(writers)] = result
        nb.log("e2e sustained, %d writers: %s" % (writers, json.dumps(result)))


def run(args):
    backends = nb.Backends(2).start()
    a, b = backends.addresses
    cp = harness.ControlPlane().start()
    fleet = []
    out = {"nginx": NGINX_COUNT, "workers_per_nginx": 2, "consecutive": args.consecutive}
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        fleet = start_fleet(cp, a, b)
        client = FleetClient([n.poll_port for n in fleet], 2)
        out["worker_pids"] = client.pids
        gateway = Gateway(cp.http_address)
        meter = nb.CpuMeter().start()
        phase_latency(out, args, gateway, client, backends, executor)
        out["cpu_busy_latency"] = meter.stop()
        client.close()
        phase_sustained(out, args, gateway, a)
        versions = {n.status_json()["version"] for n in fleet}
        out["final_versions"] = sorted(versions)
        out["converged"] = len(versions) == 1
    finally:
        executor.shutdown(wait=False)
        for n in fleet:
            n.cleanup()
        cp.stop()
        backends.cleanup()
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--nginx_module", required=True)
    parser.add_argument("--controlplane", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--warmup_writes", type=int, default=20)
    parser.add_argument("--consecutive", type=int, default=3)
    parser.add_argument("--sparse_writes", type=int, default=30)
    parser.add_argument("--sparse_gap", type=float, default=1.0)
    parser.add_argument("--sustained_writes", type=int, default=1000)
    parser.add_argument("--writers", default="1,4")
    args = parser.parse_args()
    harness.PATHS.nginx_module = os.path.abspath(args.nginx_module)
    harness.PATHS.controlplane = os.path.abspath(args.controlplane)

    def stop(signum, _frame):
        nb.log("signal %d: stopping" % signum)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.setswitchinterval(0.0005)
    busy = nb.wait_quiet(limit_pct=20.0, timeout=120.0)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    try:
        out = run(args)
    finally:
        harness.kill_all()
    out["started"] = started
    out["cpu_busy_before"] = busy
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
