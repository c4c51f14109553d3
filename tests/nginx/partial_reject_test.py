"""No upstream can block a fleet: when nginx cannot apply one upstream of a
snapshot (here its zone in nginx.conf is too small for the servers written),
the module applies every other upstream, the agent NACKs naming the one it
rejected, the control plane shows it in fleet status, and later writes to
other upstreams are applied and answered as acknowledged.
"""

import collections
import json

import harness


# Far more servers than host3's 32k zone holds; the first one is a backend.
def many_servers(first):
    return [first] + ["127.0.%d.%d:80" % (i // 250, i % 250 + 1) for i in range(400)]


class PartialRejectTest(harness.TestCase):

    def setUp(self):
        self.backends = self.track(harness.Backends(3)).start()
        self.b = self.backends.addresses
        self.cp = self.track(harness.ControlPlane()).start()
        self.nginx = self.track(harness.Nginx(
            http="""
            xds_server %s;
            xds_node_id partial-node;
            upstream host2 {
                zone zone_for_host2 256k;
                server %s;
            }
            upstream host3 {
                zone zone_for_host3 32k;
                server %s;
            }
            """ % (self.cp.xds_address, self.b[0], self.b[0]),
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

    def traffic(self, host, count=10):
        seen = collections.Counter()
        for _ in range(count):
            code, body = self.nginx.get("/", headers={"Host": host})
            self.assertEqual(code, 200, body)
            seen[int(body)] += 1
        return seen

    def write_ok(self, name, servers):
        written = self.cp.put_upstream(name, servers)
        self.assertEqual((written.acked_nodes, len(written.rejections)), (1, 0), written)
        return written

    def write_too_big(self):
        """Writes host3 with more servers than its zone holds: the node's rejection."""
        written = self.cp.put_upstream("host3", many_servers(self.b[2]))
        self.assertEqual(written.acked_nodes, 0, written)
        self.assertEqual(len(written.rejections), 1, written)
        rejection = written.rejections[0]
        self.assertEqual(rejection.node, "partial-node")
        self.assertEqual(rejection.message, 'upstream "host3": zone "zone_for_host3" is full')
        self.assertEqual([u.name for u in rejection.upstreams], ["host3"])
        return written

    def fleet_status_http(self, fmt):
        port = int(self.cp.http_address.rsplit(":", 1)[1])
        code, body = harness.http_get(port, "/fleet/status?format=%s" % fmt)
        self.assertEqual(code, 200, body)
        return body

    def test_rejected_upstream_keeps_its_state_and_others_still_change(self):
        self.write_ok("host2", [self.b[1]])
        self.assertEqual(set(self.traffic("host2")), {self.port(1)})

        bad = self.write_too_big()
        # host3 keeps nginx.conf's server; nothing of the big write is used.
        self.assertEqual(set(self.traffic("host3")), {self.port(0)})
        self.assertIn('zone "zone_for_host3" is full', self.nginx.status_json()["last_error"])

        # (a) Later writes to another upstream are applied, answered as acked.
        for i in (2, 1):
            later = self.write_ok("host2", [self.b[i]])
            self.assertEqual(set(self.traffic("host2", 20)), {self.port(i)})
            self.assertEqual(self.nginx.status_json()["version"], str(later.version))
        self.assertEqual(set(self.traffic("host3")), {self.port(0)})

        # (b) Fleet status names the rejected upstream and why, in every form.
        node = self.cp.node_status("partial-node")
        self.assertEqual(node.acked_version, later.version)
        self.assertEqual([(u.name, u.message, u.since_version, u.version)
                          for u in node.rejected_upstreams],
                         [("host3", 'zone "zone_for_host3" is full', bad.version,
                           later.version)])
        text = self.fleet_status_http("text")
        self.assertIn('    rejects upstream "host3" since version %d (still in version %d): '
                      'zone "zone_for_host3" is full\n' % (bad.version, later.version), text)
        nodes = json.loads(self.fleet_status_http("json"))["nodes"]
        self.assertEqual([(u["name"], u["message"]) for u in nodes[0]["rejected_upstreams"]],
                         [("host3", 'zone "zone_for_host3" is full')])

        # (c) Fixing the upstream applies it and clears the rejection.
        fixed = self.write_ok("host3", [self.b[2]])
        self.assertEqual(set(self.traffic("host3")), {self.port(2)})
        node = self.cp.node_status("partial-node")
        self.assertEqual(node.acked_version, fixed.version)
        self.assertEqual(len(node.rejected_upstreams), 0)
        self.assertNotIn("rejects upstream", self.fleet_status_http("text"))

    def test_deleting_the_rejected_upstream_clears_it(self):
        self.write_too_big()
        deleted = self.cp.delete_upstream("host3")
        self.assertEqual((deleted.acked_nodes, len(deleted.rejections)), (1, 0), deleted)
        self.assertEqual(len(self.cp.node_status("partial-node").rejected_upstreams), 0)
        self.assertEqual(self.nginx.get("/", headers={"Host": "host3"})[0], 502)
        self.write_ok("host2", [self.b[2]])
        self.assertEqual(set(self.traffic("host2")), {self.port(2)})


class RuntimePartialRejectTest(harness.TestCase):
    """The same for upstreams only the control plane defines, whose peers are
    in the module's zone (xds_zone_size): one too big for it is rejected
    alone, in every worker."""

    def setUp(self):
        self.backends = self.track(harness.Backends(3)).start()
        self.b = self.backends.addresses
        self.cp = self.track(harness.ControlPlane()).start()
        self.nginx = self.track(harness.Nginx(
            http="""
            xds_server %s;
            xds_node_id runtime-partial-node;
            xds_zone_size 512k;
            """ % self.cp.xds_address,
            server="""
            location / {
                proxy_pass http://$host;
            }
            """))
        self.nginx.start()
        harness.wait_until(lambda: self.nginx.status_json()["connected"],
                           what="the agent's stream")

    def traffic(self, host, count=20):
        seen = collections.Counter()
        for _ in range(count):
            code, body = self.nginx.get("/", headers={"Host": host})
            self.assertEqual(code, 200, body)
            seen[int(body)] += 1
        return seen

    def test_runtime_upstream_too_big_for_the_zone_blocks_no_other(self):
        ports = self.backends.backend_ports
        self.assertEqual(self.cp.put_upstream("dyhost", [self.b[0]]).acked_nodes, 1)
        big = self.cp.put_upstream("dyhost", [self.b[1]] + [
            "127.0.%d.%d:80" % (i // 250, i % 250 + 1) for i in range(4000)])
        self.assertEqual(big.acked_nodes, 0, big)
        self.assertEqual([r.message for r in big.rejections],
                         ['upstream "dyhost": zone "ngx_http_xds" is full'])
        self.assertEqual(set(self.traffic("dyhost")), {ports[0]})
        # A new upstream and a change of another are applied in every worker.
        other = self.cp.put_upstream("other", [self.b[2]])
        self.assertEqual((other.acked_nodes, len(other.rejections)), (1, 0), other)
        self.assertEqual(set(self.traffic("other")), {ports[2]})
        self.assertEqual(set(self.traffic("dyhost")), {ports[0]})
        node = self.cp.node_status("runtime-partial-node")
        self.assertEqual([u.name for u in node.rejected_upstreams], ["dyhost"])
        # After a reload the master re-applies what was applied, not the big one.
        self.nginx.reload()
        self.assertEqual(set(self.traffic("dyhost")), {ports[0]})
        self.assertEqual(set(self.traffic("other")), {ports[2]})


if __name__ == "__main__":
    harness.main()
