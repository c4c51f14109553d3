"""xds_status?format=json escapes what it writes (issue 10): an upstream
name, a zone name and a server nginx.conf may spell with quotes and
backslashes still make one valid JSON document holding them as they are."""

import pytest


# nginx.conf's quoted strings take \" for a quote; the name nginx keeps is
# we"ird\name (one backslash).
NAME = 'we"ird\\name'
ZONE = 'z"one\\1'


class StatusEscapeTest:

    @pytest.fixture(autouse=True)
    def set_up(self, make_control_plane, make_nginx):
        self.cp = make_control_plane()
        self.nginx = make_nginx(http="""
            xds_server %s;
            xds_node_id escape-node;
            upstream "we\\"ird\\\\name" {
                zone "z\\"one\\\\1" 64k;
                server 127.0.0.1:1;
            }
            """ % self.cp.xds_address)
        self.nginx.start()

    def test_json_status_holds_names_with_quotes_and_backslashes(self):
        """The JSON parses and holds the upstream and zone names."""
        status = self.nginx.status_json()
        names = {u["name"]: u for u in status["upstreams"]}
        assert NAME in names, status
        assert names[NAME]["zone"] == ZONE
        assert names[NAME]["peers"][0]["server"] == "127.0.0.1:1"

    def test_text_status_shows_the_names_as_they_are(self):
        """The text form is unchanged (no escaping there)."""
        _, body = self.nginx.status_text()
        assert "upstream %s (nginx.conf, zone %s)" % (NAME, ZONE) in body
