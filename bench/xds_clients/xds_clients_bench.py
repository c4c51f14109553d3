"""A write followed by 100 proxyless gRPC channels beside the same write
followed by nginx, in one run.

    xds_clients_bench.py --nginx_module=SO --controlplane=BIN --channels_bench=BIN
        --out=results.json [--writes=200] [--channels=100] [--consecutive=3] [--pace_ms=20]

One control plane; fleet `bench-grpc`: upstream `foo` (one helloworld
backend, greeter_server.cjs, of two) followed by `--channels` gRPC C++
channels to `xds:///foo` in one process (grpc_channels_bench, which shares
gRPC's one xDS client between its channels); fleet `bench-nginx`: one Debian
nginx with our module, 2 workers, upstream `backends` in a zone (one echo
backend of two), each worker polled on its own keepalive connection.

The writes alternate between the two fleets; each is a dyups
`POST /upstream/NAME` that flips the one server between the fleet's two
backends. Measured from just before the HTTP request: the answer (durable and
ACKed by the fleet's node) and *served*, when the last channel or worker began
answering from the new backend `--consecutive` times in a row (an upper
bound; the lower bound is when it last sent a request answered by the old).

Every process listens on 127.0.0.1, ports picked at run time; every process
is stopped on exit; loops are bounded in count and time.
"""

import argparse
import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import time

import harness
import nginx_bench as nb
from nginx_xds_testing import http_client

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "xds_clients"))
from greeter import GreeterBackend  # noqa: E402 pylint: disable=wrong-import-position

GRPC_FLEET = "bench-grpc"
NGINX_FLEET = "bench-nginx"
ZONE = "zone_for_backends"


def http_write(cp, fleet, name, address):
    port = int(cp.http_address.rsplit(":", 1)[1])
    answer = http_client.request(port, "POST", "/upstream/" + name, body="server %s;" % address,
                                 headers={"X-Xds-Fleet": fleet}, timeout=30)
    return answer


def accepted(answer):
    return (answer.status == 200 and answer.headers.get("X-Xds-Acked-Nodes") == "1"
            and answer.headers.get("X-Xds-Connected-Nodes") == "1")


class Channels:
    """grpc_channels_bench: N channels to xds:///foo, driven over stdin."""

    def __init__(self, binary, bootstrap, count, pace_ms):
        env = dict(os.environ, GRPC_XDS_BOOTSTRAP=bootstrap)
        self.process = harness.start_process(
            [binary, "--target=foo", "--channels=%d" % count, "--pace_ms=%d" % pace_ms],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)

    def start_await(self, port, consecutive, deadline_ms=5000):
        self.process.stdin.write(b"await %d %d %d\n" % (port, consecutive, deadline_ms))
        self.process.stdin.flush()

    def result(self):
        line = self.process.stdout.readline()
        assert line, "grpc_channels_bench exited"
        return json.loads(line)


def grpc_write(cp, channels, executor, address, port, consecutive):
    t0 = time.perf_counter()
    channels.start_await(port, consecutive)
    answer = executor.submit(http_write, cp, GRPC_FLEET, "foo", address).result(timeout=30)
    ack_ms = (time.perf_counter() - t0) * 1e3
    seen = channels.result()
    complete = seen["complete"]
    return {
        "ok": accepted(answer) and complete, "accepted": accepted(answer), "complete": complete,
        "ack_ms": ack_ms,
        "served_ms": seen["served_ms"] if complete else None,
        "served_lower_ms": seen["served_lower_ms"] if complete else None,
        "spread_ms": None, "requests": seen["requests"], "stale_after_ack": 0,
        "flaps": seen["flaps"],
    }


def summarize(samples, elapsed):
    ok = [s for s in samples if s["ok"]]
    return {
        "writes": len(samples), "elapsed_s": elapsed, "failed": len(samples) - len(ok),
        "served_ms": nb.dist([s["served_ms"] for s in ok]),
        "served_lower_ms": nb.dist([s["served_lower_ms"] for s in ok]),
        "ack_ms": nb.dist([s["ack_ms"] for s in samples]),
        "flaps": sum(s["flaps"] for s in samples),
        "requests": sum(s["requests"] for s in samples),
    }


def run(args):
    greeters = [GreeterBackend().start() for _ in range(2)]
    backends = nb.Backends(2).start()
    cp = harness.ControlPlane().start()
    nginx = None
    channels = None
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        (ga, gb) = greeters
        a, b = backends.addresses
        pa, pb = backends.backend_ports
        location = nb.PROXY_LOCATION.replace(
            "location / {\n", "location / {\n    add_header X-Worker $pid always;\n")
        poll_port = harness.free_port()
        nginx = nb.module_nginx(cp, "bench-nginx-1", """\
            xds_fleet %s;
            upstream backends {
                zone %s 256k;
                server %s;
            }
            """ % (NGINX_FLEET, ZONE, a), server_extra=location, extra_ports=[poll_port])
        nginx.start()
        nb.wait_applied(nginx)
        worker_client = nb.WorkerClient(poll_port, 2)

        first = http_write(cp, GRPC_FLEET, "foo", ga.address)
        assert first.status == 200, first
        bootstrap = os.path.join(cp.dir, "bootstrap.json")
        answer = http_client.request(int(cp.http_address.rsplit(":", 1)[1]),
                                     path="/xds/bootstrap?node=bench-channels&fleet=" + GRPC_FLEET)
        assert answer.status == 200, answer
        with open(bootstrap, "w") as f:
            f.write(answer.body)
        channels = Channels(args.channels_bench, bootstrap, args.channels, args.pace_ms)
        channels.start_await(ga.port, args.consecutive, 30000)
        assert channels.result()["complete"], "the channels never reached the first backend"
        harness.wait_until(lambda: cp.node_status("bench-channels", GRPC_FLEET).connected,
                           what="the channels' xDS stream")

        def nginx_write(address):
            return lambda: executor.submit(http_write, cp, NGINX_FLEET, "backends", address)

        settings = dict(consecutive=args.consecutive, deadline_s=5.0, max_requests=20000,
                        is_accepted=accepted)
        samples = {"grpc": [], "nginx": []}
        started = time.monotonic()
        for i in range(args.writes + args.warmup_writes):
            if time.monotonic() - started > args.seconds:
                break
            flip = i % 2 == 0
            g = grpc_write(cp, channels, executor, (gb if flip else ga).address,
                           (gb if flip else ga).port, args.consecutive)
            n = nb.timed_write(worker_client, nginx_write(b if flip else a), pb if flip else pa,
                               **settings)
            if i >= args.warmup_writes:
                samples["grpc"].append(g)
                samples["nginx"].append(n)
        elapsed = time.monotonic() - started
        worker_client.close()
        out = {"channels": args.channels, "consecutive": args.consecutive,
               "pace_ms": args.pace_ms,
               "grpc": summarize(samples["grpc"], elapsed),
               "nginx": summarize(samples["nginx"], elapsed)}
        nb.log("xds clients bench: %s" % json.dumps(out))
        return out
    finally:
        executor.shutdown(wait=False)
        if channels:
            harness.kill_group(channels.process)
        if nginx:
            nginx.cleanup()
        cp.stop()
        backends.cleanup()
        for g in greeters:
            g.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--nginx_module", required=True)
    parser.add_argument("--controlplane", required=True)
    parser.add_argument("--channels_bench", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--warmup_writes", type=int, default=10)
    parser.add_argument("--consecutive", type=int, default=3)
    parser.add_argument("--pace_ms", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=240)
    args = parser.parse_args()
    harness.PATHS.nginx_module = os.path.abspath(args.nginx_module)
    harness.PATHS.controlplane = os.path.abspath(args.controlplane)

    def stop(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    busy = nb.wait_quiet(limit_pct=30.0, timeout=60.0)
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
