"""Weight 0 (ngx_dynamic_upstream's `weight=0`) in real nginx.

nginx's server directive refuses weight=0, but the original module stored
it, and nginx's round robin then never picks such a peer while a peer with
a weight can take the request. nginx-xds keeps weight 0 in the model, and
the module gives it to every kind of peer list: a zone upstream's peers (edited
in place), a run-time upstream's shared peers, and the peers of a build of
an nginx.conf upstream without a zone (built with weight=1, then set to 0).
"""

import collections

import pytest

from nginx_xds.v1 import upstream_pb2
from nginx_xds_testing.nginx import Nginx
from nginx_xds_testing.processes import free_port
from nginx_xds_testing.waits import wait_until


class WeightZeroTest:

    @pytest.fixture(autouse=True)
    def set_up(self, processes, make_control_plane, make_backends):
        self.backends = make_backends(3)
        self.b = self.backends.addresses
        self.cp = make_control_plane()
        self.nginx = processes.track(Nginx(
            http="""
            xds_server %s;
            xds_node_id weight-zero-node;
            upstream zoned {
                zone zone_for_zoned 64k;
                server %s;
            }
            upstream nozone {
                server %s;
            }
            """ % (self.cp.xds_address, self.b[0], self.b[0]),
            server="""
            location / {
                proxy_pass http://$host;
                proxy_next_upstream error timeout;
                proxy_connect_timeout 2s;
            }
            """))
        self.nginx.start()
        wait_until(lambda: self.nginx.status_json()["version"],
                   what="the first applied version")

    def port(self, i):
        return self.backends.backend_ports[i]

    def traffic(self, host, count=60):
        seen = collections.Counter()
        for _ in range(count):
            code, _, body = self.nginx.get("/", headers={"Host": host})
            assert code == 200, body
            seen[int(body)] += 1
        return seen

    def write(self, name, servers, **fields):
        written = self.cp.put_upstream(name, servers, **fields)
        assert written.acked_nodes == 1, written
        return written

    def weights(self, name):
        for upstream in self.nginx.status_json()["upstreams"]:
            if upstream["name"] == name:
                return {p["server"]: p["weight"] for p in upstream["peers"]}
        pytest.fail("no upstream %s" % name)

    def zero_first(self, method=upstream_pb2.ROUND_ROBIN):
        return dict(servers=[self.cp.server(self.b[0], weight=0), self.b[1], self.b[2]],
                    method=method)

    def test_weight_zero_server_gets_no_traffic_in_a_zone_upstream(self):
        # Validates round robin over zone peers never picks the weight-0 peer.
        self.write("zoned", **self.zero_first())
        assert set(self.traffic("zoned")) == {self.port(1), self.port(2)}
        assert self.weights("zoned")[self.b[0]] == 0

    def test_weight_zero_server_gets_no_traffic_in_a_runtime_upstream(self):
        # Validates the shared peers of a run-time (dyups-style) upstream.
        self.write("dyhost", **self.zero_first())
        assert set(self.traffic("dyhost")) == {self.port(1), self.port(2)}

    def test_weight_zero_server_gets_no_traffic_in_a_build_without_zone(self):
        # Validates the build path: text with weight=1, peer set to 0 after init.
        self.write("nozone", **self.zero_first())
        assert set(self.traffic("nozone")) == {self.port(1), self.port(2)}
        assert self.weights("nozone")[self.b[0]] == 0

    def test_weight_zero_with_least_conn(self):
        # Validates least_conn (weights in its comparisons) skips the weight-0 peer.
        for name in ("zoned", "nozone", "dyhost"):
            self.write(name, **self.zero_first(upstream_pb2.LEAST_CONN))
            assert set(self.traffic(name, 40)) == {self.port(1), self.port(2)}, name

    def test_update_to_weight_zero_then_back(self):
        # Validates /dynamic-style updates: weight 0 stops traffic, weight 1 brings it back.
        for name in ("zoned", "nozone"):
            self.write(name, [self.b[0], self.b[1]])
            assert set(self.traffic(name, 20)) == {self.port(0), self.port(1)}, name
            written = self.cp.update_server(name, self.b[0], weight=0)
            assert written.acked_nodes == 1
            assert set(self.traffic(name, 40)) == {self.port(1)}, name
            written = self.cp.update_server(name, self.b[0], weight=1)
            assert written.acked_nodes == 1
            assert set(self.traffic(name, 20)) == {self.port(0), self.port(1)}, name

    def test_weight_zero_server_serves_when_the_others_are_unavailable(self):
        # Validates that, as in the original, weight 0 is still a server: it
        # takes requests when every weighted peer has failed.
        dead = "127.0.0.1:%d" % free_port()
        for name in ("zoned", "nozone", "dyhost"):
            self.write(name, [self.cp.server(dead, max_fails=1, fail_timeout=60),
                              self.cp.server(self.b[2], weight=0)])
            assert set(self.traffic(name, 20)) == {self.port(2)}, name

