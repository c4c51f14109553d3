"""How the cost of one change grows with the state: 100 -> 10,000 upstreams.

    scale_bench.py --nginx_module=SO --controlplane=BIN --out=results.json
        [--sizes=100,1000,10000] [--writes=200] [--churn_rate=1000]
        [--churn_seconds=20] [--dynamic_upstream_module=SO]

For each size N: one control plane (SQLite) holding N-1 run-time upstreams of
10 servers each (addresses never connected to) plus nginx.conf's `backends`
(zone, servers A and B backup, two echo backends answering their own port),
and one Debian nginx with our module, 2 workers:

1. initial sync: nginx starts with the control plane already holding the N
   upstreams; the time until the control plane reports the node's ACK of the
   populated version; then the memory of both (control plane RSS, nginx PSS
   of master and workers).
2. one change: `--writes` `/dynamic?upstream=backends&server=A&down=` (then
   `&up=`) through the control plane's HTTP gateway, each timed until both
   workers answered from the new backend 3 times in a row (nginx_bench's
   timed_write); CPU seconds of nginx and of the control plane per change,
   and ADS bytes sent per change (the control plane's
   nginx_xds_ads_response_bytes_total, one node connected).
3. churn (largest size only, --churn_rate > 0): UpdateServer weight changes
   on random upstreams paced at --churn_rate per second for --churn_seconds
   from 4 processes of 16 gRPC writers, while wrk runs through `backends`:
   failed requests, the writes/s reached, and how far the node fell behind:
   each write is answered once the node ACKed it, so its answer time is how
   long the node took to have that version (and an answer with fewer acked
   than connected nodes is one the node did not ACK within --ack_timeout).

With --dynamic_upstream_module (bench/scale/build_dynamic_upstream.sh builds
the real ngx_dynamic_upstream for Debian's nginx), the same one-host
`/dynamic` down/up -> both workers, against nginx with that module alone, in
the same run, beside nginx-xds's row at the smallest size.

Every process listens on 127.0.0.1 (ports picked at run time) and is killed
on exit; every loop is bounded in count and time.
"""

import argparse
import concurrent.futures
import http.client
import json
import os
import random
import re
import signal
import sys
import textwrap
import threading
import time

import harness
import nginx_bench as nb
import wrk

SERVERS_PER_UPSTREAM = 10
NODE = "scale"
WORKER_LOCATION = nb.PROXY_LOCATION.replace(
    "location / {\n", "location / {\n    add_header X-Worker $pid always;\n")


def http_get(address, path):
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace"), response
    finally:
        conn.close()


def ads_bytes(cp):
    """The control plane's ADS bytes sent so far, every type."""
    status, text, _ = http_get(cp.http_address, "/metrics")
    assert status == 200, text[:200]
    return sum(float(m.group(1)) for m in re.finditer(
        r"^nginx_xds_ads_response_bytes_total\{[^}]*\} (\S+)$", text, re.M))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^VmRSS:\s+(\d+)", f.read(), re.M).group(1))


def pss_kib(pid):
    with open("/proc/%d/smaps_rollup" % pid) as f:
        return int(re.search(r"^Pss:\s+(\d+)", f.read(), re.M).group(1))


def populate(cp, count):
    """count run-time upstreams of SERVERS_PER_UPSTREAM fake servers; seconds taken."""
    addresses = nb.fake_addresses(count * SERVERS_PER_UPSTREAM)

    def put(i):
        servers = addresses[i * SERVERS_PER_UPSTREAM:(i + 1) * SERVERS_PER_UPSTREAM]
        return cp.put_upstream("u%05d" % i, servers, timeout=60).version

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        versions = list(pool.map(put, range(count)))
    return time.monotonic() - started, max(versions or [0])


def gateway_write(cp, path):
    status, body, response = http_get(cp.http_address, path)
    return {"status": status, "body": body,
            "acked": int(response.getheader("X-Xds-Acked-Nodes") or -1)}


def node_acked(cp):
    node = cp.node_status(NODE)
    return node.acked_version if node and node.connected else 0


def phase_size(n, args, backends):
    (a, b), (pa, pb) = backends.addresses, backends.backend_ports
    out = {"upstreams": n, "endpoints": n * SERVERS_PER_UPSTREAM}
    cp = harness.ControlPlane().start()
    nginx = None
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        out["populate_s"], populated = populate(cp, n - 1)
        nb.log("%d upstreams: populated to version %d in %.1f s" % (n, populated, out["populate_s"]))
        poll_port = harness.free_port()
        # The module's zone holds every run-time peer (~0.5 KiB each with its name).
        zone_mb = max(32, n * SERVERS_PER_UPSTREAM // 1024 + 32)
        nginx = nb.module_nginx(cp, NODE, """\
            upstream backends {
                zone backends 256k;
                server %s;
                server %s backup;
            }
            """ % (a, b), server_extra=WORKER_LOCATION, extra_ports=[poll_port],
            xds_zone_size="%dm" % zone_mb)
        started = time.monotonic()
        nginx.start(timeout=120)
        harness.wait_until(lambda: node_acked(cp) >= populated, timeout=300,
                           interval=0.02, what="the node's ACK of the populated version")
        out["initial_sync_s"] = round(time.monotonic() - started, 3)
        nb.log("%d upstreams: initial sync %.3f s" % (n, out["initial_sync_s"]))
        nb.wait_applied(nginx)
        out["controlplane_rss_mib"] = round(rss_kib(cp.process.pid) / 1024, 1)
        out["nginx_pss_mib"] = round(sum(pss_kib(p) for p in nb.nginx_pids(nginx)) / 1024, 1)

        client = nb.WorkerClient(poll_port, 2)
        settings = dict(consecutive=3, deadline_s=10.0, max_requests=50000,
                        is_accepted=lambda r: r["status"] == 200 and r["acked"] == 1)

        def dynamic(flag):
            path = "/dynamic?upstream=backends&server=%s&%s=" % (a, flag)
            return lambda: executor.submit(gateway_write, cp, path)

        for i in range(10):  # warm up, and start from A serving
            nb.timed_write(client, dynamic("down" if i % 2 == 0 else "up"),
                           pb if i % 2 == 0 else pa, **settings)
        account = nb.CpuAccount({"nginx": lambda: nb.nginx_pids(nginx),
                                 "controlplane": lambda: [cp.process.pid]}).start()
        bytes_before = ads_bytes(cp)
        samples = []
        begun = time.monotonic()
        for i in range(args.writes):
            if time.monotonic() - begun > args.seconds:
                break
            down = i % 2 == 0
            samples.append(nb.timed_write(client, dynamic("down" if down else "up"),
                                          pb if down else pa, **settings))
        cpu = account.stop()
        out["change"] = nb.summarize_apply(samples, time.monotonic() - begun)
        count = max(1, len(samples))
        out["nginx_cpu_ms_per_change"] = round(cpu["nginx"] * 1e3 / count, 2)
        out["controlplane_cpu_ms_per_change"] = round(cpu["controlplane"] * 1e3 / count, 2)
        out["bytes_per_change"] = round((ads_bytes(cp) - bytes_before) / count)
        nb.log("%d upstreams: %s" % (n, json.dumps({k: v for k, v in out.items()
                                                     if k != "change"})))
        nb.log("%d upstreams: change %s" % (n, json.dumps(out["change"])))
        client.close()
        if args.churn_rate > 0 and n == max(args.sizes):
            out["churn"] = phase_churn(cp, nginx, poll_port, n, args)
    finally:
        executor.shutdown(wait=False)
        if nginx:
            nginx.cleanup()
        cp.stop()
    return out


CHURN_PROCESSES = 4
CHURN_THREADS = 16  # per process


def churn_writer_process(admin_port, n, rate, seconds, seed, queue):
    """One process of the churn: CHURN_THREADS gRPC writers paced at `rate`
    writes/s together; puts (answer ms, acked == connected) per write and
    the error count on `queue`. A process of its own: one Python process
    cannot issue 1,000 gRPC calls a second."""
    import grpc  # pylint: disable=import-outside-toplevel
    from nginx_xds.v1 import management_pb2, management_pb2_grpc  # pylint: disable=import-outside-toplevel
    channel = grpc.insecure_channel("127.0.0.1:%d" % admin_port)
    stub = management_pb2_grpc.UpstreamServiceStub(channel)
    addresses = nb.fake_addresses((n - 1) * SERVERS_PER_UPSTREAM)
    interval = CHURN_THREADS / rate
    deadline = time.monotonic() + seconds
    results, errors = [], []

    def writer(index):
        rng = random.Random(seed * 1000 + index)
        next_at = time.monotonic() + rng.random() * interval
        while time.monotonic() < deadline:
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            next_at += interval
            u = rng.randrange(n - 1)
            address = addresses[u * SERVERS_PER_UPSTREAM + rng.randrange(SERVERS_PER_UPSTREAM)]
            started = time.perf_counter()
            try:
                answer = stub.UpdateServer(management_pb2.UpdateServerRequest(
                    upstream="u%05d" % u, address=address, weight=rng.randint(1, 9)), timeout=30)
                results.append(((time.perf_counter() - started) * 1e3,
                                answer.acked_nodes == answer.connected_nodes))
            except grpc.RpcError:
                errors.append(1)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(CHURN_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 60)
    queue.put((results, len(errors)))
    channel.close()


def phase_churn(cp, nginx, poll_port, n, args):
    """Writes on random upstreams at --churn_rate from several processes
    while wrk runs through `backends`. Each write is answered once the node
    ACKed it (or at the ack timeout), so its answer time is how long the
    node took to have that version: how far it fell behind."""
    import multiprocessing  # pylint: disable=import-outside-toplevel
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    load = wrk.Background(poll_port, threads=1, connections=16)
    started = time.monotonic()
    processes = [context.Process(target=churn_writer_process,
                                 args=(cp.admin_port, n, args.churn_rate / CHURN_PROCESSES,
                                       args.churn_seconds, i, queue))
                 for i in range(CHURN_PROCESSES)]
    for p in processes:
        p.start()
    outcomes = [queue.get(timeout=args.churn_seconds + 120) for _ in processes]
    for p in processes:
        p.join(timeout=30)
    elapsed = time.monotonic() - started
    result, _ = load.stop()
    latencies = [ms for results, _ in outcomes for ms, _ in results]
    behind = sum(1 for results, _ in outcomes for _, all_acked in results if not all_acked)
    errors = sum(e for _, e in outcomes)
    out = dict(writes=len(latencies), errors=errors, seconds=round(elapsed, 1),
               writes_per_s=round(len(latencies) / elapsed, 1), target_per_s=args.churn_rate,
               acked_ms=nb.dist(latencies), answered_before_ack=behind,
               wrk_requests=result["requests"], wrk_failed=result["failed"])
    nb.log("churn: %s" % json.dumps(out))
    return out


class DynamicUpstreamNginx(nb.StockNginx):
    """Debian's nginx with the real ngx_dynamic_upstream module loaded."""

    name = "dynamic-upstream-nginx"

    def __init__(self, module, http, server, extra_ports):
        super().__init__(http, server)
        self.module = module
        self.extra_ports = extra_ports

    def ports(self):
        return [self.port] + list(self.extra_ports)

    def render(self):
        listens = "".join("listen 127.0.0.1:%d reuseport;\n" % p for p in self.extra_ports)
        server = ("server {\n    listen 127.0.0.1:%d;\n" % self.port +
                  textwrap.indent(listens + textwrap.dedent(self.server), "    ") + "}\n")
        http = self._http_paths() + textwrap.dedent(self.http) + server
        return (self._main_section([self.module]) + "http {\n" +
                textwrap.indent(http, "    ") + "}\n")


def phase_dynamic_upstream(args, backends):
    """The same one-host down/up against the real ngx_dynamic_upstream."""
    (a, b), (pa, pb) = backends.addresses, backends.backend_ports
    poll_port = harness.free_port()
    nginx = DynamicUpstreamNginx(os.path.abspath(args.dynamic_upstream_module), """\
        upstream backends {
            zone backends 256k;
            server %s;
            server %s backup;
        }
        """ % (a, b), nb.CLIENT_KEEPALIVE + WORKER_LOCATION +
        "location /dynamic {\n    dynamic_upstream;\n}\n", [poll_port])
    nginx.start()
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        client = nb.WorkerClient(poll_port, 2)
        settings = dict(consecutive=3, deadline_s=10.0, max_requests=50000,
                        is_accepted=lambda r: r["status"] == 200)

        def dynamic(flag):
            path = "/dynamic?upstream=backends&server=%s&%s=" % (a, flag)
            return lambda: executor.submit(
                lambda: {"status": http_get("127.0.0.1:%d" % nginx.port, path)[0]})

        for i in range(10):
            nb.timed_write(client, dynamic("down" if i % 2 == 0 else "up"),
                           pb if i % 2 == 0 else pa, **settings)
        account = nb.CpuAccount({"nginx": lambda: nb.nginx_pids(nginx)}).start()
        samples = []
        begun = time.monotonic()
        for i in range(args.writes):
            down = i % 2 == 0
            samples.append(nb.timed_write(client, dynamic("down" if down else "up"),
                                          pb if down else pa, **settings))
        cpu = account.stop()
        client.close()
        out = {"change": nb.summarize_apply(samples, time.monotonic() - begun),
               "nginx_cpu_ms_per_change": round(cpu["nginx"] * 1e3 / max(1, len(samples)), 2)}
        nb.log("ngx_dynamic_upstream: %s" % json.dumps(out))
        return out
    finally:
        executor.shutdown(wait=False)
        nginx.cleanup()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--nginx_module", required=True)
    parser.add_argument("--controlplane", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--churn_rate", type=float, default=1000)
    parser.add_argument("--churn_seconds", type=float, default=20)
    parser.add_argument("--dynamic_upstream_module", default="")
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    harness.PATHS.nginx_module = os.path.abspath(args.nginx_module)
    harness.PATHS.controlplane = os.path.abspath(args.controlplane)

    def stop(signum, _frame):
        nb.log("signal %d: stopping" % signum)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.setswitchinterval(0.0005)
    busy = nb.wait_quiet(limit_pct=20.0, timeout=120.0)
    out = {"started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "cpu_busy_before": busy, "servers_per_upstream": SERVERS_PER_UPSTREAM,
           "workers": 2, "sizes": []}
    backends = nb.Backends(2).start()
    try:
        for i, n in enumerate(args.sizes):
            out["sizes"].append(phase_size(n, args, backends))
            if i == 0 and args.dynamic_upstream_module:
                out["dynamic_upstream"] = phase_dynamic_upstream(args, backends)
            with open(args.out, "w") as f:
                json.dump(out, f, indent=1, sort_keys=True)
    finally:
        backends.cleanup()
        harness.kill_all()
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
