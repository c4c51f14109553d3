"""The module loads into Debian's nginx and checks its directives at `nginx -t`."""

import pytest


class ModuleLoadTest:

    @pytest.fixture(autouse=True)
    def set_up(self, make_nginx):
        self.make_nginx = make_nginx

    def config_test(self, http="", server=""):
        nginx = self.make_nginx(http=http, server=server)
        return nginx.test_config()

    def assert_rejected(self, http, *fragments, server=""):
        ok, output = self.config_test(http=http, server=server)
        assert not ok, "nginx -t accepted:\n%s\n%s" % (http, output)
        for fragment in fragments:
            assert fragment in output

    def test_nginx_t_accepts_the_module_without_xds_directives(self):
        """`nginx -t` accepts the module without xds directives."""
        ok, output = self.config_test()
        assert ok, output
        assert "test is successful" in output

    def test_nginx_t_accepts_every_directive_with_valid_values(self):
        """`nginx -t` accepts every directive with valid values."""
        ok, output = self.config_test(http="""
            xds_server 127.0.0.1:18000;
            xds_node_id node-1.eu_west;
            xds_fleet edge.eu-1;
            xds_cache cache/snapshot.pb;
            xds_zone_size 1m;
            """)
        assert ok, output

    def test_xds_server_accepts_a_host_name_and_an_ipv6_address(self):
        """xds_server accepts a host name and an ipv6 address."""
        for server in ("controlplane.example:18000", "[::1]:18000"):
            ok, output = self.config_test(http="xds_server %s;" % server)
            assert ok, output

    def test_xds_server_without_a_port_is_rejected(self):
        """xds_server without a port is rejected."""
        self.assert_rejected("xds_server nope;", 'invalid xds_server "nope"', "host:port")

    def test_xds_server_with_an_out_of_range_port_is_rejected(self):
        """xds_server with an out of range port is rejected."""
        self.assert_rejected("xds_server 127.0.0.1:70000;",
                             'invalid xds_server "127.0.0.1:70000"', "invalid port")

    def test_xds_server_given_twice_is_rejected(self):
        """xds_server given twice is rejected."""
        self.assert_rejected("xds_server 127.0.0.1:1;\nxds_server 127.0.0.1:2;",
                             '"xds_server" directive is duplicate')

    def test_xds_fleet_with_a_slash_is_rejected(self):
        """xds_fleet with a slash is rejected."""
        self.assert_rejected("xds_fleet bad/fleet;", 'invalid xds_fleet "bad/fleet"',
                             "[A-Za-z0-9._-]")

    def test_xds_fleet_longer_than_255_characters_is_rejected(self):
        """xds_fleet longer than 255 characters is rejected."""
        name = "f" * 256
        self.assert_rejected("xds_fleet %s;" % name, 'invalid xds_fleet "%s"' % name)

    def test_xds_node_label_is_accepted_once_per_key(self):
        """xds_node_label is accepted once per key."""
        ok, output = self.config_test(http="""
            xds_node_label group canary;
            xds_node_label zone "eu west 1";
            """)
        assert ok, output

    def test_xds_node_label_with_the_reserved_key_is_rejected(self):
        """xds_node_label with the reserved key is rejected."""
        self.assert_rejected("xds_node_label nginx x;", 'invalid xds_node_label key "nginx"',
                             'and not "nginx"')

    def test_xds_node_label_with_a_bad_key_is_rejected(self):
        """xds_node_label with a bad key is rejected."""
        self.assert_rejected('xds_node_label "a b" x;', 'invalid xds_node_label key "a b"',
                             "[A-Za-z0-9._-]")

    def test_xds_node_label_given_twice_is_rejected(self):
        """xds_node_label given twice is rejected."""
        self.assert_rejected("xds_node_label group a;\nxds_node_label group b;",
                             'duplicate xds_node_label "group"')

    def test_xds_node_label_with_a_control_character_is_rejected(self):
        """xds_node_label with a control character is rejected."""
        self.assert_rejected('xds_node_label group "a\tb";',
                             'invalid xds_node_label "group" value: control characters')

    def test_xds_node_id_with_a_space_is_rejected(self):
        """xds_node_id with a space is rejected."""
        self.assert_rejected('xds_node_id "node 1";', 'invalid xds_node_id "node 1"')

    def test_xds_zone_size_below_128k_is_rejected(self):
        """xds_zone_size below 128k is rejected."""
        self.assert_rejected("xds_zone_size 1k;", 'xds_zone_size "1k" is too small')

    def test_xds_zone_size_that_is_no_size_is_rejected(self):
        """xds_zone_size that is no size is rejected."""
        self.assert_rejected("xds_zone_size lots;", 'invalid xds_zone_size "lots"')

    def test_an_unknown_xds_directive_is_rejected(self):
        """An unknown xds directive is rejected."""
        self.assert_rejected("xds_bogus on;", 'unknown directive "xds_bogus"')

    def test_xds_server_inside_a_server_block_is_rejected(self):
        """xds_server inside a server block is rejected."""
        self.assert_rejected("", '"xds_server" directive is not allowed here',
                             server="xds_server 127.0.0.1:1;")

    def test_xds_status_outside_a_location_is_rejected(self):
        """xds_status outside a location is rejected."""
        self.assert_rejected("xds_status;", '"xds_status" directive is not allowed here')

