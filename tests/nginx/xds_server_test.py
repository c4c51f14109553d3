"""xds_server takes one or more control plane addresses, each checked as
host:port; the agent gets them joined by "," (and fails over between
them), and the status page names them so."""

import pytest

from nginx_xds_testing.processes import free_port
from nginx_xds_testing.waits import wait_until


class XdsServerTest:

    @pytest.fixture(autouse=True)
    def set_up(self, make_nginx):
        self.make_nginx = make_nginx

    def config_test(self, http):
        return self.make_nginx(http=http).test_config()

    def test_several_addresses_are_accepted(self):
        """Several host:port addresses pass nginx -t."""
        ok, output = self.config_test("xds_server 127.0.0.1:1 [::1]:2 cp.example:18000;")
        assert ok, output

    @pytest.mark.parametrize("bad,why", [
        ("nope", "expected host:port"),
        ("127.0.0.1:70000", "invalid port"),
        ("127.0.0.1:1,127.0.0.1:2", "invalid"),
        ("unix:/tmp/cp.sock", "expected host:port"),
    ])
    def test_each_address_is_checked(self, bad, why):
        """One bad address among good ones fails nginx -t naming it."""
        ok, output = self.config_test("xds_server 127.0.0.1:1 %s 127.0.0.1:3;" % bad)
        assert not ok, output
        assert 'invalid xds_server "%s"' % bad in output, output
        assert why in output, output

    def test_the_status_page_names_every_address(self, make_control_plane):
        """The status page shows the addresses as the agent gets them."""
        cp = make_control_plane()
        nginx = self.make_nginx(http="xds_server %s;\nxds_node_id one-cp;" % cp.xds_address)
        nginx.start()
        wait_until(lambda: nginx.status_json()["version"], what="an applied version")
        assert nginx.status_json()["server"] == cp.xds_address

    def test_the_agent_fails_over_to_the_next_address(self, make_control_plane):
        """The first address has no control plane: the agent moves on to the
        second and nginx applies from it."""
        cp = make_control_plane()
        dead = "127.0.0.1:%d" % free_port()
        nginx = self.make_nginx(http="xds_server %s %s;\nxds_node_id two-cp;"
                                % (dead, cp.xds_address))
        nginx.start()
        wait_until(lambda: nginx.status_json()["version"], timeout=30.0,
                   what="an applied version from the second address")
        assert nginx.status_json()["server"] == "%s,%s" % (dead, cp.xds_address)
