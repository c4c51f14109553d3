"""Upstreams built at run time in every worker: ones only the control plane
defines (reached with proxy_pass http://$host, as with dyups) and ones
nginx.conf declares without a zone (replaced in place).
"""

import collections

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
        # Round robin state is per worker here, as for nginx upstreams
        # without a zone: 2 workers give 3:1 within each worker.
        seen = self.traffic("dyhost", 200)
        self.assertAlmostEqual(seen[self.port(1)], 150, delta=20, msg=seen)

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


if __name__ == "__main__":
    harness.main()
