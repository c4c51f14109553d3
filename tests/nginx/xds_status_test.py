"""xds_status shows the agent's state: connection, identity, applied version."""

import pytest

from nginx_xds_testing.nginx import Nginx
from nginx_xds_testing.waits import wait_until


class XdsStatusTest:

    @pytest.fixture(autouse=True)
    def set_up(self, processes, make_control_plane):
        self.cp = make_control_plane()
        self.nginx = processes.track(Nginx(http="""
            xds_server %s;
            xds_node_id node-a;
            xds_fleet fleet-a;
            """ % self.cp.xds_address))
        self.nginx.start()

    def wait_connected(self):
        wait_until(lambda: self.nginx.status_json()["connected"],
                   what="the status page to say connected")

    def test_status_json_shows_connected_server_node_id_and_fleet(self):
        """Status json shows connected server node id and fleet."""
        self.wait_connected()
        status = self.nginx.status_json()
        assert status["connected"] is True
        assert status["server"] == self.cp.xds_address
        assert status["node_id"] == "node-a"
        assert status["fleet"] == "fleet-a"
        assert status["last_error"] is None
        assert isinstance(status["upstreams"], list)

    def test_status_text_shows_connected_server_node_id_and_fleet(self):
        """Status text shows connected server node id and fleet."""
        self.wait_connected()
        fields, body = self.nginx.status_text()
        assert fields["connected"] == "yes", body
        assert fields["server"] == self.cp.xds_address, body
        assert fields["node id"] == "node-a", body
        assert fields["fleet"] == "fleet-a", body
        assert fields["last error"] == "none", body
        assert "upstreams:" in body

    def test_control_plane_lists_the_node_as_connected(self):
        """Control plane lists the node as connected."""
        node = wait_until(
            lambda: (lambda n: n if n is not None and n.connected else None)(
                self.cp.node_status("node-a")),
            what="the control plane to list node-a as connected")
        assert node.fleet == "fleet-a"
        assert "nginx-xds" in node.user_agent

    def test_status_shows_the_version_applied_after_a_put(self):
        """Status shows the version applied after a put."""
        self.wait_connected()
        written = self.cp.put_upstream("app", ["127.0.0.1:1"], fleet="fleet-a")
        version = str(written.version)

        wait_until(lambda: self.nginx.status_json()["version"] == version,
                   what="status version %s" % version)
        status = self.nginx.status_json()
        assert isinstance(status["applied_at"], int)
        assert status["applied_at"] > 0

        fields, body = self.nginx.status_text()
        assert fields["applied version"].startswith(version + " ("), body

        # Every worker reads the same zone: any connection sees the version.
        for _ in range(10):
            assert self.nginx.status_json()["version"] == version

    def test_the_node_acks_the_version_it_applied(self):
        """The node acks the version it applied."""
        self.wait_connected()
        written = self.cp.put_upstream("app", ["127.0.0.1:1"], fleet="fleet-a")
        wait_until(
            lambda: self.cp.node_status("node-a").acked_version == written.version,
            what="node-a to ACK version %d" % written.version)
        assert not self.cp.node_status("node-a").HasField("last_nack")

    def test_status_shows_disconnected_after_the_control_plane_stops(self):
        """Status shows disconnected after the control plane stops."""
        self.wait_connected()
        self.cp.stop()
        wait_until(lambda: self.nginx.status_json()["connected"] is False,
                   what="the status page to say disconnected")
        fields, _ = self.nginx.status_text()
        assert fields["connected"] == "no"

