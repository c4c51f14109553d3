"""Benchmarks of the nginx side: data path, apply latency, churn, shared memory, leaks.

Run by bench/nginx/run.sh, which builds the binaries (-c opt) and sets
PYTHONPATH to the generated stubs and tests/nginx (for harness.py). Every
process runs on 127.0.0.1 with ports picked at run time, in its own process
group, and is killed on exit (harness.kill_all, also on SIGTERM/SIGINT).

    nginx_bench.py --nginx_module=SO --controlplane=BIN --out=results.json \
        [--phases=datapath,apply,churn,memory,leak]

Each phase adds its numbers to results.json (written after every phase);
render.py turns that into the BENCHMARKS.md section.
"""

import argparse
import collections
import http.client
import json
import os
import random
import re
import shutil
import signal
import statistics
import sys
import textwrap
import time

import harness
import slab
import wrk

from nginx_xds.v1 import management_pb2

PHASES = ("datapath", "apply", "churn", "memory", "leak")

# The location every nginx under test proxies with: HTTP/1.1 with keepalive
# to the backends (proxy_set_header Connection "" drops "close").
PROXY_LOCATION = """\
location / {
    proxy_pass http://backends;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
}
"""

# Client keepalive: one wrk connection stays one TCP connection all run long.
CLIENT_KEEPALIVE = """\
keepalive_requests 1000000;
keepalive_timeout 300s;
"""

UPSTREAM_KEEPALIVE = 32

# CPU seconds that processes not ours may take during a 10 s data-path run
# before it is run again.
OTHERS_LIMIT = 0.5
RETRIES = 4

# The control plane refuses upstreams with more servers (INVALID_ARGUMENT).
MAX_SERVERS = 4096


def log(msg):
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


# --------------------------------------------------------------------------
# Processes


class StockNginx(harness._NginxBase):  # pylint: disable=protected-access
    """Debian's nginx without our module (no load_module at all)."""

    name = "stock-nginx"

    def __init__(self, http, server, workers=2):
        super().__init__(workers=workers)
        self.http = http
        self.server = server
        self.port = harness.free_port()

    def ports(self):
        return [self.port]

    def _repick_ports(self):
        self.port = harness.free_port()
        return True

    def get(self, path="/", **kwargs):
        return harness.http_get(self.port, path, **kwargs)

    def render(self):
        server = ("server {\n    listen 127.0.0.1:%d;\n" % self.port +
                  textwrap.indent(textwrap.dedent(self.server), "    ") + "}\n")
        http = self._http_paths() + textwrap.dedent(self.http) + server
        return (self._main_section([]) + "http {\n" + textwrap.indent(http, "    ") + "}\n")


class Backends(harness.Backends):
    """harness.Backends (echo answers its port) with a chosen worker count."""

    def __init__(self, count, workers=1):
        super().__init__(count)
        self.workers = workers


def module_nginx(cp, node_id, upstreams, server_extra="", xds_zone_size=None, extra_ports=()):
    """harness.Nginx with our module, 2 workers, `upstreams` text in http{}."""
    http = "xds_server %s;\nxds_node_id %s;\n" % (cp.xds_address, node_id)
    if xds_zone_size:
        http += "xds_zone_size %s;\n" % xds_zone_size
    listens = "".join("listen 127.0.0.1:%d reuseport;\n" % p for p in extra_ports)
    return harness.Nginx(http=http + textwrap.dedent(upstreams),
                         server=listens + CLIENT_KEEPALIVE + server_extra)


def wait_applied(nginx):
    harness.wait_until(lambda: nginx.status_json()["version"], timeout=30,
                       what="the first applied version")


def status_peers(nginx, upstream):
    for u in nginx.status_json()["upstreams"]:
        if u["name"] == upstream:
            return sorted(p["server"] for p in u["peers"])
    raise AssertionError("no upstream %s on the status page" % upstream)


def put_servers(cp, name, servers):
    """PutUpstream keeping everything else of the upstream as the control plane has it."""
    upstream = cp.get_upstream(name)
    del upstream.servers[:]
    for s in servers:
        upstream.servers.append(s if not isinstance(s, str) else cp.server(s))
    return cp.upstreams.PutUpstream(
        management_pb2.PutUpstreamRequest(upstream=upstream), timeout=15)


def accepted(written):
    return written.acked_nodes == 1 and not written.rejections


# --------------------------------------------------------------------------
# Machine state and logs


def cpu_times():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]  # without guest times
    idle = fields[3] + fields[4]
    return sum(fields), idle


def cpu_busy_pct(seconds=1.0):
    t0, i0 = cpu_times()
    time.sleep(seconds)
    t1, i1 = cpu_times()
    return 100.0 * (1 - (i1 - i0) / max(1, t1 - t0))


def wait_quiet(limit_pct=20.0, timeout=60.0):
    """Waits (bounded) for the machine to be mostly idle; returns the last busy %."""
    deadline = time.monotonic() + timeout
    busy = cpu_busy_pct()
    while busy > limit_pct and time.monotonic() < deadline:
        busy = cpu_busy_pct()
    return round(busy, 1)


class CpuMeter:
    """Busy share of all CPUs between start() and stop()."""

    def start(self):
        self.t0, self.i0 = cpu_times()
        return self

    def stop(self):
        t1, i1 = cpu_times()
        return round(100.0 * (1 - (i1 - self.i0) / max(1, t1 - self.t0)), 1)


def proc_cpu_seconds(pid):
    """User + system CPU seconds of process `pid` (all its threads); 0 if gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    fields = stat[stat.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuAccount:
    """CPU seconds used by groups of processes between start() and stop().

    groups: {label: callable returning pids}; "python" is this process,
    "wrk" the children it waited for (resource.RUSAGE_CHILDREN), and "all"
    the busy CPU seconds of the whole machine (/proc/stat).
    """

    def __init__(self, groups):
        self.groups = groups

    def _read(self):
        import resource
        values = {label: {pid: proc_cpu_seconds(pid) for pid in pids()}
                  for label, pids in self.groups.items()}
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        total, idle = cpu_times()
        values["all"] = {0: (total - idle) / os.sysconf("SC_CLK_TCK")}
        return values, me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime

    def start(self):
        self.before, self.me0, self.kids0 = self._read()
        return self

    def stop(self):
        after, me1, kids1 = self._read()
        result = {}
        for label, now in after.items():
            was = self.before.get(label, {})
            result[label] = round(sum(now[p] - was.get(p, 0.0) for p in now), 2)
        result["python"] = round(me1 - self.me0, 2)
        result["wrk"] = round(kids1 - self.kids0, 2)
        return result


def nginx_pids(n):
    return ([n.master_pid] if n.master_pid else []) + n.worker_pids()


LEVELS = ("emerg", "alert", "crit", "error", "warn", "notice", "info")


def log_summary(text, samples=10):
    """Counts of error-log lines per level, and the most frequent distinct messages."""
    counts = collections.Counter()
    worst = []
    for line in text.splitlines():
        m = re.search(r"\[(emerg|alert|crit|error|warn|notice|info)\]", line)
        if not m:
            continue
        counts[m.group(1)] += 1
        worst.append(line)
    # The distinct messages (without timestamps, pids and connection numbers).
    distinct = collections.Counter()
    for line in worst:
        level = re.search(r"\[(\w+)\]", line).group(1)
        key = "[%s] " % level + re.sub(r"^\S+ \S+ \[\w+\] \d+#\d+: (\*\d+ )?", "", line)
        key = re.sub(r"client: [^,]+, ", "", key)
        key = re.sub(r"\d+", "N", key)
        distinct[key[:240]] += 1
    ranked = sorted(distinct.items(),
                    key=lambda kv: (LEVELS.index(kv[0][1:kv[0].index("]")]), -kv[1]))
    return {"counts": {lvl: counts[lvl] for lvl in LEVELS if counts[lvl]},
            "distinct": ranked[:samples]}


class LogMark:
    """The part of an error log written since the mark."""

    def __init__(self, path):
        self.path = path
        self.offset = os.path.getsize(path) if os.path.exists(path) else 0

    def text(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""


def percentile(values, p):
    """Nearest-rank percentile of `values` (p in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, int(-(-p * len(ordered) // 100)))
    return ordered[min(rank, len(ordered)) - 1]


def dist(values):
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": percentile(values, 50), "p90": percentile(values, 90),
            "p99": percentile(values, 99), "max": max(values), "min": min(values),
            "mean": statistics.fmean(values)}


# --------------------------------------------------------------------------
# 1. Data path


def phase_datapath(results, args):
    """wrk against stock nginx (static upstream) and nginx with our module, alternating."""
    backends = Backends(2, workers=args.backend_workers).start()
    a, b = backends.addresses
    static_upstream = """\
    upstream backends {
        %s
        server %s;
        server %s;
        keepalive %d;
    }
    """
    stock = StockNginx(http=static_upstream % ("", a, b, UPSTREAM_KEEPALIVE),
                       server=CLIENT_KEEPALIVE + PROXY_LOCATION).start()
    stock_zone = StockNginx(http=static_upstream % ("zone backends 256k;", a, b,
                                                    UPSTREAM_KEEPALIVE),
                            server=CLIENT_KEEPALIVE + PROXY_LOCATION).start()
    cp = harness.ControlPlane().start()
    # nginx.conf names only A; the control plane's list (A and B) is what it serves.
    module = module_nginx(cp, "bench-datapath", """\
        upstream backends {
            zone backends 256k;
            server %s;
            keepalive %d;
        }
        """ % (a, UPSTREAM_KEEPALIVE), server_extra=PROXY_LOCATION).start()
    try:
        wait_applied(module)
        written = put_servers(cp, "backends", [a, b])
        assert accepted(written), written
        peers = status_peers(module, "backends")
        assert peers == sorted([a, b]), peers
        adopted = cp.get_upstream("backends")
        for n in (stock, stock_zone, module):
            seen = collections.Counter(n.get("/")[1].strip() for _ in range(20))
            assert set(seen) == {a.split(":")[1], b.split(":")[1]}, (n.name, seen)

        sides = [("stock", stock), ("module", module), ("stock_zone", stock_zone)]
        settings = dict(threads=2, connections=32, duration="%ds" % args.wrk_seconds)
        results["datapath"] = out = {
            "wrk_argv": " ".join(wrk.command(0, **settings)).replace(":0/", ":PORT/"),
            "rounds": args.rounds, "backend_workers": args.backend_workers,
            "upstream_keepalive": UPSTREAM_KEEPALIVE,
            "module_upstream": {"servers": [s.address for s in adopted.servers],
                                "keepalive": adopted.keepalive, "zone": adopted.zone},
            "cpu_busy_before": wait_quiet(),
            "runs": {name: [] for name, _ in sides},
        }
        marks = {name: LogMark(n.error_log_path) for name, n in sides}
        for name, n in sides:  # warm-up, not counted
            wrk.run(n.port, threads=2, connections=32, duration="3s")
        order = []
        for r in range(args.rounds):
            # Alternate; reverse every other round so no side always goes first.
            this = sides if r % 2 == 0 else list(reversed(sides))
            for name, n in this:
                # Others share the machine: a run during which processes that are
                # not ours took more than OTHERS_LIMIT CPU seconds is run again
                # (RETRIES times at most; the last one counts, and says so).
                for attempt in range(RETRIES + 1):
                    idle_before = wait_quiet(limit_pct=15.0, timeout=120.0)
                    meter = CpuMeter().start()
                    account = CpuAccount({"nginx": lambda n=n: nginx_pids(n),
                                          "backends": lambda: nginx_pids(backends)}).start()
                    argv, res, _ = wrk.run(n.port, **settings)
                    res["cpu_busy"] = meter.stop()
                    res["cpu_s"] = account.stop()
                    res["others_cpu_s"] = round(res["cpu_s"]["all"] - sum(
                        v for k, v in res["cpu_s"].items() if k != "all"), 2)
                    res["attempt"] = attempt
                    if res["others_cpu_s"] <= OTHERS_LIMIT:
                        break
                    log("datapath round %d %s: others took %.2f CPU s, running it again" %
                        (r, name, res["others_cpu_s"]))
                res["nginx_cpu_us_per_request"] = res["cpu_s"]["nginx"] / res["requests"] * 1e6
                res["cpu_busy_before"] = idle_before
                res["round"] = r
                out["runs"][name].append(res)
                order.append(name)
                log("datapath round %d %-10s %9.1f req/s p50 %.3f ms p99 %.3f ms failed %d "
                    "(CPU %.0f%% busy; %.0f%% just before) nginx %.2f us CPU/request, "
                    "CPU s %s, others %.2f" %
                    (r, name, res["rps"], res["p50_ms"], res["p99_ms"], res["failed"],
                     res["cpu_busy"], idle_before, res["nginx_cpu_us_per_request"],
                     res["cpu_s"], res["others_cpu_s"]))
        out["order"] = order
        med = {}
        for name, _ in sides:
            runs = out["runs"][name]
            med[name] = {k: statistics.median(x[k] for x in runs)
                         for k in ("rps", "p50_ms", "p99_ms", "nginx_cpu_us_per_request")}
            med[name]["failed"] = sum(x["failed"] for x in runs)
        out["median"] = med
        out["ratio_module_vs_stock"] = med["module"]["rps"] / med["stock"]["rps"]
        out["ratio_module_vs_stock_zone"] = med["module"]["rps"] / med["stock_zone"]["rps"]
        out["cpu_per_request_module_vs_stock"] = (med["module"]["nginx_cpu_us_per_request"] /
                                                  med["stock"]["nginx_cpu_us_per_request"])
        out["cpu_per_request_module_vs_stock_zone"] = (
            med["module"]["nginx_cpu_us_per_request"] /
            med["stock_zone"]["nginx_cpu_us_per_request"])
        out["ratio_per_round"] = [m["rps"] / s["rps"] for m, s in
                                  zip(out["runs"]["module"], out["runs"]["stock"])]
        out["logs"] = {name: log_summary(marks[name].text()) for name, _ in sides}
        log("datapath medians: %s; module/stock = %.3f" %
            (json.dumps(med), out["ratio_module_vs_stock"]))
    finally:
        for n in (module, stock, stock_zone):
            n.cleanup()
        cp.stop()
        shutil.rmtree(cp.dir, ignore_errors=True)
        backends.cleanup()


# --------------------------------------------------------------------------
# 2. Apply latency


class WorkerClient:
    """One keepalive connection to each nginx worker (found by X-Worker: $pid).

    nginx listens on `port` with `reuseport`: every worker has its own
    listening socket and the kernel hashes each new connection to one of
    them, so fresh connections reach every worker. A keepalive connection
    stays with the worker that accepted it for its whole life.
    """

    def __init__(self, port, workers, limit=200):
        self.port = port
        self.conns = {}
        spare = []
        for _ in range(limit):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            pid = self._pid(conn)
            if pid in self.conns:
                spare.append(conn)
            else:
                self.conns[pid] = conn
            if len(self.conns) == workers:
                break
        for conn in spare:
            conn.close()
        if len(self.conns) != workers:
            raise AssertionError("reached %d of %d workers in %d connections" %
                                 (len(self.conns), workers, limit))
        self.pids = sorted(self.conns)

    @staticmethod
    def _pid(conn):
        conn.request("GET", "/")
        response = conn.getresponse()
        response.read()
        return int(response.getheader("X-Worker"))

    def get(self, pid):
        """The backend port that answered a GET / on worker `pid`'s connection."""
        conn = self.conns[pid]
        conn.request("GET", "/")
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise AssertionError("worker %d answered %d" % (pid, response.status))
        if int(response.getheader("X-Worker")) != pid:
            raise AssertionError("connection of worker %d answered from another" % pid)
        return int(body)

    def close(self):
        for conn in self.conns.values():
            conn.close()


def timed_write(client, call, target, consecutive, deadline_s, max_requests,
                is_accepted=None):
    """Starts `call` (a future-returning write) and polls every worker until each
    has answered from `target` `consecutive` times in a row.

    Returns a dict of times in ms from just before the call: ack (the call
    returned); served: when the last worker switched, as an upper bound (the
    reception of its first answer from `target` of a run of `consecutive`
    ones) and a lower bound (the sending of its last request answered from
    the old peers before that run); and counts: requests sent, stale answers
    to requests sent after the ACK arrived, flaps (an old answer after a
    worker had answered from target). `is_accepted` judges the call's result
    (default: a WriteResponse acked by the one node).
    """
    is_accepted = is_accepted or accepted
    ack = []
    t0 = time.perf_counter()
    future = call()
    future.add_done_callback(lambda _: ack.append(time.perf_counter()))
    first = {}
    last_old = {}
    streak = dict.fromkeys(client.pids, 0)
    seen_target = set()
    done = set()
    requests = stale_after_ack = flaps = 0
    deadline = t0 + deadline_s
    while len(done) < len(client.pids):
        if time.perf_counter() > deadline or requests >= max_requests:
            break
        for pid in client.pids:
            if pid in done:
                continue
            sent = time.perf_counter()
            port = client.get(pid)
            received = time.perf_counter()
            requests += 1
            if port == target:
                if streak[pid] == 0:
                    # The worker switched after the last old answer's request was
                    # sent and before this answer came back.
                    first[pid] = (last_old.get(pid, t0), received)
                streak[pid] += 1
                seen_target.add(pid)
                if streak[pid] >= consecutive:
                    done.add(pid)
            else:
                streak[pid] = 0
                last_old[pid] = sent
                first.pop(pid, None)
                if pid in seen_target:
                    flaps += 1
                if ack and sent > ack[0]:
                    stale_after_ack += 1
    written = is_accepted(future.result(timeout=30))
    if not ack:  # the callback runs right after result() returns at the latest
        harness.wait_until(lambda: ack, timeout=5, what="the write's done callback")
    complete = len(done) == len(client.pids)
    served = max(first[p][1] for p in client.pids) if complete else None
    served_lower = max(first[p][0] for p in client.pids) if complete else None
    return {
        "ok": written and complete,
        "accepted": written,
        "complete": complete,
        "ack_ms": (ack[0] - t0) * 1e3,
        "served_ms": (served - t0) * 1e3 if complete else None,
        "served_lower_ms": (served_lower - t0) * 1e3 if complete else None,
        "spread_ms": ((max(first[p][1] for p in client.pids) -
                       min(first[p][1] for p in client.pids)) * 1e3) if complete else None,
        "requests": requests,
        "stale_after_ack": stale_after_ack,
        "flaps": flaps,
    }


def phase_apply(results, args):
    backends = Backends(2).start()
    a, b = backends.addresses
    pa, pb = backends.backend_ports
    cp = harness.ControlPlane().start()
    poll_port = harness.free_port()
    nginx = module_nginx(cp, "bench-apply", """\
        upstream backends {
            zone backends 256k;
            server %s;
        }
        """ % a, server_extra=PROXY_LOCATION.replace(
            "location / {\n", "location / {\n    add_header X-Worker $pid always;\n"),
        extra_ports=[poll_port])
    nginx.start()
    try:
        wait_applied(nginx)
        mark = LogMark(nginx.error_log_path)
        client = WorkerClient(poll_port, nginx.workers)
        stub = cp.upstreams
        base = cp.get_upstream("backends")

        def put_call(address):
            upstream = type(base)()
            upstream.CopyFrom(base)
            del upstream.servers[:]
            upstream.servers.append(cp.server(address))
            request = management_pb2.PutUpstreamRequest(upstream=upstream)
            return lambda: stub.PutUpstream.future(request, timeout=15)

        def update_call(address, down):
            request = management_pb2.UpdateServerRequest(upstream="backends", address=address,
                                                         down=down)
            return lambda: stub.UpdateServer.future(request, timeout=15)

        settings = dict(consecutive=args.consecutive, deadline_s=5.0, max_requests=20000)
        out = results["apply"] = {"consecutive": args.consecutive, "workers": client.pids,
                                  "poll": "one keepalive connection per worker (reuseport "
                                          "listener), requests back to back"}
        meter = CpuMeter().start()
        # PutUpstream: the only server flips between A and B.
        for i in range(args.warmup_writes):
            timed_write(client, put_call(a if i % 2 else b), pa if i % 2 else pb, **settings)
        samples = []
        started = time.monotonic()
        for i in range(args.apply_writes):
            if time.monotonic() - started > args.apply_seconds:
                break
            address, port = (b, pb) if i % 2 == 0 else (a, pa)
            if i == 0 and status_peers(nginx, "backends") == [b]:
                address, port = a, pa
            samples.append(timed_write(client, put_call(address), port, **settings))
        out["put"] = summarize_apply(samples, time.monotonic() - started)
        log("apply PutUpstream: %s" % json.dumps(out["put"]))

        # UpdateServer: A primary, B backup; A down <-> up flips which one serves.
        written = put_servers(cp, "backends", [a, cp.server(b, backup=True)])
        assert accepted(written), written
        samples = []
        started = time.monotonic()
        for i in range(args.apply_writes):
            if time.monotonic() - started > args.apply_seconds:
                break
            down = i % 2 == 0
            samples.append(timed_write(client, update_call(a, down), pb if down else pa,
                                       **settings))
        out["update"] = summarize_apply(samples, time.monotonic() - started)
        out["cpu_busy"] = meter.stop()
        log("apply UpdateServer: %s" % json.dumps(out["update"]))

        # Sparse writes, as an operator makes them: PutUpstream after a pause.
        assert accepted(put_servers(cp, "backends", [a]))
        samples = []
        started = time.monotonic()
        for i in range(args.sparse_writes):
            time.sleep(args.sparse_gap)
            address, port = (b, pb) if i % 2 == 0 else (a, pa)
            samples.append(timed_write(client, put_call(address), port, **settings))
        out["sparse"] = summarize_apply(samples, time.monotonic() - started)
        out["sparse_gap_s"] = args.sparse_gap
        log("apply sparse PutUpstream: %s" % json.dumps(out["sparse"]))
        client.close()
        out["log"] = log_summary(mark.text())
    finally:
        nginx.cleanup()
        cp.stop()
        shutil.rmtree(cp.dir, ignore_errors=True)
        backends.cleanup()


def summarize_apply(samples, elapsed):
    ok = [s for s in samples if s["ok"]]
    return {
        "writes": len(samples),
        "elapsed_s": elapsed,
        "failed": len(samples) - len(ok),
        "not_accepted": sum(1 for s in samples if not s["accepted"]),
        "incomplete": sum(1 for s in samples if not s["complete"]),
        "served_ms": dist([s["served_ms"] for s in ok]),
        "served_lower_ms": dist([s["served_lower_ms"] for s in ok]),
        "ack_ms": dist([s["ack_ms"] for s in samples]),
        "ack_minus_served_ms": dist([s["ack_ms"] - s["served_ms"] for s in ok]),
        "spread_ms": dist([s["spread_ms"] for s in ok]),
        # Writes whose last worker certainly switched only after the ACK arrived.
        "served_after_ack": sum(1 for s in ok if s["served_lower_ms"] > s["ack_ms"]),
        "stale_after_ack": sum(s["stale_after_ack"] for s in samples),
        "flaps": sum(s["flaps"] for s in samples),
        "requests": sum(s["requests"] for s in samples),
    }


# --------------------------------------------------------------------------
# 3. Churn under load


def phase_churn(results, args):
    backends = Backends(4, workers=args.backend_workers).start()
    anchor, *others = backends.addresses
    cp = harness.ControlPlane().start()
    nginx = module_nginx(cp, "bench-churn", """\
        upstream backends {
            zone backends 256k;
            server %s;
            keepalive %d;
        }
        """ % (anchor, UPSTREAM_KEEPALIVE), server_extra=PROXY_LOCATION).start()
    try:
        wait_applied(nginx)
        assert accepted(put_servers(cp, "backends", [anchor, others[0]]))
        out = results["churn"] = {"ops_planned": args.churn_ops, "anchor": anchor,
                                  "churned": others}
        # Baseline: the same nginx and upstream, no writes.
        account = CpuAccount({"nginx": lambda: nginx_pids(nginx),
                              "backends": lambda: nginx_pids(backends),
                              "controlplane": lambda: [cp.process.pid]}).start()
        _, base, _ = wrk.run(nginx.port, threads=2, connections=32,
                             duration="%ds" % args.wrk_seconds)
        base["cpu_s"] = account.stop()
        out["baseline"] = base
        log("churn baseline: %.1f req/s, failed %d" % (base["rps"], base["failed"]))

        mark = LogMark(nginx.error_log_path)
        rng = random.Random(1)
        present = {anchor: 1, others[0]: 1}
        ops = collections.Counter()
        rejected = []
        errors = []
        latencies = []
        meter = CpuMeter().start()
        account = CpuAccount({"nginx": lambda: nginx_pids(nginx),
                              "backends": lambda: nginx_pids(backends),
                              "controlplane": lambda: [cp.process.pid]}).start()
        load = wrk.Background(nginx.port, threads=2, connections=32)
        time.sleep(1.0)
        started = time.monotonic()
        try:
            for i in range(args.churn_ops):
                if time.monotonic() - started > args.churn_seconds:
                    break
                absent = [x for x in others if x not in present]
                removable = [x for x in others if x in present]
                choices = ["weight"] + (["add"] if absent else []) + \
                          (["remove"] if removable else [])
                op = rng.choice(choices)
                t = time.perf_counter()
                try:
                    if op == "add":
                        address = rng.choice(absent)
                        weight = rng.randint(1, 10)
                        written = cp.add_server("backends", address, weight=weight)
                        present[address] = weight
                    elif op == "remove":
                        address = rng.choice(removable)
                        written = cp.remove_server("backends", address)
                        del present[address]
                    else:
                        address = rng.choice(sorted(present))
                        weight = rng.randint(1, 10)
                        written = cp.update_server("backends", address, weight=weight)
                        present[address] = weight
                except Exception as e:  # pylint: disable=broad-except
                    errors.append("%s %s: %s" % (op, address, e))
                    continue
                latencies.append((time.perf_counter() - t) * 1e3)
                ops[op] += 1
                if not accepted(written):
                    rejected.append("%s %s: acked %d, %s" % (
                        op, address, written.acked_nodes,
                        "; ".join(r.message for r in written.rejections)))
            elapsed = time.monotonic() - started
            time.sleep(1.0)
        finally:
            during, raw = load.stop()
        out["cpu_busy"] = meter.stop()
        out["cpu_s"] = account.stop()
        out["wall_s"] = time.monotonic() - load.started
        out["wrk_argv"] = " ".join(load.argv)
        out["ops"] = dict(ops)
        out["ops_done"] = sum(ops.values())
        out["elapsed_s"] = elapsed
        out["write_ms"] = dist(latencies)
        out["rejected"] = len(rejected)
        out["rejected_samples"] = rejected[:5]
        out["errors"] = len(errors)
        out["error_samples"] = errors[:5]
        out["during"] = during
        out["wrk_output"] = raw
        out["final_peers"] = status_peers(nginx, "backends")
        out["expected_peers"] = sorted(present)
        out["log"] = log_summary(mark.text())
        log("churn: %d ops in %.1f s, rejected %d, errors %d; wrk %.1f req/s, failed %d "
            "(non-2xx %d, socket %s)" % (out["ops_done"], elapsed, len(rejected), len(errors),
                                        during["rps"], during["failed"],
                                        during["non_2xx_3xx"], during["socket_errors"]))
    finally:
        nginx.cleanup()
        cp.stop()
        shutil.rmtree(cp.dir, ignore_errors=True)
        backends.cleanup()


# --------------------------------------------------------------------------
# 4. Shared memory per peer and per upstream


def fake_addresses(n):
    """n distinct IPv4 addresses with port 80 (never connected to: no traffic)."""
    return ["127.%d.%d.%d:80" % (1 + i // 62500, (i // 250) % 250, i % 250 + 1)
            for i in range(n)]


def phase_memory(results, args):
    sizes = [slab.parse_size(s) for s in args.zone_sizes.split(",")]
    xds_zone = slab.parse_size(args.xds_zone_size)
    assert xds_zone not in sizes and len(set(sizes)) == len(sizes)
    cp = harness.ControlPlane().start()
    upstreams = "".join("""\
        upstream mem%d {
            zone mem%d %d;
            server 127.0.0.1:9;
        }
        """ % (s, s, s) for s in sizes)
    poll_port = harness.free_port()
    nginx = module_nginx(cp, "bench-memory", upstreams, xds_zone_size=args.xds_zone_size,
                         server_extra="location / { add_header X-Worker $pid; return 200 \"0\"; }\n",
                         extra_ports=[poll_port])
    nginx.start()
    try:
        wait_applied(nginx)
        # Requests on every worker make each bring its run-time upstreams up to date.
        client = WorkerClient(poll_port, nginx.workers)
        # The worker running the agent thread (worker 0) first.
        workers = sorted(client.pids, key=lambda p: -threads(p))
        out_workers = {"agent_worker": workers[0]}
        mark = LogMark(nginx.error_log_path)
        pid = nginx.master_pid
        out = results["memory"] = {"zones": [], "xds_zone_size": xds_zone}
        out.update(out_workers)
        addresses = fake_addresses(max(sizes) // 256 + 2)
        for size in sizes:
            name = "mem%d" % size

            def put(n):
                written = put_servers(cp, name, addresses[:n])
                if accepted(written):
                    return True
                messages = [r.message for r in written.rejections]
                if messages and all("is full" in m for m in messages):
                    return False
                raise AssertionError("put of %d servers: %s" % (n, written))

            def fits(n):
                """From a 1-server list, does a list of n servers fit?"""
                assert put(1)
                return put(n)

            assert put(1)
            one = slab.read_zone_of_size(pid, size)
            # The control plane takes at most MAX_SERVERS servers per upstream.
            lo, hi = 1, min(size // 256 + 1, MAX_SERVERS)
            probes = 1
            capped = fits(hi)
            if capped:
                lo = hi
            while hi - lo > 1:
                mid = (lo + hi) // 2
                probes += 1
                if fits(mid):
                    lo = mid
                else:
                    hi = mid
            capacity = lo
            assert put(1) and put(capacity)
            full = slab.read_zone_of_size(pid, size)
            rejected = None if capped else not put(capacity + 1)
            zone = {
                "size": size, "capacity": capacity, "probes": probes,
                "capped_by_api": capped,
                "capacity_plus_one_rejected": rejected,
                "managed_pages": one.total_pages,
                "pages_used_one": one.used_pages, "pages_used_full": full.used_pages,
                "slot_bytes_one": one.slot_bytes_used, "slot_bytes_full": full.slot_bytes_used,
                "bytes_per_peer_slots": (full.slot_bytes_used - one.slot_bytes_used) /
                                        (capacity - 1),
                "bytes_per_peer_pages": (full.used_pages - one.used_pages) * slab.PAGE /
                                        (capacity - 1),
                "bytes_per_peer_gross": size / capacity,
                "slots_full": {k: v["used"] for k, v in full.as_dict()["slots"].items()
                               if v["used"]},
            }
            assert put(1)
            out["zones"].append(zone)
            log("memory zone %d: %s" % (size, json.dumps(zone)))

        # The module's own zone: the last applied snapshot (one block) plus
        # per zone upstream state. Grow the number of run-time upstreams.
        xds = []
        rss = []
        counts = [int(x) for x in args.runtime_upstreams.split(",")]
        made = 0
        for target in counts:
            while made < target:
                written = cp.put_upstream("rt%d" % made, fake_addresses(made * 2 + 2)[-2:])
                assert accepted(written), written
                made += 1
            for worker in client.pids:
                client.get(worker)
            stats = slab.read_zone_of_size(pid, xds_zone)
            xds.append({"runtime_upstreams": made, "used_pages": stats.used_pages,
                        "slot_bytes_used": stats.slot_bytes_used})
            rss.append({"runtime_upstreams": made,
                        "worker_private_kib": [private_kib(p) for p in workers]})
        out["xds_zone"] = xds
        out["worker_private"] = rss
        first, last = xds[0], xds[-1]
        n = last["runtime_upstreams"] - first["runtime_upstreams"]
        if n > 0:
            out["xds_bytes_per_runtime_upstream"] = (
                (last["used_pages"] - first["used_pages"]) * slab.PAGE / n)
            out["worker_private_kib_per_runtime_upstream"] = [
                (b - a) / n for a, b in zip(rss[0]["worker_private_kib"],
                                            rss[-1]["worker_private_kib"])]
        log("memory xds zone: %s" % json.dumps(xds))
        log("memory worker private: %s" % json.dumps(rss))
        out["log"] = log_summary(mark.text())
    finally:
        nginx.cleanup()
        cp.stop()
        shutil.rmtree(cp.dir, ignore_errors=True)


def threads(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^Threads:\s*(\d+)", f.read(), re.M).group(1))


def private_kib(pid):
    """Private_Clean + Private_Dirty of `pid` (kB), from smaps_rollup."""
    total = 0
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total


# --------------------------------------------------------------------------
# 5. Leak check


def phase_leak(results, args):
    size_text = args.leak_zone_size
    if size_text == "auto":
        zones = results.get("memory", {}).get("zones", [])
        best = min(zones, key=lambda z: abs(z["capacity"] - 50), default=None)
        size = best["size"] if best else 48 * 1024
    else:
        size = slab.parse_size(size_text)
    backends = Backends(4).start()
    anchor, *cycled = backends.addresses
    cp = harness.ControlPlane().start()
    nginx = module_nginx(cp, "bench-leak", """\
        upstream backends {
            zone leak %d;
            server %s;
            keepalive 8;
        }
        """ % (size, anchor), server_extra=PROXY_LOCATION).start()
    workdir = harness.make_dir("leak-wrk")
    try:
        wait_applied(nginx)
        pid = nginx.master_pid
        assert accepted(put_servers(cp, "backends", [anchor]))
        # How many peers fit this zone (the same probe as phase 4).
        fake = fake_addresses(size // 256 + 2)
        lo, hi = 1, len(fake)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            assert accepted(put_servers(cp, "backends", [anchor]))
            if accepted(put_servers(cp, "backends", [anchor] + fake[:mid - 1])):
                lo = mid
            else:
                hi = mid
        capacity = lo
        assert accepted(put_servers(cp, "backends", [anchor]))
        before = slab.read_zone_of_size(pid, size)
        mark = LogMark(nginx.error_log_path)
        out = results["leak"] = {"zone_size": size, "capacity": capacity,
                                 "cycles_planned": args.leak_cycles}
        # Light traffic all along: requests hold references to peers, so the
        # removed-while-in-use (zombie) path runs too.
        script = wrk.delay_script(workdir, 2)
        load = wrk.Background(nginx.port, threads=1, connections=4, script=script)
        nacks = []
        errors = []
        cycles = 0
        started = time.monotonic()
        budget = args.leak_seconds
        extended = False
        meter = CpuMeter().start()
        try:
            while cycles < args.leak_cycles:
                elapsed = time.monotonic() - started
                if elapsed > budget:
                    break
                if cycles == 2000 and not extended:
                    # Finish all if the projection says it fits in the long budget.
                    projected = elapsed / cycles * args.leak_cycles
                    if projected <= args.leak_full_seconds:
                        budget = args.leak_full_seconds
                        extended = True
                    out["projected_s"] = projected
                address = cycled[cycles % len(cycled)]
                try:
                    added = cp.add_server("backends", address)
                    removed = cp.remove_server("backends", address)
                except Exception as e:  # pylint: disable=broad-except
                    errors.append(str(e))
                    if len(errors) >= 10:
                        break
                    continue
                for op, w in (("add", added), ("remove", removed)):
                    if not accepted(w):
                        nacks.append("cycle %d %s: acked %d; %s" % (
                            cycles, op, w.acked_nodes,
                            "; ".join(r.message for r in w.rejections)))
                cycles += 1
                if len(nacks) >= 10:
                    break
                if cycles % 10000 == 0:
                    log("leak: %d cycles in %.0f s, %d NACKs" %
                        (cycles, time.monotonic() - started, len(nacks)))
            elapsed = time.monotonic() - started
        finally:
            during, _ = load.stop()
        out["cpu_busy"] = meter.stop()
        time.sleep(0.5)
        after = slab.read_zone_of_size(pid, size)
        # Does the zone still take as many peers as at the start?
        assert accepted(put_servers(cp, "backends", [anchor]))
        still_fits = accepted(put_servers(cp, "backends", [anchor] + fake[:capacity - 1]))
        assert accepted(put_servers(cp, "backends", [anchor]))
        out.update({
            "cycles": cycles, "writes": 2 * cycles, "elapsed_s": elapsed,
            "writes_per_s": 2 * cycles / elapsed if elapsed else None,
            "stopped_by": ("count" if cycles >= args.leak_cycles else
                           "nacks" if len(nacks) >= 10 else
                           "errors" if len(errors) >= 10 else "time"),
            "budget_s": budget,
            "nacks": len(nacks), "nack_samples": nacks[:5],
            "errors": len(errors), "error_samples": errors[:5],
            "zone_before": {"used_pages": before.used_pages,
                            "slot_bytes_used": before.slot_bytes_used,
                            "fails": before.fails},
            "zone_after": {"used_pages": after.used_pages,
                           "slot_bytes_used": after.slot_bytes_used,
                           "fails": after.fails},
            "capacity_still_fits": still_fits,
            "traffic": during,
            "traffic_argv": " ".join(load.argv).replace(os.path.dirname(script) + "/", ""),
            "log": log_summary(mark.text()),
        })
        log("leak: %s" % json.dumps({k: v for k, v in out.items() if k != "traffic"}))
    finally:
        nginx.cleanup()
        cp.stop()
        shutil.rmtree(cp.dir, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)
        backends.cleanup()


# --------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--nginx_module", required=True)
    parser.add_argument("--controlplane", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--wrk_seconds", type=int, default=10)
    parser.add_argument("--backend_workers", type=int, default=1)
    parser.add_argument("--apply_writes", type=int, default=1000)
    parser.add_argument("--apply_seconds", type=float, default=120)
    parser.add_argument("--warmup_writes", type=int, default=20)
    parser.add_argument("--consecutive", type=int, default=3)
    parser.add_argument("--sparse_writes", type=int, default=30)
    parser.add_argument("--sparse_gap", type=float, default=0.5)
    parser.add_argument("--churn_ops", type=int, default=10000)
    parser.add_argument("--churn_seconds", type=float, default=300)
    parser.add_argument("--zone_sizes", default="32k,48k,56k,64k,256k,1m")
    parser.add_argument("--xds_zone_size", default="4m")
    parser.add_argument("--runtime_upstreams", default="0,50,200")
    parser.add_argument("--leak_zone_size", default="auto")
    parser.add_argument("--leak_cycles", type=int, default=100000)
    parser.add_argument("--leak_seconds", type=float, default=480)
    parser.add_argument("--leak_full_seconds", type=float, default=600)
    args = parser.parse_args()
    harness.PATHS.nginx_module = os.path.abspath(args.nginx_module)
    harness.PATHS.controlplane = os.path.abspath(args.controlplane)
    # On SIGTERM/SIGINT unwind (so each phase's `finally` stops its processes
    # and removes their directories); atexit then kills whatever is left.
    def stop(signum, _frame):
        signal.signal(signal.SIGTERM, harness._on_sigterm)  # pylint: disable=protected-access
        signal.signal(signal.SIGINT, harness._on_sigterm)  # pylint: disable=protected-access
        log("signal %d: stopping" % signum)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.setswitchinterval(0.0005)

    results = {}
    if os.path.exists(args.out):
        with open(args.out) as f:
            results = json.load(f)
    phases = [p for p in args.phases.split(",") if p]
    for p in phases:
        if p not in PHASES:
            parser.error("unknown phase %s" % p)
    results.setdefault("meta", {})["started"] = time.strftime("%Y-%m-%d %H:%M UTC",
                                                              time.gmtime())
    failed = []
    for p in PHASES:
        if p not in phases:
            continue
        busy = wait_quiet(limit_pct=20.0, timeout=120.0)
        log("phase %s (the machine was %.0f%% busy)" % (p, busy))
        t = time.monotonic()
        results.setdefault(p, {})
        try:
            globals()["phase_" + p](results, args)
        except Exception as e:  # pylint: disable=broad-except
            import traceback
            traceback.print_exc()
            results.setdefault(p, {})["error"] = "%s: %s" % (type(e).__name__, e)
            failed.append(p)
        finally:
            harness.kill_all()
        results.setdefault(p, {})["phase_seconds"] = time.monotonic() - t
        results[p]["cpu_busy_before_phase"] = busy
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1, sort_keys=True)
    if failed:
        log("phases that failed: %s" % ", ".join(failed))
        sys.exit(1)


if __name__ == "__main__":
    main()
