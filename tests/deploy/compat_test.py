#!/usr/bin/python3
"""Old scripts keep working: the demo accepts what the original modules accepted.

Each test is one row of docs/compatibility.md, checked against the local demo
(deploy/local/run.sh --detach, started as demo_seeds_test starts it: real
nginx with the module, the real control plane, real backends, ports picked
at run time), through the seeds' nginx locations: `dynamic_upstream;` on
nginx A (seed 000's port 6000) and `dyups_interface;` on nginx B (seed 002's
port 8081). Requests are made with http.client so that status lines and
headers are seen as nginx sends them. The tests share one demo and run in
name order; each leaves the upstreams as it found them unless it says so.
"""

import http.client
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demo_seeds_test as seeds  # noqa: E402  (the demo and its start/stop)

ZONE = "/dynamic?upstream=zone_for_backends"


class Answer:
    def __init__(self, response, body):
        self.status = response.status
        self.reason = response.reason
        self.headers = {k.lower(): v for k, v in response.getheaders()}
        self.body = body.decode("utf-8", "replace")

    def __repr__(self):
        return "%d %s %r %r" % (self.status, self.reason, self.headers, self.body)


class CompatTest(seeds.DemoTestCase, unittest.TestCase):

    def request(self, seed_port, method, target, body=None):
        """One request to the demo's nginx that answers on `seed_port`; the
        seeds' port numbers in `target` and `body` become this run's."""
        connection = http.client.HTTPConnection("127.0.0.1", self.demo.ports[seed_port],
                                                timeout=30)
        try:
            if body is not None:
                body = self.demo.rewrite(body).encode()
            headers = {"Content-Length": str(len(body))} if body is not None else {}
            connection.request(method, self.demo.rewrite(target), body=body, headers=headers)
            response = connection.getresponse()
            return Answer(response, response.read())
        finally:
            connection.close()

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
        self.assertEqual(answer.status, 200, answer)
        self.assertEqual(answer.body, self.plain_list(6001, 6002, 6003))
        self.assertEqual(answer.headers.get("x-xds-ignored"), "foo=1 (unknown parameter)")

    def test_dynamic_02_flag_with_a_value_is_the_flag(self):
        # down=1 and up=true: a flag is set whatever its value.
        down = self.dynamic("&server=127.0.0.1:6003&down=1")
        self.assertEqual(down.status, 200, down)
        self.assertIn("server %s weight=1 max_fails=1 fail_timeout=10 down;\n" %
                      self.server(6003), down.body)
        up = self.dynamic("&server=127.0.0.1:6003&up=true")
        self.assertEqual(up.status, 200, up)
        self.assertIn("server %s weight=1 max_fails=1 fail_timeout=10;\n" % self.server(6003),
                      up.body)
        self.assertEqual(up.headers.get("x-xds-ignored"), "up=true (a flag's value)")

    def test_dynamic_03_server_without_a_change_lists(self):
        # server= alone: the original listed the zone.
        answer = self.dynamic("&server=127.0.0.1:6003")
        self.assertEqual(answer.status, 200, answer)
        self.assertEqual(answer.body, self.plain_list(6001, 6002, 6003))

    def test_dynamic_04_remove_with_weight_removes(self):
        # remove= with weight=: the original removed the server.
        self.assertEqual(self.dynamic("&add=&server=127.0.0.1:6004").status, 200)
        answer = self.dynamic("&remove=&server=127.0.0.1:6004&weight=3")
        self.assertEqual(answer.status, 200, answer)
        self.assertNotIn(self.server(6004), answer.body)
        self.assertIn("weight=3 (not used by remove)", answer.headers.get("x-xds-ignored", ""))

    def test_dynamic_05_repeated_parameter_first_counts(self):
        # weight=2&weight=3: the first one counts, as nginx's $arg_weight reads it.
        answer = self.dynamic("&server=127.0.0.1:6003&weight=2&weight=3")
        self.assertEqual(answer.status, 200, answer)
        self.assertIn("server %s weight=2 " % self.server(6003), answer.body)
        self.assertEqual(self.dynamic("&server=127.0.0.1:6003&weight=1").status, 200)

    def test_dynamic_06_weight_zero_is_stored(self):
        # weight=0: the original stored it (needs the upstream model of the
        # other issue-9 branch; skipped while the model refuses weight 0).
        answer = self.dynamic("&server=127.0.0.1:6003&weight=0")
        if answer.status == 400 and "weight 0 must be" in answer.body:
            self.skipTest("the upstream model still refuses weight 0: " + answer.body)
        self.assertEqual(answer.status, 200, answer)
        self.assertIn("server %s weight=0 " % self.server(6003), answer.body)
        self.assertEqual(self.dynamic("&server=127.0.0.1:6003&weight=1").status, 200)

    def test_dynamic_07_server_without_a_port_is_port_80_for_add_and_remove(self):
        # add=&server=127.0.0.1 and remove=&server=127.0.0.1 name the same server.
        added = self.dynamic("&add=&server=127.0.0.1")
        self.assertEqual(added.status, 200, added)
        self.assertIn("server 127.0.0.1:80;\n", added.body)
        removed = self.dynamic("&remove=&server=127.0.0.1")
        self.assertEqual(removed.status, 200, removed)
        self.assertEqual(removed.body, self.plain_list(6001, 6002, 6003))

    def test_dynamic_08_not_allowed_reads_as_nginx(self):
        # POST /dynamic: "405 Not Allowed" in the status line and the body's first line.
        answer = self.dynamic("", method="POST")
        self.assertEqual((answer.status, answer.reason), (405, "Not Allowed"), answer)
        self.assertTrue(answer.body.startswith("405 Not Allowed\n"), answer)

    def test_dynamic_09_head_has_no_content_length(self):
        # HEAD: 200, text/plain and no Content-Length, as the original sent it.
        answer = self.dynamic("&server=127.0.0.1:6003&down=", method="HEAD")
        self.assertEqual(answer.status, 200, answer)
        self.assertEqual(answer.headers.get("content-type"), "text/plain")
        self.assertNotIn("content-length", answer.headers)
        self.assertEqual(self.dynamic("").body, self.plain_list(6001, 6002, 6003))

    def test_dynamic_10_what_the_original_refused_is_refused(self):
        # add with remove, up with down, a bad number: 400 naming it; no zone: 404.
        for query, status, words in (
                ("&add=&remove=&server=127.0.0.1:6003", 400, "add and remove"),
                ("&up=&down=&server=127.0.0.1:6003", 400, "up and down"),
                ("&weight=abc&server=127.0.0.1:6003", 400, "is not an integer")):
            answer = self.dynamic(query)
            self.assertEqual(answer.status, status, answer)
            self.assertIn(words, answer.body)
        missing = self.request(6000, "GET", "/dynamic?upstream=nope")
        self.assertEqual(missing.status, 404, missing)

    # --- dyups ---------------------------------------------------------------

    def test_dyups_01_slots(self):
        # Deleted host1 posted again takes its old slot; a replace moves last.
        self.assertEqual(self.dyups("GET", "/list").body, "host1\nhost2\n")
        self.assertEqual(self.dyups("DELETE", "/upstream/host1").status, 200)
        self.assertEqual(self.dyups("GET", "/list").body, "host2\n")
        body = "server 127.0.0.1:8088;"
        self.assertEqual(self.dyups("POST", "/upstream/host1", body).status, 200)
        self.assertEqual(self.dyups("GET", "/list").body, "host1\nhost2\n")
        self.assertEqual(self.dyups("POST", "/upstream/host1", body).status, 200)
        self.assertEqual(self.dyups("GET", "/list").body, "host2\nhost1\n")
        # The moved host1 still serves through proxy_pass http://$host.
        connection = http.client.HTTPConnection("127.0.0.1", self.demo.ports[8080], timeout=30)
        try:
            connection.request("GET", "/", headers={"Host": "host1"})
            response = connection.getresponse()
            self.assertEqual(response.read().decode().strip(), str(self.demo.ports[8088]))
        finally:
            connection.close()

    def test_dyups_02_post_without_a_body_is_204(self):
        # An empty POST: 204, nothing stored, as dyups answers it.
        before = self.dyups("GET", "/detail").body
        answer = self.dyups("POST", "/upstream/newone", "")
        self.assertEqual(answer.status, 204, answer)
        self.assertEqual(answer.body, "")
        self.assertEqual(self.dyups("GET", "/upstream/newone").status, 404)
        self.assertEqual(self.dyups("GET", "/detail").body, before)

    def test_dyups_03_head_is_405(self):
        # HEAD /list: 405, as dyups answers every method but GET, POST, DELETE.
        answer = self.dyups("HEAD", "/list")
        self.assertEqual((answer.status, answer.reason), (405, "Not Allowed"), answer)

    def test_dyups_04_post_list_is_404(self):
        # POST /list with a body: 404 "not support this interface".
        answer = self.dyups("POST", "/list", "server 127.0.0.1:8088;")
        self.assertEqual(answer.status, 404, answer)
        self.assertIn("not support this interface", answer.body)

    def test_dyups_05_bad_body_is_a_precise_400(self):
        # A deliberate difference: dyups answered 500 "add server failed"
        # (its README: reload nginx); we answer 400 naming the mistake.
        answer = self.dyups("POST", "/upstream/newone", "server 127.0.0.1:8088 weight=x;")
        self.assertEqual(answer.status, 400, answer)
        self.assertIn("weight \"x\" is not a non-negative integer", answer.body)


if __name__ == "__main__":
    unittest.main(verbosity=2)
