"""No upstream can block a fleet: when nginx cannot apply one upstream of a
snapshot (here its zone in nginx.conf is too small for the servers written),
the module applies every other upstream, the agent NACKs naming the one it
rejected, the control plane shows it in fleet status, and later writes to
other upstreams are applied and answered as acknowledged.
"""

import collections
import json

import pytest

from nginx_xds_testing import http_client
from nginx_xds_testing.nginx import Nginx
from nginx_xds_testing.waits import wait_until


# Far more servers than host3's 32k zone holds; the first one is a backend.
def many_servers(first):
    return [first] + ["127.0.%d.%d:80" % (i // 250, i % 250 + 1) for i in range(400)]


class PartialRejectTest:

    @pytest.fixture(autouse=True)
    def set_up(self, processes, make_control_plane, make_backends):
        self.backends = make_backends(3)
        self.b = self.backends.addresses
        self.cp = make_control_plane()
        self.nginx = processes.track(Nginx(
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
        wait_until(lambda: self.nginx.status_json()["version"],
                   what="the first applied version")

    def port(self, i):
        return self.backends.backend_ports[i]

    def traffic(self, host, count=10):
        seen = collections.Counter()
        for _ in range(count):
            code, _, body = self.nginx.get("/", headers={"Host": host})
            assert code == 200, body
            seen[int(body)] += 1
        return seen

    def write_ok(self, name, servers):
        written = self.cp.put_upstream(name, servers)
        assert (written.acked_nodes, len(written.rejections)) == (1, 0), written
        return written

    def write_too_big(self):
        """Writes host3 with more servers than its zone holds: the node's rejection."""
        written = self.cp.put_upstream("host3", many_servers(self.b[2]))
        assert written.acked_nodes == 0, written
        assert len(written.rejections) == 1, written
        rejection = written.rejections[0]
        assert rejection.node == "partial-node"
        assert rejection.message == 'upstream "host3": zone "zone_for_host3" is full'
        assert [u.name for u in rejection.upstreams] == ["host3"]
        return written

    def fleet_status_http(self, fmt):
        code, _, body = http_client.request(self.cp.http_port, "GET",
                                            "/fleet/status?format=%s" % fmt, timeout=5.0)
        assert code == 200, body
        return body

    def test_rejected_upstream_keeps_its_state_and_others_still_change(self):
        """Rejected upstream keeps its state and others still change."""
        self.write_ok("host2", [self.b[1]])
        assert set(self.traffic("host2")) == {self.port(1)}

        bad = self.write_too_big()
        # host3 keeps nginx.conf's server; nothing of the big write is used.
        assert set(self.traffic("host3")) == {self.port(0)}
        assert 'zone "zone_for_host3" is full' in self.nginx.status_json()["last_error"]

        # (a) Later writes to another upstream are applied, answered as acked.
        for i in (2, 1):
            later = self.write_ok("host2", [self.b[i]])
            assert set(self.traffic("host2", 20)) == {self.port(i)}
            assert self.nginx.status_json()["version"] == str(later.version)
        assert set(self.traffic("host3")) == {self.port(0)}

        # (b) Fleet status names the rejected upstream and why, in every form.
        node = self.cp.node_status("partial-node")
        assert node.acked_version == later.version
        assert [(u.name, u.message, u.since_version, u.version)
                for u in node.rejected_upstreams] == [
                    ("host3", 'zone "zone_for_host3" is full', bad.version, later.version)]
        text = self.fleet_status_http("text")
        assert ('    rejects upstream "host3" since version %d (still in version %d): '
                'zone "zone_for_host3" is full\n' % (bad.version, later.version)) in text
        nodes = json.loads(self.fleet_status_http("json"))["nodes"]
        assert [(u["name"], u["message"]) for u in nodes[0]["rejected_upstreams"]] == [
            ("host3", 'zone "zone_for_host3" is full')]

        # (c) Fixing the upstream applies it and clears the rejection.
        fixed = self.write_ok("host3", [self.b[2]])
        assert set(self.traffic("host3")) == {self.port(2)}
        node = self.cp.node_status("partial-node")
        assert node.acked_version == fixed.version
        assert len(node.rejected_upstreams) == 0
        assert "rejects upstream" not in self.fleet_status_http("text")

    def test_deleting_the_rejected_upstream_clears_it(self):
        """Deleting the rejected upstream clears it."""
        self.write_too_big()
        deleted = self.cp.delete_upstream("host3")
        assert (deleted.acked_nodes, len(deleted.rejections)) == (1, 0), deleted
        assert len(self.cp.node_status("partial-node").rejected_upstreams) == 0
        assert self.nginx.get("/", headers={"Host": "host3"}).status == 502
        self.write_ok("host2", [self.b[2]])
        assert set(self.traffic("host2")) == {self.port(2)}


class RuntimePartialRejectTest:
    """The same for upstreams only the control plane defines, whose peers are
    in the module's zone (xds_zone_size): one too big for it is rejected
    alone, in every worker."""

    @pytest.fixture(autouse=True)
    def set_up(self, processes, make_control_plane, make_backends):
        self.backends = make_backends(3)
        self.b = self.backends.addresses
        self.cp = make_control_plane()
        self.nginx = processes.track(Nginx(
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
        wait_until(lambda: self.nginx.status_json()["connected"],
                   what="the agent's stream")

    def traffic(self, host, count=20):
        seen = collections.Counter()
        for _ in range(count):
            code, _, body = self.nginx.get("/", headers={"Host": host})
            assert code == 200, body
            seen[int(body)] += 1
        return seen

    def test_runtime_upstream_too_big_for_the_zone_blocks_no_other(self):
        """Runtime upstream too big for the zone blocks no other."""
        ports = self.backends.backend_ports
        assert self.cp.put_upstream("dyhost", [self.b[0]]).acked_nodes == 1
        big = self.cp.put_upstream("dyhost", [self.b[1]] + [
            "127.0.%d.%d:80" % (i // 250, i % 250 + 1) for i in range(4000)])
        assert big.acked_nodes == 0, big
        assert [r.message for r in big.rejections] == [
            'upstream "dyhost": zone "ngx_http_xds" is full']
        assert set(self.traffic("dyhost")) == {ports[0]}
        # A new upstream and a change of another are applied in every worker.
        other = self.cp.put_upstream("other", [self.b[2]])
        assert (other.acked_nodes, len(other.rejections)) == (1, 0), other
        assert set(self.traffic("other")) == {ports[2]}
        assert set(self.traffic("dyhost")) == {ports[0]}
        node = self.cp.node_status("runtime-partial-node")
        assert [u.name for u in node.rejected_upstreams] == ["dyhost"]
        # After a reload the master re-applies what was applied, not the big one.
        self.nginx.reload()
        assert set(self.traffic("dyhost")) == {ports[0]}
        assert set(self.traffic("other")) == {ports[2]}

