"""Replicas on etcd beside SQLite: an HTTP write -> every worker of three nginx
serving the new peers, p50/p99, and sustained writes/s, in one run.

    ha_bench.py --nginx_module=SO --controlplane=BIN --out=results.json
        [--writes=200] [--sustained_writes=400] [--writers=4]

Three setups, one after the other, each with three nginx (2 workers, one
fleet, upstream `backends` in zone `zone_for_backends`: A, and B backup):

- sqlite: one control plane on its embedded store (the default);
- etcd-1: one control plane on a 3-member etcd;
- etcd-3: three replicas on that 3-member etcd, nginx i on replica i; write
  k goes through replica k % 3, so most writes are answered only once nodes
  of the other two replicas ACKed it (through etcd's watch).

Per write: `GET /dynamic?upstream=zone_for_backends&server=A&down=` (then
`&up=`) flips the backend; each of the six workers is polled on its own
keepalive connection until it answered from the new backend 3 times in a
row (bench/nginx/nginx_bench.py timed_write). Sustained: weight changes back
to back from `--writers` threads, spread over the replicas. Everything on
127.0.0.1, ports picked at run time, every process killed on exit.
"""

import argparse
import concurrent.futures
import json
import os
import sys
import threading
import time

import e2e_bench as e2e
import harness
import nginx_bench as nb
from etcd_cluster import EtcdCluster

ZONE = e2e.ZONE
FLEET = e2e.FLEET


def start_setup(store, replicas):
    """(etcd or None, control planes) for one setup."""
    etcd = None
    args = ["--ack_timeout=5s"]
    if store == "etcd":
        etcd = EtcdCluster(3).start().wait_healthy()
    cps = []
    for i in range(replicas):
        extra = list(args)
        if etcd is not None:
            extra += ["--store=etcd", "--etcd_endpoints=%s" % ",".join(etcd.urls(i)),
                      "--replica_id=r%d" % i]
        cps.append(harness.ControlPlane(extra_args=extra).start())
    return etcd, cps


def start_fleet(cps, a, b):
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
    for i in range(e2e.NGINX_COUNT):
        poll_port = harness.free_port()
        nginx = nb.module_nginx(cps[i % len(cps)], "ha-%d" % i, upstreams,
                                server_extra=location, extra_ports=[poll_port])
        nginx.poll_port = poll_port
        nginx.start()
        fleet.append(nginx)
    for nginx in fleet:
        nb.wait_applied(nginx)
    for cp in cps:
        harness.wait_until(lambda cp=cp: len([n for n in cp.fleet_status(FLEET).nodes
                                              if n.connected]) == e2e.NGINX_COUNT,
                           timeout=30, what="three connected nodes on every replica")
    return fleet


def measure(args, name, store, replicas, backends):
    (a, b), (pa, pb) = backends.addresses, backends.backend_ports
    etcd, cps = start_setup(store, replicas)
    fleet = []
    out = {"store": store, "replicas": replicas}
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        fleet = start_fleet(cps, a, b)
        client = e2e.FleetClient([n.poll_port for n in fleet], 2)
        gateways = [e2e.Gateway(cp.http_address) for cp in cps]
        settings = dict(consecutive=3, deadline_s=5.0, max_requests=20000,
                        is_accepted=e2e.fleet_accepted)

        def dynamic(k, flag):
            path = "/dynamic?upstream=%s&server=%s&%s=" % (ZONE, a, flag)
            return lambda: executor.submit(gateways[k % len(gateways)].request, "GET", path)

        for i in range(args.warmup_writes):
            nb.timed_write(client, dynamic(i, "down" if i % 2 == 0 else "up"),
                           pb if i % 2 == 0 else pa, **settings)
        nb.timed_write(client, dynamic(0, "up"), pa, **settings)
        samples = []
        started = time.monotonic()
        for i in range(args.writes):
            down = i % 2 == 0
            samples.append(nb.timed_write(client, dynamic(i, "down" if down else "up"),
                                          pb if down else pa, **settings))
        out["latency"] = nb.summarize_apply(samples, time.monotonic() - started)
        nb.log("%s latency: %s" % (name, json.dumps(out["latency"])))
        client.close()

        per_writer = args.sustained_writes // args.writers
        lock = threading.Lock()
        counts = {"writes": 0, "behind": 0, "errors": 0}
        latencies = []

        def writer(index):
            for i in range(per_writer):
                weight = 1 + (index * per_writer + i) % 9
                t = time.perf_counter()
                answer = gateways[(index + i) % len(gateways)].request(
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
        threads = [threading.Thread(target=writer, args=(w,)) for w in range(args.writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=args.seconds)
        elapsed = time.perf_counter() - started
        out["sustained"] = dict(counts, seconds=elapsed, writers=args.writers,
                                writes_per_s=counts["writes"] / elapsed,
                                answer_ms=nb.dist(latencies))
        nb.log("%s sustained: %s" % (name, json.dumps(out["sustained"])))
        versions = set()
        harness.wait_until(lambda: len({n.status_json()["version"] for n in fleet}) == 1,
                           timeout=30, what="every nginx at one version")
        out["final_versions"] = sorted({n.status_json()["version"] for n in fleet})
    finally:
        executor.shutdown(wait=False)
        for n in fleet:
            n.cleanup()
        for cp in cps:
            cp.stop()
        if etcd is not None:
            etcd.cleanup()
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--nginx_module", required=True)
    parser.add_argument("--controlplane", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--warmup_writes", type=int, default=10)
    parser.add_argument("--sustained_writes", type=int, default=400)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--setups", default="sqlite-1,etcd-1,etcd-3")
    args = parser.parse_args()
    harness.PATHS.nginx_module = os.path.abspath(args.nginx_module)
    harness.PATHS.controlplane = os.path.abspath(args.controlplane)
    backends = nb.Backends(2).start()
    results = {"started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "setups": {}}
    try:
        for setup in args.setups.split(","):
            store, replicas = setup.split("-")
            results["setups"][setup] = measure(args, setup, store, int(replicas), backends)
    finally:
        backends.cleanup()
        harness.kill_all()
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
