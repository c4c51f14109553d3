"""xds_status shows the agent's state: connection, identity, applied version."""

import harness


class XdsStatusTest(harness.TestCase):

    def setUp(self):
        self.cp = self.track(harness.ControlPlane()).start()
        self.nginx = self.track(harness.Nginx(http="""
            xds_server %s;
            xds_node_id node-a;
            xds_fleet fleet-a;
            """ % self.cp.xds_address))
        self.nginx.start()

    def wait_connected(self):
        harness.wait_until(lambda: self.nginx.status_json()["connected"],
                           what="the status page to say connected")

    def test_status_json_shows_connected_server_node_id_and_fleet(self):
        self.wait_connected()
        status = self.nginx.status_json()
        self.assertIs(status["connected"], True)
        self.assertEqual(status["server"], self.cp.xds_address)
        self.assertEqual(status["node_id"], "node-a")
        self.assertEqual(status["fleet"], "fleet-a")
        self.assertIsNone(status["last_error"])
        self.assertIsInstance(status["upstreams"], list)

    def test_status_text_shows_connected_server_node_id_and_fleet(self):
        self.wait_connected()
        fields, body = self.nginx.status_text()
        self.assertEqual(fields["connected"], "yes", body)
        self.assertEqual(fields["server"], self.cp.xds_address, body)
        self.assertEqual(fields["node id"], "node-a", body)
        self.assertEqual(fields["fleet"], "fleet-a", body)
        self.assertEqual(fields["last error"], "none", body)
        self.assertIn("upstreams:", body)

    def test_control_plane_lists_the_node_as_connected(self):
        node = harness.wait_until(
            lambda: (lambda n: n if n is not None and n.connected else None)(
                self.cp.node_status("node-a")),
            what="the control plane to list node-a as connected")
        self.assertEqual(node.fleet, "fleet-a")
        self.assertIn("nginx-xds", node.user_agent)

    def test_status_shows_the_version_applied_after_a_put(self):
        self.wait_connected()
        written = self.cp.put_upstream("app", ["127.0.0.1:1"], fleet="fleet-a")
        version = str(written.version)

        harness.wait_until(lambda: self.nginx.status_json()["version"] == version,
                           what="status version %s" % version)
        status = self.nginx.status_json()
        self.assertIsInstance(status["applied_at"], int)
        self.assertGreater(status["applied_at"], 0)

        fields, body = self.nginx.status_text()
        self.assertTrue(fields["applied version"].startswith(version + " ("), body)

        # Every worker reads the same zone: any connection sees the version.
        for _ in range(10):
            self.assertEqual(self.nginx.status_json()["version"], version)

    def test_the_node_acks_the_version_it_applied(self):
        self.wait_connected()
        written = self.cp.put_upstream("app", ["127.0.0.1:1"], fleet="fleet-a")
        harness.wait_until(
            lambda: self.cp.node_status("node-a").acked_version == written.version,
            what="node-a to ACK version %d" % written.version)
        self.assertFalse(self.cp.node_status("node-a").HasField("last_nack"))

    def test_status_shows_disconnected_after_the_control_plane_stops(self):
        self.wait_connected()
        self.cp.stop()
        harness.wait_until(lambda: self.nginx.status_json()["connected"] is False,
                           what="the status page to say disconnected")
        fields, _ = self.nginx.status_text()
        self.assertEqual(fields["connected"], "no")


if __name__ == "__main__":
    harness.main()
