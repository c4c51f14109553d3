"""A staged rollout across real nginx: the canary group is chosen by the
label nginx.conf gives a node (xds_node_label); only it serves a change until
the rollout is promoted, then every nginx does."""

import json

import pytest

from nginx_xds_testing import http_client
from nginx_xds_testing.controlplane import ControlPlane
from nginx_xds_testing.nginx import Backends, Nginx
from nginx_xds_testing.waits import wait_until

FLEET = "rollout"


def gateway(cp, method, path, body=None):
    """`method path` to the control plane's HTTP gateway, for this fleet."""
    return http_client.request(cp.http_port, method, path, body=body,
                               headers={"X-Xds-Fleet": FLEET}, timeout=30)


class RolloutByLabelTest:

    @pytest.fixture(autouse=True)
    def set_up(self, processes):
        self.backends = processes.track(Backends(2))
        self.backends.start()
        self.a, self.b = self.backends.addresses
        self.cp = processes.track(ControlPlane())
        self.cp.start()
        self.nginx = {}
        for group in ("canary", "stable"):
            nginx = processes.track(Nginx(
                http="""
                xds_server %s;
                xds_node_id %s-node;
                xds_fleet %s;
                xds_node_label group %s;
                upstream backends {
                    zone backends 256k;
                    server %s;
                }
                """ % (self.cp.xds_address, group, FLEET, group, self.a),
                server="location / { proxy_pass http://backends; }\n"))
            nginx.start()
            self.nginx[group] = nginx
        for nginx in self.nginx.values():
            wait_until(lambda n=nginx: n.status_json()["version"], timeout=30,
                       what="the first applied version")

    def served(self, group, count=8):
        ports = set()
        for _ in range(count):
            code, _, body = self.nginx[group].get("/")
            assert code == 200, body
            ports.add(body.strip())
        return ports

    def test_only_the_labeled_group_serves_a_change_until_it_is_promoted(self):
        """Only the labeled group serves a change until it is promoted."""
        port_a, port_b = (str(p) for p in self.backends.backend_ports)
        stable_version = self.nginx["stable"].status_json()["version"]

        code, _, body = gateway(self.cp, "POST", "/rollouts/%s?label=group=canary" % FLEET)
        assert code == 200, body

        code, headers, body = gateway(self.cp, "POST", "/upstream/backends",
                                      "server %s;" % self.b)
        assert (code, body) == (200, "success")
        assert headers.get("X-Xds-Rollout") == "canary"
        # The write waited for the canary group: one node, and it took it.
        assert headers.get("X-Xds-Acked-Nodes") == "1"
        assert headers.get("X-Xds-Connected-Nodes") == "1"

        assert self.served("canary") == {port_b}
        assert self.served("stable") == {port_a}
        assert self.nginx["stable"].status_json()["version"] == stable_version

        code, _, body = gateway(self.cp, "GET", "/rollouts/%s?format=json" % FLEET)
        assert code == 200, body
        assert "CANARY" in json.dumps(json.loads(body))

        code, _, body = gateway(self.cp, "POST", "/rollouts/%s/promote" % FLEET)
        assert code == 200, body
        canary_version = self.nginx["canary"].status_json()["version"]
        wait_until(
            lambda: self.nginx["stable"].status_json()["version"] == canary_version,
            timeout=15, what="the stable group taking the promoted version")
        assert self.served("stable") == {port_b}
        assert self.served("canary") == {port_b}

    def test_an_unmatched_label_selects_no_node_and_the_fleet_keeps_serving(self):
        """An unmatched label selects no node and the fleet keeps serving."""
        port_a = str(self.backends.backend_ports[0])
        code, _, body = gateway(self.cp, "POST", "/rollouts/%s?label=group=nobody" % FLEET)
        assert code == 200, body
        code, headers, body = gateway(self.cp, "POST", "/upstream/backends",
                                      "server %s;" % self.b)
        assert (code, body) == (200, "success")
        assert headers.get("X-Xds-Connected-Nodes") == "0"
        for group in ("canary", "stable"):
            assert self.served(group) == {port_a}
        # Nothing in the group took it: promote is refused; abort reverts.
        code, _, body = gateway(self.cp, "POST", "/rollouts/%s/promote" % FLEET)
        assert code == 409, body
        code, _, body = gateway(self.cp, "POST", "/rollouts/%s/abort" % FLEET)
        assert code == 200, body
        for group in ("canary", "stable"):
            assert self.served(group) == {port_a}

