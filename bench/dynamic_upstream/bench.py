"""One host, `/dynamic` down/up -> both workers serving: the real
ngx_dynamic_upstream (built by build_module.sh, outside the repo) side by
side with nginx-xds (our module + the control plane's HTTP gateway), in one
run, with the same backends, poller and counts.

    bench.py --dynamic_upstream_module=SO --nginx_module=SO --controlplane=BIN --out=OUT.json

Each side: one Debian nginx, 2 workers, upstream `backends` in zone
`zone_for_backends` with servers A and B backup. A write is
`GET /dynamic?upstream=zone_for_backends&server=A&down=` (then `&up=`):
to nginx itself for ngx_dynamic_upstream, to the control plane's gateway
for nginx-xds (answered once the node ACKed). Each worker is polled on its
own keepalive connection until it answered from the new backend
`--consecutive` times in a row (bench/nginx/nginx_bench.timed_write): p50 /
p99 of the answer and of the last worker's switch.
"""

import argparse
import concurrent.futures
import json
import os
import signal
import sys
import time

import e2e_bench
import harness
import nginx_bench as nb

ZONE = "zone_for_backends"
FLEET = "bench-dynamic"
LOCATION = nb.PROXY_LOCATION.replace(
    "location / {\n", "location / {\n    add_header X-Worker $pid always;\n")
UPSTREAM = """\
    upstream backends {
        zone %s 256k;
        server %s;
        server %s backup;
    }
    """


def flips(args, client, write, backends):
    """Warm-up, then `args.writes` down/up flips of A; the summary."""
    (pa, pb) = backends.backend_ports
    settings = dict(consecutive=args.consecutive, deadline_s=5.0, max_requests=20000,
                    is_accepted=write.accepted)
    for i in range(args.warmup_writes):
        nb.timed_write(client, write("down" if i % 2 == 0 else "up"), pb if i % 2 == 0 else pa,
                       **settings)
    nb.timed_write(client, write("up"), pa, **settings)
    samples = []
    started = time.monotonic()
    for i in range(args.writes):
        down = i % 2 == 0
        samples.append(nb.timed_write(client, write("down" if down else "up"),
                                      pb if down else pa, **settings))
    return nb.summarize_apply(samples, time.monotonic() - started)


class DirectWrite:
    """/dynamic on nginx itself (ngx_dynamic_upstream)."""

    def __init__(self, nginx, a, executor):
        self.nginx, self.a, self.executor = nginx, a, executor

    def __call__(self, flag):
        path = "/dynamic?upstream=%s&server=%s&%s=" % (ZONE, self.a, flag)
        return lambda: self.executor.submit(self.nginx.request, "GET", path)

    @staticmethod
    def accepted(response):
        return response[0] == 200


class GatewayWrite:
    """/dynamic on the control plane's gateway (nginx-xds), answered after the ACK."""

    def __init__(self, gateway, a, executor):
        self.gateway, self.a, self.executor = gateway, a, executor

    def __call__(self, flag):
        path = "/dynamic?upstream=%s&server=%s&%s=" % (ZONE, self.a, flag)
        return lambda: self.executor.submit(self.gateway.request, "GET", path)

    @staticmethod
    def accepted(answer):
        return answer["status"] == 200 and answer["acked"] == 1 and answer["connected"] == 1


def run_dynamic_upstream(args, backends, executor):
    a, b = backends.addresses
    poll_port = harness.free_port()
    nginx = harness.Nginx(
        http=UPSTREAM % (ZONE, a, b), module=args.dynamic_upstream_module, status=False,
        server="listen 127.0.0.1:%d reuseport;\n" % poll_port + nb.CLIENT_KEEPALIVE +
        "location /dynamic { dynamic_upstream; }\n" + LOCATION)
    nginx.start()
    try:
        client = nb.WorkerClient(poll_port, 2)
        out = flips(args, client, DirectWrite(nginx, a, executor), backends)
        client.close()
        return out
    finally:
        nginx.cleanup()


def run_nginx_xds(args, backends, executor):
    a, b = backends.addresses
    cp = harness.ControlPlane().start()
    nginx = None
    try:
        poll_port = harness.free_port()
        nginx = nb.module_nginx(cp, "dynamic-1", "xds_fleet %s;\n" % FLEET + UPSTREAM % (ZONE, a, b),
                                server_extra=LOCATION, extra_ports=[poll_port])
        nginx.start()
        nb.wait_applied(nginx)
        client = nb.WorkerClient(poll_port, 2)
        gateway = e2e_bench.Gateway(cp.http_address)
        e2e_bench.FLEET = FLEET  # the gateway's X-Xds-Fleet
        out = flips(args, client, GatewayWrite(gateway, a, executor), backends)
        client.close()
        return out
    finally:
        if nginx is not None:
            nginx.cleanup()
        cp.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dynamic_upstream_module", required=True)
    parser.add_argument("--nginx_module", required=True)
    parser.add_argument("--controlplane", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--warmup_writes", type=int, default=20)
    parser.add_argument("--consecutive", type=int, default=3)
    args = parser.parse_args()
    harness.PATHS.nginx_module = os.path.abspath(args.nginx_module)
    harness.PATHS.controlplane = os.path.abspath(args.controlplane)
    args.dynamic_upstream_module = os.path.abspath(args.dynamic_upstream_module)

    def stop(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.setswitchinterval(0.0005)
    out = {"started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "cpu_busy_before": nb.wait_quiet(limit_pct=20.0, timeout=60.0)}
    backends = nb.Backends(2).start()
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        for name, side in (("ngx_dynamic_upstream", run_dynamic_upstream),
                           ("nginx-xds", run_nginx_xds)):
            try:
                out[name] = side(args, backends, executor)
            except Exception as e:  # pylint: disable=broad-except
                # One side failing still reports the other.
                out[name] = {"error": "%s: %s" % (type(e).__name__, e)}
            nb.log("%s: %s" % (name, json.dumps(out[name])))
    finally:
        executor.shutdown(wait=False)
        backends.cleanup()
        harness.kill_all()
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
