"""xds_status?format=json escapes what it writes (issue 10): an upstream
name, a zone name and a server nginx.conf may spell with quotes and
backslashes still make one valid JSON document holding them as they are."""

import harness

# nginx.conf's quoted strings take \" for a quote; the name nginx keeps is
# we"ird\name (one backslash).
NAME = 'we"ird\\name'
ZONE = 'z"one\\1'


class StatusEscapeTest(harness.TestCase):

    def setUp(self):
        self.cp = self.track(harness.ControlPlane()).start()
        self.nginx = self.track(harness.Nginx(http="""
            xds_server %s;
            xds_node_id escape-node;
            upstream "we\\"ird\\\\name" {
                zone "z\\"one\\\\1" 64k;
                server 127.0.0.1:1;
            }
            """ % self.cp.xds_address))
        self.nginx.start()

    def test_json_status_holds_names_with_quotes_and_backslashes(self):
        # Validates: the JSON parses and holds the upstream and zone names.
        status = self.nginx.status_json()
        names = {u["name"]: u for u in status["upstreams"]}
        self.assertIn(NAME, names, status)
        self.assertEqual(names[NAME]["zone"], ZONE)
        self.assertEqual(names[NAME]["peers"][0]["server"], "127.0.0.1:1")

    def test_text_status_shows_the_names_as_they_are(self):
        # Validates: the text form is unchanged (no escaping there).
        _, body = self.nginx.status_text()
        self.assertIn("upstream %s (nginx.conf, zone %s)" % (NAME, ZONE), body)


if __name__ == "__main__":
    harness.main()
