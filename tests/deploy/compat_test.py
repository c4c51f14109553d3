"""Old scripts keep working: the demo accepts what the original modules accepted.

Each test is one row of docs/compatibility.md, checked against the local demo
(deploy/local/run.sh --detach, started as demo_seeds_test starts it: real
nginx with the module, the real control plane, real backends, ports picked
at run time), through the seeds' nginx locations: `dynamic_upstream;` on
nginx A (seed 000's port 6000) and `dyups_interface;` on nginx B (seed 002's
port 8081). Requests are made with nginx_xds_testing's http_client (http.client) so that
status lines and headers are seen as nginx sends them. The tests share one demo and run in
name order; each leaves the upstreams as it found them unless it says so.
"""

import pytest

import demo_seeds_test as seeds  # the demo and its start/stop
from nginx_xds_testing import http_client

ZONE = "/dynamic?upstream=zone_for_backends"


class CompatTest(seeds.DemoTestCase):

    def request(self, seed_port, method, target, body=None):
        """One request to the demo's nginx that answers on `seed_port`; the
        seeds' port numbers in `target` and `body` become this run's."""
        if body is not None:
            body = self.demo.rewrite(body).encode()
        headers = {"Content-Length": str(len(body))} if body is not None else {}
        return http_client.request(self.demo.ports[seed_port], method, self.demo.rewrite(target),
                                   body=body, headers=headers, timeout=30)

    def dynamic(self, query, method="GET"):
        return self.request(6000, method, ZONE + query)

    def dyups(self, method, path, body=None):
        return self.request(8081, method, path, body)

    def server(self, seed_port):
        """The address the demo's backend for a seed's port listens on."""
        return "127.0.0.1:%d" % self.demo.ports[seed_port]

    def plain_list(self, *seed_ports):
        return "".join("server %s;\n" % self.server(p) for p in seed_ports)

    # --- ngx_dynamic_upstream ------------------------------------------------

    def test_dynamic_01_unknown_parameter_is_ignored(self):
        # foo=1: the original ignored what it did not know; so do we, and say so.
        answer = self.dynamic("&foo=1")
        assert answer.status == 200, answer
        assert answer.body == self.plain_list(6001, 6002, 6003)
        assert answer.headers.get("x-xds-ignored") == "foo=1 (unknown parameter)"

    def test_dynamic_02_flag_with_a_value_is_the_flag(self):
        # down=1 and up=true: a flag is set whatever its value.
        down = self.dynamic("&server=127.0.0.1:6003&down=1")
        assert down.status == 200, down
        assert ("server %s weight=1 max_fails=1 fail_timeout=10 down;\n" %
                self.server(6003)) in down.body
        up = self.dynamic("&server=127.0.0.1:6003&up=true")
        assert up.status == 200, up
        assert ("server %s weight=1 max_fails=1 fail_timeout=10;\n" % self.server(6003)) in up.body
        assert up.headers.get("x-xds-ignored") == "up=true (a flag's value)"

    def test_dynamic_03_server_without_a_change_lists(self):
        # server= alone: the original listed the zone.
        answer = self.dynamic("&server=127.0.0.1:6003")
        assert answer.status == 200, answer
        assert answer.body == self.plain_list(6001, 6002, 6003)

    def test_dynamic_04_remove_with_weight_removes(self):
        # remove= with weight=: the original removed the server.
        assert self.dynamic("&add=&server=127.0.0.1:6004").status == 200
        answer = self.dynamic("&remove=&server=127.0.0.1:6004&weight=3")
        assert answer.status == 200, answer
        assert self.server(6004) not in answer.body
        assert "weight=3 (not used by remove)" in answer.headers.get("x-xds-ignored", "")

    def test_dynamic_05_repeated_parameter_first_counts(self):
        # weight=2&weight=3: the first one counts, as nginx's $arg_weight reads it.
        answer = self.dynamic("&server=127.0.0.1:6003&weight=2&weight=3")
        assert answer.status == 200, answer
        assert ("server %s weight=2 " % self.server(6003)) in answer.body
        assert self.dynamic("&server=127.0.0.1:6003&weight=1").status == 200

    def test_dynamic_06_weight_zero_is_stored(self):
        # weight=0: the original stored it (needs the upstream model of the
        # other issue-9 branch; skipped while the model refuses weight 0).
        answer = self.dynamic("&server=127.0.0.1:6003&weight=0")
        if answer.status == 400 and "weight 0 must be" in answer.body:
            pytest.skip("the upstream model still refuses weight 0: " + answer.body)
        assert answer.status == 200, answer
        assert ("server %s weight=0 " % self.server(6003)) in answer.body
        assert self.dynamic("&server=127.0.0.1:6003&weight=1").status == 200

    def test_dynamic_07_server_without_a_port_is_port_80_for_add_and_remove(self):
        # add=&server=127.0.0.1 and remove=&server=127.0.0.1 name the same server.
        added = self.dynamic("&add=&server=127.0.0.1")
        assert added.status == 200, added
        assert "server 127.0.0.1:80;\n" in added.body
        removed = self.dynamic("&remove=&server=127.0.0.1")
        assert removed.status == 200, removed
        assert removed.body == self.plain_list(6001, 6002, 6003)

    def test_dynamic_08_not_allowed_reads_as_nginx(self):
        # POST /dynamic: "405 Not Allowed" in the status line and the body's first line.
        answer = self.dynamic("", method="POST")
        assert (answer.status, answer.reason) == (405, "Not Allowed"), answer
        assert answer.body.startswith("405 Not Allowed\n"), answer

    def test_dynamic_09_head_has_no_content_length(self):
        # HEAD: 200, text/plain and no Content-Length, as the original sent it.
        answer = self.dynamic("&server=127.0.0.1:6003&down=", method="HEAD")
        assert answer.status == 200, answer
        assert answer.headers.get("content-type") == "text/plain"
        assert "content-length" not in answer.headers
        assert self.dynamic("").body == self.plain_list(6001, 6002, 6003)

    def test_dynamic_10_what_the_original_refused_is_refused(self):
        # add with remove, up with down, a bad number: 400 naming it; no zone: 404.
        for query, status, words in (
                ("&add=&remove=&server=127.0.0.1:6003", 400, "add and remove"),
                ("&up=&down=&server=127.0.0.1:6003", 400, "up and down"),
                ("&weight=abc&server=127.0.0.1:6003", 400, "is not an integer")):
            answer = self.dynamic(query)
            assert answer.status == status, answer
            assert words in answer.body
        missing = self.request(6000, "GET", "/dynamic?upstream=nope")
        assert missing.status == 404, missing

    # --- dyups ---------------------------------------------------------------

    def test_dyups_01_slots(self):
        # Deleted host1 posted again takes its old slot; a replace moves last.
        assert self.dyups("GET", "/list").body == "host1\nhost2\n"
        assert self.dyups("DELETE", "/upstream/host1").status == 200
        assert self.dyups("GET", "/list").body == "host2\n"
        body = "server 127.0.0.1:8088;"
        assert self.dyups("POST", "/upstream/host1", body).status == 200
        assert self.dyups("GET", "/list").body == "host1\nhost2\n"
        assert self.dyups("POST", "/upstream/host1", body).status == 200
        assert self.dyups("GET", "/list").body == "host2\nhost1\n"
        # The moved host1 still serves through proxy_pass http://$host.
        response = http_client.request(self.demo.ports[8080], "GET", "/",
                                       headers={"Host": "host1"}, timeout=30)
        assert response.body.strip() == str(self.demo.ports[8088])

    def test_dyups_02_post_without_a_body_is_204(self):
        # An empty POST: 204, nothing stored, as dyups answers it.
        before = self.dyups("GET", "/detail").body
        answer = self.dyups("POST", "/upstream/newone", "")
        assert answer.status == 204, answer
        assert answer.body == ""
        assert self.dyups("GET", "/upstream/newone").status == 404
        assert self.dyups("GET", "/detail").body == before

    def test_dyups_03_head_is_405(self):
        # HEAD /list: 405, as dyups answers every method but GET, POST, DELETE.
        answer = self.dyups("HEAD", "/list")
        assert (answer.status, answer.reason) == (405, "Not Allowed"), answer

    def test_dyups_04_post_list_is_404(self):
        # POST /list with a body: 404 "not support this interface".
        answer = self.dyups("POST", "/list", "server 127.0.0.1:8088;")
        assert answer.status == 404, answer
        assert "not support this interface" in answer.body

    def test_dyups_05_bad_body_is_a_precise_400(self):
        # A deliberate difference: dyups answered 500 "add server failed"
        # (its README: reload nginx); we answer 400 naming the mistake.
        answer = self.dyups("POST", "/upstream/newone", "server 127.0.0.1:8088 weight=x;")
        assert answer.status == 400, answer
        assert "weight \"x\" is not a non-negative integer" in answer.body


    def test_z_stop_stops_everything(self):
        """run.sh --stop (last, after every test above) leaves nothing running."""
        self.check_stop_stops_everything()
