"""The upstream rules against a real node: what nginx refuses never reaches
the fleet, and what nginx takes is applied.

The defect of issue 9: a dyups POST of an upstream with only a backup
server was stored, NACKed by every nginx (`no servers in upstream`), and
blocked every later write of the fleet. The control plane now refuses it
with nginx's reason, and the fleet goes on applying writes. Backups with
hash, ip_hash and random, which nginx takes when the servers come before the
method, are applied.
"""

import collections

import pytest

from nginx_xds_testing import http_client
from nginx_xds_testing.nginx import Nginx
from nginx_xds_testing.waits import wait_until


class UpstreamRulesTest:

    @pytest.fixture(autouse=True)
    def set_up(self, processes, make_control_plane, make_backends):
        self.backends = make_backends(3)
        self.b = self.backends.addresses
        self.cp = make_control_plane()
        self.nginx = processes.track(Nginx(
            http="""
            xds_server %s;
            xds_node_id rules-node;
            upstream zoned {
                zone zone_for_zoned 64k;
                server %s;
            }
            upstream host2 {
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

    def traffic(self, host, count=20):
        seen = collections.Counter()
        for _ in range(count):
            code, _, body = self.nginx.get("/", headers={"Host": host})
            assert code == 200, body
            seen[int(body)] += 1
        return seen

    def dyups_post(self, name, body):
        """POST /upstream/NAME to the control plane's dyups API."""
        return http_client.request(self.cp.http_port, "POST", "/upstream/" + name, body=body,
                                   timeout=15)

    def test_only_backup_upstream_is_refused_and_the_fleet_keeps_applying(self):
        # Validates issue 9's defect: refused with nginx's reason, later writes applied.
        status, _, body = self.dyups_post("onlybackup", "server %s backup;" % self.b[1])
        assert status == 400, body
        assert 'no servers in upstream "onlybackup"' in body
        status, headers, body = self.dyups_post("host2", "server %s;" % self.b[2])
        assert (status, body) == (200, "success")
        assert headers.get("X-Xds-Acked-Nodes") == "1", headers
        assert set(self.traffic("host2")) == {self.port(2)}
        assert not self.nginx.status_json()["last_error"], self.nginx.status_json()

    def test_dyups_body_errors_carry_nginxs_messages(self):
        # Validates that a refused body names nginx's own reason and changes nothing.
        for body, message in [
                ("server %s weight=0;" % self.b[1], 'invalid parameter "weight=0"'),
                ("hash $request_uri; server %s; server %s backup;" % (self.b[1], self.b[2]),
                 'balancing method does not support parameter "backup"'),
                ("server %s resolve;" % self.b[1], 'invalid parameter "resolve"'),
                ("keepalive 0; server %s;" % self.b[1], 'invalid value "0" in "keepalive"')]:
            status, _, answer = self.dyups_post("host2", body)
            assert status == 400, (body, answer)
            assert message in answer
        assert set(self.traffic("host2")) == {self.port(0)}

    def test_backup_listed_before_hash_is_applied_everywhere(self):
        # Validates that nginx-xds renders servers before the method, so nginx takes it.
        body = "server %s; server %s backup; hash $request_uri;" % (self.b[1], self.b[2])
        for name in ("zoned", "host2", "dyhost"):
            status, headers, answer = self.dyups_post(name, body)
            assert (status, answer) == (200, "success"), name
            assert headers.get("X-Xds-Acked-Nodes") == "1", (name, headers)
            assert set(self.traffic(name)) == {self.port(1)}, name

