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

import harness


class RuntimeUpstreamsTest(harness.TestCase):

    def setUp(self):
        self.backends = self.track(harness.Backends(3)).start()
        self.b = self.backends.addresses
        self.cp = self.track(harness.ControlPlane()).start()
        self.nginx = self.track(harness.Nginx(
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
        harness.wait_until(lambda: self.nginx.status_json()["version"],
                           what="the first applied version")

    def port(self, i):
        return self.backends.backend_ports[i]

    def traffic(self, host, count=20, path="/"):
        seen = collections.Counter()
        for _ in range(count):
            code, body = self.nginx.get(path, headers={"Host": host})
            self.assertEqual(code, 200, body)
            seen[int(body)] += 1
        return seen

    def write(self, name, servers, **fields):
        written = self.cp.put_upstream(name, servers, **fields)
        self.assertEqual(written.acked_nodes, 1, written)
        return written

    def test_new_upstream_is_reachable_by_host_then_502_after_delete(self):
        self.assertEqual(self.nginx.get("/", headers={"Host": "dyhost"})[0], 502)
        self.write("dyhost", [self.b[1], self.b[2]])
        self.assertEqual(set(self.traffic("dyhost", 20)), {self.port(1), self.port(2)})
        deleted = self.cp.delete_upstream("dyhost")
        self.assertEqual(deleted.acked_nodes, 1)
        for _ in range(10):
            self.assertEqual(self.nginx.get("/", headers={"Host": "dyhost"})[0], 502)

    def test_host_names_match_case_insensitively(self):
        self.write("DyHost", [self.b[1]])
        self.assertEqual(set(self.traffic("dyhost", 4)), {self.port(1)})

    def test_replacing_a_runtime_upstream_switches_every_worker(self):
        self.write("dyhost", [self.b[1]])
        self.assertEqual(set(self.traffic("dyhost", 10)), {self.port(1)})
        self.write("dyhost", [self.b[2]])
        self.assertEqual(set(self.traffic("dyhost", 20)), {self.port(2)})

    def test_nginx_conf_upstream_without_zone_is_replaced_in_every_worker(self):
        self.assertEqual(set(self.traffic("host1", 6)), {self.port(0)})
        self.write("host1", [self.b[2]])
        self.assertEqual(set(self.traffic("host1", 20)), {self.port(2)})

    def test_nginx_conf_upstream_deleted_at_the_control_plane_gets_502_until_recreated(self):
        self.assertEqual(set(self.traffic("host1", 4)), {self.port(0)})
        deleted = self.cp.delete_upstream("host1")
        self.assertEqual(deleted.acked_nodes, 1)
        for _ in range(6):
            self.assertEqual(self.nginx.get("/", headers={"Host": "host1"})[0], 502)
        self.write("host1", [self.b[1]])
        self.assertEqual(set(self.traffic("host1", 10)), {self.port(1)})

    def test_runtime_upstream_keeps_its_weights(self):
        self.write("dyhost", [self.cp.server(self.b[1], weight=3),
                              self.cp.server(self.b[2], weight=1)])
        # One round robin for both workers: exactly 3:1.
        seen = self.traffic("dyhost", 200)
        self.assertEqual(seen, {self.port(1): 150, self.port(2): 50})

    def test_runtime_upstream_with_hash_sends_one_uri_to_one_server(self):
        self.write("dyhost", self.b, method=harness.upstream_pb2.HASH,
                   hash_key="$request_uri", hash_consistent=True)
        for path in ("/a", "/b", "/c", "/d"):
            self.assertEqual(len(self.traffic("dyhost", 6, path)), 1)

    def test_runtime_upstream_with_keepalive_serves_across_replacements(self):
        for i in range(3):
            self.write("dyhost", [self.b[i % 3]], keepalive=4)
            self.assertEqual(set(self.traffic("dyhost", 10)), {self.port(i % 3)})

    def test_unbuildable_upstream_is_rejected_and_changes_nothing(self):
        self.write("dyhost", [self.b[1]])
        # nginx.conf uses no $cookie_x, so nginx has no handler for it here.
        written = self.cp.put_upstream("dyhost", [self.b[2]],
                                       method=harness.upstream_pb2.HASH,
                                       hash_key="$cookie_x")
        self.assertEqual(written.acked_nodes, 0, written)
        self.assertEqual(len(written.rejections), 1, written)
        self.assertIn("variable", written.rejections[0].message)
        self.assertEqual(set(self.traffic("dyhost", 10)), {self.port(1)})


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
        """(status, body) of GET / with `host` on worker `pid`'s connection."""
        conn = self.conns[pid]
        conn.request("GET", "/", headers={"Host": host})
        response = conn.getresponse()
        body = response.read().decode("utf-8", "replace")
        if int(response.getheader("X-Worker")) != pid:
            raise AssertionError("connection of worker %d answered from another" % pid)
        return response.status, body

    def close(self):
        for conn in self.conns.values():
            conn.close()


class SharedRuntimeUpstreamsTest(harness.TestCase):
    """A run-time upstream's peers are one list for every worker."""

    def setUp(self):
        self.backends = self.track(harness.Backends(3)).start()
        self.b = self.backends.addresses
        self.cp = self.track(harness.ControlPlane()).start()
        self.pinned_port = harness.free_port()
        self.nginx = self.track(harness.Nginx(
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
        harness.wait_until(lambda: self.nginx.status_json()["version"],
                           what="the first applied version")
        self.workers = None

    def tearDown(self):
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
            code, body = self.workers.get(self.workers.pids[i % 2], host)
            self.assertEqual(code, 200, body)
            answers.append(int(body))
        return answers

    def write(self, name, servers, **fields):
        written = self.cp.put_upstream(name, servers, **fields)
        self.assertEqual(written.acked_nodes, 1, written)
        return written

    def assert_alternates(self, answers, ports):
        self.assertEqual(set(answers), set(ports), answers)
        for i in range(1, len(answers)):
            self.assertNotEqual(answers[i], answers[i - 1], answers)

    def test_round_robin_is_one_sequence_across_workers(self):
        # The seed 002 case: two servers, consecutive requests on different
        # workers answer the first server, then the second.
        self.write("dyhost", [self.b[1], self.b[2]])
        self.connect()
        answers = self.alternate(40)
        self.assertEqual(answers[:2], [self.port(1), self.port(2)], answers)
        self.assert_alternates(answers, [self.port(1), self.port(2)])

    def test_weights_hold_across_workers(self):
        self.write("dyhost", [self.cp.server(self.b[1], weight=3),
                              self.cp.server(self.b[2], weight=1)])
        self.connect()
        answers = self.alternate(400)
        a, b = self.port(1), self.port(2)
        # nginx's smooth weighted round robin for 3:1, whichever worker asks.
        self.assertEqual(answers, [a, a, b, a] * 100)
        self.assertEqual(collections.Counter(answers), {a: 300, b: 100})

    def test_random_and_least_conn_run_on_the_shared_peers(self):
        for method in (harness.upstream_pb2.RANDOM, harness.upstream_pb2.LEAST_CONN):
            self.write("dyhost", self.b[:2], method=method)
            self.connect()
            self.assertEqual(set(self.alternate(40)), {self.port(0), self.port(1)})
            # A new list shape: each worker's random ranges are rebuilt.
            self.write("dyhost", self.b[1:], method=method)
            self.assertEqual(set(self.alternate(40)), {self.port(1), self.port(2)})

    def test_full_module_zone_rejects_the_snapshot_whole(self):
        self.write("dyhost", [self.b[1], self.b[2]])
        self.connect()
        self.assert_alternates(self.alternate(4), [self.port(1), self.port(2)])
        # Far more servers than the 128k module zone holds.
        many = ["127.0.%d.%d:80" % (i // 250, i % 250 + 1) for i in range(1000)]
        written = self.cp.put_upstream("dyhost", many)
        self.assertEqual(written.acked_nodes, 0, written)
        self.assertEqual(len(written.rejections), 1, written)
        self.assertIn("zone \"ngx_http_xds\" is full", written.rejections[0].message)
        self.assertNotIn("ngx_slab_alloc() failed", self.nginx.error_log())
        # Nothing changed: the same servers, the same round robin.
        self.assert_alternates(self.alternate(20), [self.port(1), self.port(2)])
        # The control plane keeps what it was told; a version that fits is
        # applied again.
        self.write("dyhost", [self.b[1], self.b[2], self.b[0]])
        self.assertEqual(set(self.alternate(6)),
                         {self.port(0), self.port(1), self.port(2)})

    def test_reload_and_a_killed_worker_keep_the_round_robin(self):
        self.write("dyhost", [self.b[1], self.b[2]])
        self.connect()
        before = self.alternate(3)
        self.assert_alternates(before, [self.port(1), self.port(2)])
        self.workers.close()
        self.workers = None
        self.nginx.reload()
        self.assertIn("re-applied version", self.nginx.error_log())
        self.connect()
        after = self.alternate(20)
        self.assert_alternates(before + after, [self.port(1), self.port(2)])
        # A killed worker's replacement uses the same peers.
        victim = self.workers.pids[0]
        os.kill(victim, signal.SIGKILL)
        self.workers.close()
        self.workers = None
        harness.wait_until(lambda: victim not in self.nginx.worker_pids()
                           and len(self.nginx.worker_pids()) == 2,
                           what="a new worker in place of %d" % victim)
        self.connect()
        again = self.alternate(20)
        self.assert_alternates(before + after + again, [self.port(1), self.port(2)])

    def test_deleted_upstream_answers_502_until_created_again(self):
        self.write("dyhost", [self.b[1], self.b[2]])
        self.connect()
        self.assert_alternates(self.alternate(4), [self.port(1), self.port(2)])
        deleted = self.cp.delete_upstream("dyhost")
        self.assertEqual(deleted.acked_nodes, 1)
        for i in range(4):
            self.assertEqual(self.workers.get(self.workers.pids[i % 2], "dyhost")[0], 502)
        self.write("dyhost", [self.b[2], self.b[0]])
        self.assert_alternates(self.alternate(20), [self.port(2), self.port(0)])


if __name__ == "__main__":
    harness.main()
