"""Upstreams built at run time in every worker: ones only the control plane
defines (reached with proxy_pass http://$host, as with dyups) and ones
nginx.conf declares without a zone (replaced in place). A run-time
upstream's peers are shared by all workers, in the module's zone, so its
balancing state (round robin, failures) is one for the whole nginx.
"""

import collections
import http.client
import os
import signal

import pytest

from nginx_xds.v1 import upstream_pb2
from nginx_xds_testing.http_client import Response
from nginx_xds_testing.nginx import Nginx
from nginx_xds_testing.processes import free_port
from nginx_xds_testing.waits import wait_until


class RuntimeUpstreamsTest:

    @pytest.fixture(autouse=True)
    def set_up(self, processes, make_control_plane, make_backends):
        self.backends = make_backends(3)
        self.b = self.backends.addresses
        self.cp = make_control_plane()
        self.nginx = processes.track(Nginx(
            http="""
            xds_server %s;
            xds_node_id runtime-node;
            upstream host1 {
                server %s;
            }
            """ % (self.cp.xds_address, self.b[0]),
            server="""
            location / {
                proxy_pass http://$host;
            }
            """))
        self.nginx.start()
        wait_until(lambda: self.nginx.status_json()["version"],
                   what="the first applied version")

    def port(self, i):
        return self.backends.backend_ports[i]

    def traffic(self, host, count=20, path="/"):
        seen = collections.Counter()
        for _ in range(count):
            code, _, body = self.nginx.get(path, headers={"Host": host})
            assert code == 200, body
            seen[int(body)] += 1
        return seen

    def write(self, name, servers, **fields):
        written = self.cp.put_upstream(name, servers, **fields)
        assert written.acked_nodes == 1, written
        return written

    def test_new_upstream_is_reachable_by_host_then_502_after_delete(self):
        """New upstream is reachable by host then 502 after delete."""
        assert self.nginx.get("/", headers={"Host": "dyhost"}).status == 502
        self.write("dyhost", [self.b[1], self.b[2]])
        assert set(self.traffic("dyhost", 20)) == {self.port(1), self.port(2)}
        deleted = self.cp.delete_upstream("dyhost")
        assert deleted.acked_nodes == 1
        for _ in range(10):
            assert self.nginx.get("/", headers={"Host": "dyhost"}).status == 502

    def test_host_names_match_case_insensitively(self):
        """Host names match case insensitively."""
        self.write("DyHost", [self.b[1]])
        assert set(self.traffic("dyhost", 4)) == {self.port(1)}

    def test_replacing_a_runtime_upstream_switches_every_worker(self):
        """Replacing a runtime upstream switches every worker."""
        self.write("dyhost", [self.b[1]])
        assert set(self.traffic("dyhost", 10)) == {self.port(1)}
        self.write("dyhost", [self.b[2]])
        assert set(self.traffic("dyhost", 20)) == {self.port(2)}

    def test_nginx_conf_upstream_without_zone_is_replaced_in_every_worker(self):
        """Nginx.conf upstream without zone is replaced in every worker."""
        assert set(self.traffic("host1", 6)) == {self.port(0)}
        self.write("host1", [self.b[2]])
        assert set(self.traffic("host1", 20)) == {self.port(2)}

    def test_nginx_conf_upstream_deleted_at_the_control_plane_gets_502_until_recreated(self):
        """Nginx.conf upstream deleted at the control plane gets 502 until recreated."""
        assert set(self.traffic("host1", 4)) == {self.port(0)}
        deleted = self.cp.delete_upstream("host1")
        assert deleted.acked_nodes == 1
        for _ in range(6):
            assert self.nginx.get("/", headers={"Host": "host1"}).status == 502
        self.write("host1", [self.b[1]])
        assert set(self.traffic("host1", 10)) == {self.port(1)}

    def test_runtime_upstream_keeps_its_weights(self):
        """Runtime upstream keeps its weights."""
        self.write("dyhost", [self.cp.server(self.b[1], weight=3),
                              self.cp.server(self.b[2], weight=1)])
        # One round robin for both workers: exactly 3:1.
        seen = self.traffic("dyhost", 200)
        assert seen == {self.port(1): 150, self.port(2): 50}

    def test_runtime_upstream_with_hash_sends_one_uri_to_one_server(self):
        """Runtime upstream with hash sends one uri to one server."""
        self.write("dyhost", self.b, method=upstream_pb2.HASH,
                   hash_key="$request_uri", hash_consistent=True)
        for path in ("/a", "/b", "/c", "/d"):
            assert len(self.traffic("dyhost", 6, path)) == 1

    def test_runtime_upstream_with_keepalive_serves_across_replacements(self):
        """Runtime upstream with keepalive serves across replacements."""
        for i in range(3):
            self.write("dyhost", [self.b[i % 3]], keepalive=4)
            assert set(self.traffic("dyhost", 10)) == {self.port(i % 3)}

    def test_unbuildable_upstream_is_rejected_and_changes_nothing(self):
        """Unbuildable upstream is rejected and changes nothing."""
        self.write("dyhost", [self.b[1]])
        # nginx.conf uses no $cookie_x, so nginx has no handler for it here.
        written = self.cp.put_upstream("dyhost", [self.b[2]],
                                       method=upstream_pb2.HASH,
                                       hash_key="$cookie_x")
        assert written.acked_nodes == 0, written
        assert len(written.rejections) == 1, written
        assert "variable" in written.rejections[0].message
        assert set(self.traffic("dyhost", 10)) == {self.port(1)}


class WorkerConnections:
    """One keepalive connection to each nginx worker.

    The server listens with `reuseport`: every worker has its own listening
    socket and the kernel spreads new connections over them; a keepalive
    connection stays with the worker that accepted it (X-Worker: $pid).
    """

    def __init__(self, port, workers, limit=200):
        self.conns = {}
        for _ in range(limit):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/pid")
            response = conn.getresponse()
            pid = int(response.read())
            if pid in self.conns:
                conn.close()
            else:
                self.conns[pid] = conn
            if len(self.conns) == workers:
                break
        if len(self.conns) != workers:
            raise AssertionError("reached %d of %d workers" % (len(self.conns), workers))
        self.pids = sorted(self.conns)

    def get(self, pid, host):
        """Response(status, headers, body) of GET / with `host` on worker `pid`'s connection."""
        conn = self.conns[pid]
        conn.request("GET", "/", headers={"Host": host})
        response = conn.getresponse()
        body = response.read().decode("utf-8", "replace")
        if int(response.getheader("X-Worker")) != pid:
            raise AssertionError("connection of worker %d answered from another" % pid)
        return Response(response.status, response.msg, body)

    def close(self):
        for conn in self.conns.values():
            conn.close()


class SharedRuntimeUpstreamsTest:
    """A run-time upstream's peers are one list for every worker."""

    @pytest.fixture(autouse=True)
    def set_up(self, processes, make_control_plane, make_backends):
        self.backends = make_backends(3)
        self.b = self.backends.addresses
        self.cp = make_control_plane()
        self.pinned_port = free_port()
        self.nginx = processes.track(Nginx(
            http="""
            xds_server %s;
            xds_node_id shared-node;
            xds_zone_size 128k;
            server {
                listen 127.0.0.1:%d reuseport;
                add_header X-Worker $pid always;
                location = /pid {
                    return 200 $pid;
                }
                location / {
                    proxy_pass http://$host;
                }
            }
            """ % (self.cp.xds_address, self.pinned_port)))
        self.nginx.start()
        wait_until(lambda: self.nginx.status_json()["version"],
                   what="the first applied version")
        self.workers = None
        yield
        if self.workers:
            self.workers.close()

    def port(self, i):
        return self.backends.backend_ports[i]

    def connect(self):
        if self.workers:
            self.workers.close()
        self.workers = WorkerConnections(self.pinned_port, 2)

    def alternate(self, count, host="dyhost"):
        """Backend ports answering `count` requests, worker after worker."""
        answers = []
        for i in range(count):
            code, _, body = self.workers.get(self.workers.pids[i % 2], host)
            assert code == 200, body
            answers.append(int(body))
        return answers

    def write(self, name, servers, **fields):
        written = self.cp.put_upstream(name, servers, **fields)
        assert written.acked_nodes == 1, written
        return written

    def assert_alternates(self, answers, ports):
        assert set(answers) == set(ports), answers
        for i in range(1, len(answers)):
            assert answers[i] != answers[i - 1], answers

    def test_round_robin_is_one_sequence_across_workers(self):
        # The seed 002 case: two servers, consecutive requests on different
        # workers answer the first server, then the second.
        self.write("dyhost", [self.b[1], self.b[2]])
        self.connect()
        answers = self.alternate(40)
        assert answers[:2] == [self.port(1), self.port(2)], answers
        self.assert_alternates(answers, [self.port(1), self.port(2)])

    def test_weights_hold_across_workers(self):
        """Weights hold across workers."""
        self.write("dyhost", [self.cp.server(self.b[1], weight=3),
                              self.cp.server(self.b[2], weight=1)])
        self.connect()
        answers = self.alternate(400)
        a, b = self.port(1), self.port(2)
        # nginx's smooth weighted round robin for 3:1, whichever worker asks.
        assert answers == ([a, a, b, a] * 100)
        assert collections.Counter(answers) == {a: 300, b: 100}

    def test_random_and_least_conn_run_on_the_shared_peers(self):
        """Random and least_conn run on the shared peers."""
        for method in (upstream_pb2.RANDOM, upstream_pb2.LEAST_CONN):
            self.write("dyhost", self.b[:2], method=method)
            self.connect()
            assert set(self.alternate(40)) == {self.port(0), self.port(1)}
            # A new list shape: each worker's random ranges are rebuilt.
            self.write("dyhost", self.b[1:], method=method)
            assert set(self.alternate(40)) == {self.port(1), self.port(2)}

    def test_full_module_zone_rejects_the_snapshot_whole(self):
        """Full module zone rejects the snapshot whole."""
        self.write("dyhost", [self.b[1], self.b[2]])
        self.connect()
        self.assert_alternates(self.alternate(4), [self.port(1), self.port(2)])
        # Far more servers than the 128k module zone holds.
        many = ["127.0.%d.%d:80" % (i // 250, i % 250 + 1) for i in range(1000)]
        written = self.cp.put_upstream("dyhost", many)
        assert written.acked_nodes == 0, written
        assert len(written.rejections) == 1, written
        assert "zone \"ngx_http_xds\" is full" in written.rejections[0].message
        assert "ngx_slab_alloc() failed" not in self.nginx.error_log()
        # Nothing changed: the same servers, the same round robin.
        self.assert_alternates(self.alternate(20), [self.port(1), self.port(2)])
        # The control plane keeps what it was told; a version that fits is
        # applied again.
        self.write("dyhost", [self.b[1], self.b[2], self.b[0]])
        assert set(self.alternate(6)) == {self.port(0), self.port(1), self.port(2)}

    def test_reload_and_a_killed_worker_keep_the_round_robin(self):
        """Reload and a killed worker keep the round robin."""
        self.write("dyhost", [self.b[1], self.b[2]])
        self.connect()
        before = self.alternate(3)
        self.assert_alternates(before, [self.port(1), self.port(2)])
        self.workers.close()
        self.workers = None
        self.nginx.reload()
        assert "re-applied version" in self.nginx.error_log()
        self.connect()
        after = self.alternate(20)
        self.assert_alternates(before + after, [self.port(1), self.port(2)])
        # A killed worker's replacement uses the same peers.
        victim = self.workers.pids[0]
        os.kill(victim, signal.SIGKILL)
        self.workers.close()
        self.workers = None
        wait_until(lambda: victim not in self.nginx.worker_pids()
                   and len(self.nginx.worker_pids()) == 2,
                   what="a new worker in place of %d" % victim)
        self.connect()
        again = self.alternate(20)
        self.assert_alternates(before + after + again, [self.port(1), self.port(2)])

    def test_deleted_upstream_answers_502_until_created_again(self):
        """Deleted upstream answers 502 until created again."""
        self.write("dyhost", [self.b[1], self.b[2]])
        self.connect()
        self.assert_alternates(self.alternate(4), [self.port(1), self.port(2)])
        deleted = self.cp.delete_upstream("dyhost")
        assert deleted.acked_nodes == 1
        for i in range(4):
            assert self.workers.get(self.workers.pids[i % 2], "dyhost").status == 502
        self.write("dyhost", [self.b[2], self.b[0]])
        self.assert_alternates(self.alternate(20), [self.port(2), self.port(0)])

