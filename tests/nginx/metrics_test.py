"""Metrics end to end: a real Prometheus (Debian's, on loopback) scrapes the
control plane's /metrics and two nginx's `xds_status?format=prometheus`;
`promtool check metrics` passes on every endpoint, and queries over
Prometheus' HTTP API show what a write and a NACK changed; every query of
the Grafana dashboard (deploy/grafana) answers.
"""

import json
import os
import re
import shutil
import subprocess
import urllib.parse
import urllib.request

import pytest

from nginx_xds_testing.nginx import Nginx
from nginx_xds_testing.processes import free_port, make_dir, start_process, kill_group, \
    read_file
from nginx_xds_testing.waits import wait_until


DASHBOARD = "deploy/grafana/nginx-xds-dashboard.json"

# Dashboard queries that may rightly have no series here (no peer is down).
MAY_BE_EMPTY = {'nginx_xds_upstream_peer_state{state!="up"} == 1'}


# More servers than the 32k zone of upstream "small" holds: the node rejects it.
def too_many_servers(first):
    return [first] + ["127.0.%d.%d:80" % (i // 250, i % 250 + 1) for i in range(400)]


def http_text(url, timeout=5.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.headers.get("Content-Type"), response.read().decode()


def promtool_check(text, what):
    """`promtool check metrics` on `text`: fails the test with its complaints."""
    checked = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                             capture_output=True, timeout=30)
    assert checked.returncode == 0, "promtool on %s: %s%s" % (
        what, checked.stdout.decode(), checked.stderr.decode())


class Prometheus:
    """Debian's /usr/bin/prometheus on 127.0.0.1, scraping `jobs` every second."""

    def __init__(self, jobs):
        self.dir = make_dir("prometheus")
        self.port = free_port()
        self.process = None
        lines = ["global:", "  scrape_interval: 1s", "  scrape_timeout: 1s", "scrape_configs:"]
        for name, (address, path, params) in jobs.items():
            lines += ["  - job_name: %s" % name, "    metrics_path: %s" % path]
            if params:
                lines.append("    params:")
                lines += ["      %s: [%s]" % (k, v) for k, v in params.items()]
            lines += ["    static_configs:", "      - targets: ['%s']" % address]
        self.config = os.path.join(self.dir, "prometheus.yml")
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.log_path = os.path.join(self.dir, "prometheus.log")

    def start(self):
        log = open(self.log_path, "ab")
        try:
            self.process = start_process(
                ["prometheus", "--config.file=" + self.config,
                 "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
                 "--web.listen-address=127.0.0.1:%d" % self.port],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        finally:
            log.close()
        wait_until(self.ready, timeout=30, what="Prometheus to be ready")
        return self

    def ready(self):
        assert self.process.poll() is None, read_file(self.log_path)
        try:
            return http_text("http://127.0.0.1:%d/-/ready" % self.port)[0] == 200
        except OSError:
            return False

    def query(self, expr):
        """An instant query: {frozenset(labels.items()): value}."""
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (
            self.port, urllib.parse.urlencode({"query": expr}))
        answer = json.loads(http_text(url)[2])
        assert answer["status"] == "success", answer
        return {frozenset(r["metric"].items()): float(r["value"][1])
                for r in answer["data"]["result"]}

    def value(self, expr):
        """The one value of `expr`, or None while it has none."""
        result = self.query(expr)
        assert len(result) <= 1, (expr, result)
        return next(iter(result.values()), None)

    def wait_value(self, expr, predicate, what):
        """Waits until `expr` has one value that `predicate` accepts; returns it."""
        seen = []

        def holds():
            seen[:] = [self.query(expr)]
            value = self.value(expr)
            return value if value is not None and predicate(value) else None

        try:
            return wait_until(holds, timeout=30, what=what)
        except AssertionError as e:
            raise AssertionError("%s\n%s = %s" % (e, expr, seen)) from None

    def cleanup(self, keep=False):
        if self.process is not None:
            kill_group(self.process)
            self.process = None
        shutil.rmtree(self.dir, ignore_errors=True)


class MetricsTest:

    @pytest.fixture(autouse=True)
    def set_up(self, processes, make_control_plane, make_backends):
        self.backends = make_backends(2)
        self.b = self.backends.addresses
        self.cp = make_control_plane()
        self.nginx = {}
        for node in ("node-a", "node-b"):
            self.nginx[node] = processes.track(Nginx(
                http="""
                xds_server %s;
                xds_node_id %s;
                upstream app {
                    zone zone_for_app 256k;
                    server %s;
                }
                upstream small {
                    zone zone_for_small 32k;
                    server %s;
                }
                """ % (self.cp.xds_address, node, self.b[0], self.b[0]),
                server="""
                location / {
                    proxy_pass http://app;
                }
                # As deploy/k8s's nginx.conf.template serves it.
                location = /metrics {
                    set $args "format=prometheus";
                    xds_status;
                }
                """))
            self.nginx[node].start()
        for nginx in self.nginx.values():
            wait_until(lambda: nginx.status_json()["connected"],
                       what="nginx to connect to the control plane")
        self.cp_metrics = "http://%s/metrics" % self.cp.http_address
        jobs = {"controlplane": (self.cp.http_address, "/metrics", None)}
        # node-a by its status page's parameter, node-b at /metrics (the
        # path deploy/k8s's scrape annotations name).
        jobs["node_a"] = ("127.0.0.1:%d" % self.nginx["node-a"].port, "/xds/status",
                          {"format": "prometheus"})
        jobs["node_b"] = ("127.0.0.1:%d" % self.nginx["node-b"].port, "/metrics", None)
        self.prometheus = processes.track(Prometheus(jobs)).start()

    def nginx_metrics(self, node):
        code, headers, body = self.nginx[node].get("/xds/status?format=prometheus")
        assert code == 200, body
        return body

    def test_promtool_accepts_every_endpoint(self):
        """Validates: every endpoint is in a format Prometheus' own linter accepts."""
        self.cp.put_upstream("app", [self.b[0], self.b[1]])
        status, content_type, body = http_text(self.cp_metrics)
        assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
        promtool_check(body, "the control plane")
        for name in ("nginx_xds_writes_total", "nginx_xds_write_durable_seconds_bucket",
                     "nginx_xds_write_acked_seconds_count", "nginx_xds_store_commit_seconds_sum",
                     "nginx_xds_fleet_version", "nginx_xds_node_versions_behind",
                     "nginx_xds_ads_responses_total", "process_resident_memory_bytes"):
            assert name in body, name
        for node in self.nginx:
            body = self.nginx_metrics(node)
            promtool_check(body, node)
            assert 'nginx_xds_upstream_peer_state{upstream="app",server="%s",state="up"} 1' % (
                self.b[1]) in body, body
            assert "nginx_xds_apply_duration_seconds_count" in body

    def peer_samples(self, node, upstream):
        """{(metric, server, state or None): value} of `upstream`'s peers on `node`."""
        samples = {}
        for line in self.nginx_metrics(node).splitlines():
            m = re.match(r'^(nginx_xds_upstream_peer_\w+)\{upstream="([^"]*)",server="([^"]*)"'
                         r'(?:,state="(\w+)")?\} (\d+)$', line)
            if m and m.group(2) == upstream:
                samples[(m.group(1), m.group(3), m.group(4))] = int(m.group(5))
        return samples

    def test_peers_show_requests_failures_and_state(self):
        """Validates: a peer's requests and failures count, and its state reads up, down or
        unavail as nginx's balancer sees it."""
        dead = "127.0.0.1:%d" % free_port()  # nothing listens there
        written = self.cp.put_upstream("app", [
            self.cp.server(self.b[0]),
            self.cp.server(dead, max_fails=1, fail_timeout=60),
            self.cp.server(self.b[1], down=True)])
        assert written.acked_nodes == 2, written
        for _ in range(4):
            code, _, body = self.nginx["node-a"].get("/")
            assert code == 200, body  # the dead peer's tries go on to the live one
        s = self.peer_samples("node-a", "app")
        live, down = self.b[0], self.b[1]
        assert s[("nginx_xds_upstream_peer_requests_total", dead, None)] == 1, s
        assert s[("nginx_xds_upstream_peer_failures_total", dead, None)] == 1, s
        assert s[("nginx_xds_upstream_peer_requests_total", live, None)] == 4, s
        assert s[("nginx_xds_upstream_peer_failures_total", live, None)] == 0, s
        assert s[("nginx_xds_upstream_peer_requests_total", down, None)] == 0, s
        for server, state in ((live, "up"), (dead, "unavail"), (down, "down")):
            for each in ("up", "down", "unavail"):
                assert s[("nginx_xds_upstream_peer_state", server, each)] == (each == state), (
                    server, each, s)
            assert s[("nginx_xds_upstream_peer_active_connections", server, None)] == 0, s
        # Counted where the requests went: the other nginx saw none.
        other = self.peer_samples("node-b", "app")
        assert other[("nginx_xds_upstream_peer_requests_total", live, None)] == 0, other

    def test_prometheus_sees_a_write_and_a_nack(self):
        """Validates: queries over Prometheus' API show what a write and a NACK changed."""
        p = self.prometheus
        for job in ("controlplane", "node_a", "node_b"):
            p.wait_value('up{job="%s"}' % job, lambda v: v == 1, "Prometheus to scrape " + job)
        writes = 'sum(nginx_xds_writes_total{api="grpc",operation="put",result="ok"}) or vector(0)'
        before = p.value(writes)

        # A write: counted, the fleet's version, both nodes at it, peers serving.
        written = self.cp.put_upstream("app", [self.b[0], self.b[1]])
        assert (written.acked_nodes, len(written.rejections)) == (2, 0), written
        for _ in range(6):
            code, _, body = self.nginx["node-a"].get("/")
            assert code == 200, body
        p.wait_value(writes, lambda v: v == before + 1, "the write to be counted")
        p.wait_value('nginx_xds_fleet_version{fleet="default"}',
                     lambda v: v == written.version, "the fleet's version")
        p.wait_value('nginx_xds_fleet_acked_nodes{fleet="default"}', lambda v: v == 2,
                     "both nodes to count as acked")
        for job in ("node_a", "node_b"):
            p.wait_value('nginx_xds_applied_version{job="%s"}' % job,
                         lambda v: v == written.version, job + "'s applied version")
        p.wait_value('sum(nginx_xds_upstream_peer_requests_total{job="node_a",upstream="app"})',
                     lambda v: v >= 6, "node-a's requests to its peers")
        p.wait_value('count(nginx_xds_upstream_peer_state{job="node_a",upstream="app",'
                     'state="up"} == 1)', lambda v: v == 2, "both peers up")
        assert p.value('max(nginx_xds_node_versions_behind)') == 0
        assert p.value('sum(nginx_xds_node_nacks_total)') == 0
        assert p.value('sum(nginx_xds_write_acked_seconds_count{operation="put"})') >= 1

        # A NACK: both nodes reject "small"; every side counts it.
        rejected = self.cp.put_upstream("small", too_many_servers(self.b[0]))
        assert len(rejected.rejections) == 2, rejected
        p.wait_value('sum(nginx_xds_writes_total{api="grpc",operation="put",result="rejected"})',
                     lambda v: v == 1, "the rejected write to be counted")
        for node in ("node-a", "node-b"):
            # A NACK is a request with error_detail: one per resource type.
            p.wait_value('nginx_xds_node_nacks_total{node="%s"}' % node, lambda v: v >= 1,
                         "the control plane to count %s's NACK" % node)
        for job in ("node_a", "node_b"):
            p.wait_value('nginx_xds_nacks_total{job="%s"}' % job, lambda v: v == 1,
                         job + " to count its NACK")
            p.wait_value('nginx_xds_last_error_timestamp_seconds{job="%s"}' % job,
                         lambda v: v > 0, job + "'s last error time")

        # Every panel of the dashboard answers, with data, over what this
        # test produced: its metric names and labels are the real ones.
        with open(DASHBOARD) as f:
            dashboard = json.load(f)
        exprs = [target["expr"] for panel in dashboard["panels"]
                 for target in panel.get("targets", [])]
        assert len(exprs) > 20, exprs
        for expr in exprs:
            query = expr.replace("$__rate_interval", "1m").replace("$fleet", ".*")
            result = p.query(query)
            assert result or expr in MAY_BE_EMPTY, "dashboard query has no data: " + query
