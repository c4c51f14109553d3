"""A staged rollout across real nginx: the canary group is chosen by the
label nginx.conf gives a node (xds_node_label); only it serves a change until
the rollout is promoted, then every nginx does."""

import http.client
import json

import harness

FLEET = "rollout"


def gateway(cp, method, path, body=None):
    host, port = cp.http_address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, body=body, headers={"X-Xds-Fleet": FLEET})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        conn.close()


class RolloutByLabelTest(harness.TestCase):

    def setUp(self):
        self.backends = self.track(harness.Backends(2))
        self.backends.start()
        self.a, self.b = self.backends.addresses
        self.cp = self.track(harness.ControlPlane())
        self.cp.start()
        self.nginx = {}
        for group in ("canary", "stable"):
            nginx = self.track(harness.Nginx(
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
            harness.wait_until(lambda n=nginx: n.status_json()["version"], timeout=30,
                               what="the first applied version")

    def served(self, group, count=8):
        ports = set()
        for _ in range(count):
            code, body = self.nginx[group].get("/")
            self.assertEqual(code, 200, body)
            ports.add(body.strip())
        return ports

    def test_only_the_labeled_group_serves_a_change_until_it_is_promoted(self):
        port_a, port_b = (str(p) for p in self.backends.backend_ports)
        stable_version = self.nginx["stable"].status_json()["version"]

        code, _, body = gateway(self.cp, "POST", "/rollouts/%s?label=group=canary" % FLEET)
        self.assertEqual(code, 200, body)

        code, headers, body = gateway(self.cp, "POST", "/upstream/backends",
                                      "server %s;" % self.b)
        self.assertEqual((code, body), (200, "success"))
        self.assertEqual(headers.get("X-Xds-Rollout"), "canary")
        # The write waited for the canary group: one node, and it took it.
        self.assertEqual(headers.get("X-Xds-Acked-Nodes"), "1")
        self.assertEqual(headers.get("X-Xds-Connected-Nodes"), "1")

        self.assertEqual(self.served("canary"), {port_b})
        self.assertEqual(self.served("stable"), {port_a})
        self.assertEqual(self.nginx["stable"].status_json()["version"], stable_version)

        code, _, body = gateway(self.cp, "GET", "/rollouts/%s?format=json" % FLEET)
        self.assertEqual(code, 200, body)
        self.assertIn("CANARY", json.dumps(json.loads(body)))

        code, _, body = gateway(self.cp, "POST", "/rollouts/%s/promote" % FLEET)
        self.assertEqual(code, 200, body)
        canary_version = self.nginx["canary"].status_json()["version"]
        harness.wait_until(
            lambda: self.nginx["stable"].status_json()["version"] == canary_version,
            timeout=15, what="the stable group taking the promoted version")
        self.assertEqual(self.served("stable"), {port_b})
        self.assertEqual(self.served("canary"), {port_b})

    def test_an_unmatched_label_selects_no_node_and_the_fleet_keeps_serving(self):
        port_a = str(self.backends.backend_ports[0])
        code, _, body = gateway(self.cp, "POST", "/rollouts/%s?label=group=nobody" % FLEET)
        self.assertEqual(code, 200, body)
        code, headers, body = gateway(self.cp, "POST", "/upstream/backends",
                                      "server %s;" % self.b)
        self.assertEqual((code, body), (200, "success"))
        self.assertEqual(headers.get("X-Xds-Connected-Nodes"), "0")
        for group in ("canary", "stable"):
            self.assertEqual(self.served(group), {port_a})
        # Nothing in the group took it: promote is refused; abort reverts.
        code, _, body = gateway(self.cp, "POST", "/rollouts/%s/promote" % FLEET)
        self.assertEqual(code, 409, body)
        code, _, body = gateway(self.cp, "POST", "/rollouts/%s/abort" % FLEET)
        self.assertEqual(code, 200, body)
        for group in ("canary", "stable"):
            self.assertEqual(self.served(group), {port_a})


if __name__ == "__main__":
    harness.main()
