"""The seeds' sessions change the whole fleet: three nginx, one fleet.

Three Debian nginx with the module (2 workers each) are the fleet `seeds`
of one real control plane. Each is configured like both seeds at once: seed
000's server (`location /dynamic { dynamic_upstream; }`, `location / {
proxy_pass http://backends; }`, upstream `backends` in zone
zone_for_backends), seed 002's `proxy_pass http://$host;` server with
upstreams host1 and host2, and its `dyups_interface;` server. Echo backends
answer their own port: b[0..3] stand for the seeds' 6001-6004, b[4] and b[5]
for 8088 and 8089.

Seed 000's session is played through nginx #1's /dynamic and seed 002's
through nginx #2's dyups interface. After each change, every nginx has
applied the version the write answered with (its status page and the
control plane's fleet status say so), and the traffic through each of the
three follows: a removed or down server gets no requests, an added or up
one gets some, weights split the requests as set. Request loops are fixed
in size.
"""

import collections

import pytest

from nginx_xds_testing import http_client
from nginx_xds_testing.nginx import Nginx
from nginx_xds_testing.processes import free_port
from nginx_xds_testing.waits import wait_until

FLEET = "seeds"
NGINX_COUNT = 3
ZONE = "/dynamic?upstream=zone_for_backends"


class SeedsNginx(Nginx):
    """Nginx with seed 000's server on .port, seed 002's servers on
    .host_port (`proxy_pass http://$host;`) and .dyups_port."""

    def __init__(self, index, cp, b):
        super().__init__(workers=2)
        self.index = index
        self.cp = cp
        self.b = b
        self.node_id = "seeds-%d" % index
        self.host_port = free_port()
        self.dyups_port = free_port()
        self.server = """
            location /dynamic {
                allow 127.0.0.1;
                deny all;
                dynamic_upstream;
            }
            location / {
                proxy_pass http://backends;
            }
            """

    def ports(self):
        return [self.port, self.host_port, self.dyups_port]

    def _repick_ports(self):
        super()._repick_ports()
        self.host_port = free_port()
        self.dyups_port = free_port()
        return True

    def render(self):
        self.http = """
            xds_server %s;
            xds_node_id %s;
            xds_fleet %s;
            xds_api_server %s;

            upstream backends {
                zone zone_for_backends 1m;
                server %s;
                server %s;
                server %s;
            }
            upstream host1 {
                server %s;
            }
            upstream host2 {
                server %s;
            }

            server {
                listen 127.0.0.1:%d;
                location / {
                    proxy_pass http://$host;
                }
            }
            server {
                listen 127.0.0.1:%d;
                location / {
                    dyups_interface;
                }
            }
            """ % (self.cp.xds_address, self.node_id, FLEET, self.cp.http_address,
                   self.b[0], self.b[1], self.b[2], self.b[4], self.b[5],
                   self.host_port, self.dyups_port)
        return super().render()


class FleetSeedsTest:

    @pytest.fixture(autouse=True)
    def set_up(self, processes, make_control_plane, make_backends):
        self.backends = make_backends(6)
        self.b = self.backends.addresses
        self.p = self.backends.backend_ports
        self.cp = make_control_plane()
        self.nginx = []
        for i in range(1, NGINX_COUNT + 1):
            nginx = processes.track(SeedsNginx(i, self.cp, self.b))
            nginx.start()
            self.nginx.append(nginx)
        wait_until(self.fleet_settled, what="the three nginx connected to %s, "
                   "nginx.conf's upstreams adopted and one version acked by all" % FLEET)
        yield
        for nginx in self.nginx:
            assert nginx.bad_log_lines() == [], nginx.name

    def fleet_settled(self):
        names = {u.name for u in self.cp.list_upstreams(fleet=FLEET).upstreams}
        acked = {n.id: n.acked_version for n in self.cp.fleet_status(FLEET).nodes if n.connected}
        return (names >= {"backends", "host1", "host2"}
                and len(acked) == NGINX_COUNT and len(set(acked.values())) == 1
                and all(n.status_json()["version"] == str(acked.get(n.node_id))
                        for n in self.nginx))

    # -- what every nginx applied ----------------------------------------------

    def assert_fleet_applied(self, headers, what):
        """The write answered with X-Xds-Version V, acked by the 3 connected
        nginx; each one's status page and the fleet status show V."""
        version = headers.get("X-Xds-Version")
        assert version, "%s: no X-Xds-Version in %s" % (what, dict(headers))
        assert (headers.get("X-Xds-Acked-Nodes"), headers.get("X-Xds-Connected-Nodes")) == (
            str(NGINX_COUNT), str(NGINX_COUNT)), what
        for nginx in self.nginx:
            assert nginx.status_json()["version"] == version, (
                "%s: %s has not applied it" % (what, nginx.name))
            node = self.cp.node_status(nginx.node_id, fleet=FLEET)
            assert node.acked_version == int(version), "%s: %s" % (what, nginx.node_id)
        return version

    def peers(self, nginx, upstream):
        """{server: peer} of `upstream` on nginx's status page; None if it has none."""
        for u in nginx.status_json()["upstreams"]:
            if u["name"] == upstream and not u["deleted"]:
                return {p["server"]: p for p in u["peers"]}
        return None

    # -- traffic ------------------------------------------------------------------

    def traffic(self, nginx, count, host=None):
        """`count` GET / through `nginx`: seed 000's server, or with Host `host`
        seed 002's `proxy_pass http://$host;`. Counter(backend port or status)."""
        seen = collections.Counter()
        for _ in range(count):
            if host is None:
                status, _, body = http_client.request(nginx.port, "GET", "/", timeout=15.0)
            else:
                status, _, body = http_client.request(nginx.host_port, "GET", "/",
                                                      headers={"Host": host}, timeout=15.0)
            seen[int(body) if status == 200 else "status %d" % status] += 1
        return seen

    def each_nginx_traffic(self, count, host=None):
        return [(n, self.traffic(n, count, host)) for n in self.nginx]

    def assert_served_by(self, backends, count, host=None, what=""):
        """Through each nginx, `count` requests reach exactly `backends` (indexes)."""
        for nginx, seen in self.each_nginx_traffic(count, host):
            assert set(seen) == {self.p[i] for i in backends}, (
                "%s through %s: %s" % (what, nginx.name, seen))

    # -- seed 000 through nginx #1 ------------------------------------------------

    def dynamic(self, query=""):
        """Seed 000's GET /dynamic?upstream=zone_for_backends... through nginx #1."""
        status, headers, body = http_client.request(self.nginx[0].port, "GET", ZONE + query,
                                                    timeout=15.0)
        assert status == 200, "%s: %s" % (query, body)
        return body, headers

    def listing(self, servers, verbose=None):
        """A /dynamic body: `server ADDR;` lines, or with `verbose` {i: 'w=1 ...'}."""
        lines = []
        for i in servers:
            if verbose is None:
                lines.append("server %s;\n" % self.b[i])
            else:
                lines.append("server %s %s;\n" % (self.b[i], verbose.get(
                    i, "weight=1 max_fails=1 fail_timeout=10")))
        return "".join(lines)

    def test_seed_000_session_through_nginx_1_changes_all_three(self):
        # list
        body, _ = self.dynamic()
        assert body == self.listing([0, 1, 2])
        self.assert_served_by([0, 1, 2], 30, what="nginx.conf's servers")

        # verbose
        body, _ = self.dynamic("&verbose=")
        assert body == self.listing([0, 1, 2], verbose={})

        # update_parameters: 6003 gets weight 10 of 12
        body, headers = self.dynamic("&server=%s&weight=10&max_fails=5&fail_timeout=5" % self.b[2])
        assert body == self.listing(
            [0, 1, 2], verbose={2: "weight=10 max_fails=5 fail_timeout=5"})
        self.assert_fleet_applied(headers, "update_parameters")
        for nginx, seen in self.each_nginx_traffic(120):
            # Smooth weighted round robin on the zone's shared peers: 100/10/10
            # exactly for one worker; the two workers interleave, so roughly.
            assert set(seen) == {self.p[0], self.p[1], self.p[2]}, seen
            assert abs(seen[self.p[2]] - 100) <= 12, "%s: %s" % (nginx.name, seen)
            assert abs(seen[self.p[0]] - 10) <= 6, "%s: %s" % (nginx.name, seen)
            assert abs(seen[self.p[1]] - 10) <= 6, "%s: %s" % (nginx.name, seen)
            peer = self.peers(nginx, "backends")[self.b[2]]
            assert (peer["weight"], peer["max_fails"], peer["fail_timeout"]) == (10, 5, 5)

        # The seed's next sections start from the quick start's parameters.
        body, headers = self.dynamic("&server=%s&weight=1&max_fails=1&fail_timeout=10" % self.b[2])
        assert body == self.listing([0, 1, 2], verbose={})
        self.assert_fleet_applied(headers, "parameters back")
        for nginx, seen in self.each_nginx_traffic(60):
            for i in range(3):
                assert abs(seen[self.p[i]] - 20) <= 6, "%s: %s" % (nginx.name, seen)

        # down
        body, headers = self.dynamic("&server=%s&down=" % self.b[2])
        assert body == self.listing(
            [0, 1, 2], verbose={2: "weight=1 max_fails=1 fail_timeout=10 down"})
        self.assert_fleet_applied(headers, "down")
        self.assert_served_by([0, 1], 40, what="6003 down")
        for nginx in self.nginx:
            assert self.peers(nginx, "backends")[self.b[2]]["down"], nginx.name

        # up
        body, headers = self.dynamic("&server=%s&up=" % self.b[2])
        assert body == self.listing([0, 1, 2], verbose={})
        self.assert_fleet_applied(headers, "up")
        self.assert_served_by([0, 1, 2], 30, what="6003 up")

        # add
        body, headers = self.dynamic("&add=&server=%s" % self.b[3])
        assert body == self.listing([0, 1, 2, 3])
        self.assert_fleet_applied(headers, "add")
        for nginx, seen in self.each_nginx_traffic(80):
            assert set(seen) == {self.p[0], self.p[1], self.p[2], self.p[3]}, seen
            assert abs(seen[self.p[3]] - 20) <= 6, "%s: %s" % (nginx.name, seen)

        # remove
        body, headers = self.dynamic("&remove=&server=%s" % self.b[2])
        assert body == self.listing([0, 1, 3])
        self.assert_fleet_applied(headers, "remove")
        self.assert_served_by([0, 1, 3], 60, what="6003 removed")
        for nginx in self.nginx:
            assert sorted(self.peers(nginx, "backends")) == sorted(
                [self.b[0], self.b[1], self.b[3]]), nginx.name

        # The same state answers through every nginx's /dynamic.
        for nginx in self.nginx:
            status, _, body = http_client.request(nginx.port, "GET", ZONE, timeout=15.0)
            assert (status, body) == (200, self.listing([0, 1, 3])), nginx.name

    # -- seed 002 through nginx #2 ------------------------------------------------

    def dyups(self, method, path, body=None):
        """Seed 002's REST API through nginx #2's dyups interface."""
        return http_client.request(self.nginx[1].dyups_port, method, path, body=body,
                                   timeout=15.0)

    def test_seed_002_session_through_nginx_2_changes_all_three(self):
        # nginx.conf's upstreams, by Host, on each nginx.
        self.assert_served_by([4], 10, host="host1", what="host1")
        self.assert_served_by([5], 10, host="host2", what="host2")

        # curl -H "host: dyhost" 127.0.0.1:8080 -> 502 on every nginx
        for nginx, seen in self.each_nginx_traffic(3, host="dyhost"):
            assert seen == {"status 502": 3}, nginx.name

        # curl -d "server 127.0.0.1:8089;server 127.0.0.1:8088;" 127.0.0.1:8081/upstream/dyhost
        status, headers, body = self.dyups("POST", "/upstream/dyhost",
                                           "server %s;server %s;" % (self.b[5], self.b[4]))
        assert (status, body) == (200, "success")
        self.assert_fleet_applied(headers, "POST dyhost")

        # The seed's next two requests, through nginx #2: 8089, then 8088,
        # whichever of its workers serves each (they share the round robin
        # of an upstream created at run time).
        for port in (self.p[5], self.p[4]):
            response = http_client.request(self.nginx[1].host_port, "GET", "/",
                                           headers={"Host": "dyhost"}, timeout=15.0)
            assert (response.status, response.body) == (200, "%d\n" % port)
        # ... and every nginx splits dyhost's requests evenly between both.
        for nginx, seen in self.each_nginx_traffic(40, host="dyhost"):
            assert seen == {self.p[4]: 20, self.p[5]: 20}, "%s: %s" % (nginx.name, seen)
            assert sorted(self.peers(nginx, "dyhost")) == sorted([self.b[4], self.b[5]])

        # curl 127.0.0.1:8081/detail
        # The fleet's upstreams, seed 000's `backends` first (nginx.conf order).
        detail = ("backends\nserver %s\nserver %s\nserver %s\n\n" % tuple(self.b[:3]) +
                  "host1\nserver %s\n\nhost2\nserver %s\n\n" % (self.b[4], self.b[5]))
        status, _, body = self.dyups("GET", "/detail")
        assert (status, body) == (
            200, detail + "dyhost\nserver %s\nserver %s\n\n" % (self.b[5], self.b[4]))

        # A replacement with weights (what POST takes): 3 to 1 on every nginx.
        status, headers, body = self.dyups("POST", "/upstream/dyhost",
                                           "server %s weight=3;server %s;" % (self.b[5], self.b[4]))
        assert (status, body) == (200, "success")
        self.assert_fleet_applied(headers, "POST dyhost weights")
        for nginx, seen in self.each_nginx_traffic(80, host="dyhost"):
            assert abs(seen[self.p[5]] - 60) <= 8, "%s: %s" % (nginx.name, seen)
            assert abs(seen[self.p[4]] - 20) <= 8, "%s: %s" % (nginx.name, seen)

        # curl -i -X DELETE 127.0.0.1:8081/upstream/dyhost
        status, headers, body = self.dyups("DELETE", "/upstream/dyhost")
        assert (status, body) == (200, "success")
        self.assert_fleet_applied(headers, "DELETE dyhost")
        for nginx, seen in self.each_nginx_traffic(5, host="dyhost"):
            assert seen == {"status 502": 5}, nginx.name
            assert self.peers(nginx, "dyhost") is None, nginx.name
        # nginx.conf's upstreams are untouched.
        self.assert_served_by([4], 5, host="host1", what="host1 after the DELETE")
        self.assert_served_by([5], 5, host="host2", what="host2 after the DELETE")

        # curl 127.0.0.1:8081/detail
        status, _, body = self.dyups("GET", "/detail")
        assert (status, body) == (200, detail)
        # Every nginx's dyups interface answers the same: it is the fleet's.
        for nginx in self.nginx:
            response = http_client.request(nginx.dyups_port, "GET", "/detail", timeout=15.0)
            assert (response.status, response.body) == (200, detail), nginx.name

