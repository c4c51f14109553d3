"""dynamic_upstream; and dyups_interface; forward the seeds' HTTP APIs to the
control plane's HTTP gateway (xds_api_server) and return its answer as is.

ConfigTest runs `nginx -t` only. ForwardTest puts a recording HTTP server in
the control plane's place, to see exactly what nginx sends and to hold an
answer back. ControlPlaneForwardTest runs the real control plane and checks
that nginx answers what the gateway answers, in this nginx's fleet.
"""

import http.server
import threading
import time

import grpc

import pytest

from nginx_xds_testing import http_client
from nginx_xds_testing.nginx import Nginx
from nginx_xds_testing.processes import free_port
from nginx_xds_testing.subtests import subtest
from nginx_xds_testing.waits import wait_until

FLEET = "fleet-a"


def xds_headers(msg):
    """The X-Xds-* response headers, as {lower-case name: value}."""
    return {k.lower(): v for k, v in msg.items() if k.lower().startswith("x-xds-")}


def api_answer(port, method, path, body=None, headers=None):
    """What a client of the API sees: status, body, Content-Type, X-Xds-*."""
    response = http_client.request(port, method, path, body=body, headers=headers)
    return (response.status, response.raw, response.headers.get("Content-Type"),
            xds_headers(response.headers))


# --------------------------------------------------------------------------
# A recording stand-in for the control plane's gateway


class FakeGateway:
    """An HTTP server that records every request and answers `answer`.

    A request whose path contains "/hold" is answered only after release().
    """

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        self.held = threading.Event()       # a /hold request has arrived
        self.released = threading.Event()
        self.answer = (409, b"409 Conflict\nsend the same command again later\n",
                       "text/plain; charset=test",
                       [("X-Xds-Version", "42"), ("X-Xds-Acked-Nodes", "3")])
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def serve(self, send_body):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with fake.lock:
                    fake.requests.append({
                        "method": self.command,
                        "path": self.path,
                        "headers": list(self.headers.items()),
                        "body": body,
                    })
                if "/hold" in self.path:
                    fake.held.set()
                    fake.released.wait(30)
                status, data, content_type, extra = fake.answer
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in extra:
                    self.send_header(name, value)
                self.end_headers()
                if send_body:
                    self.wfile.write(data)

            def do_GET(self):
                self.serve(True)

            def do_HEAD(self):
                self.serve(False)

            def do_POST(self):
                self.serve(True)

            def do_DELETE(self):
                self.serve(True)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    def last(self):
        with self.lock:
            return self.requests[-1]

    def count(self):
        with self.lock:
            return len(self.requests)


def header_values(recorded, name):
    return [v for k, v in recorded["headers"] if k.lower() == name.lower()]


# --------------------------------------------------------------------------


class ConfigTest:

    @pytest.fixture(autouse=True)
    def set_up(self, make_nginx):
        self.make_nginx = make_nginx

    def nginx(self, http, server=""):
        return self.make_nginx(http=http, server=server)

    def assert_rejected(self, nginx, *words):
        ok, output = nginx.test_config()
        assert not ok, output
        for word in words:
            assert word in output
        return output

    def test_nginx_t_rejects_an_xds_api_server_that_is_not_host_port(self):
        """`nginx -t` rejects an xds_api_server that is not host port."""
        for value, why in [("http://127.0.0.1:18080", "without a scheme"),
                           ("127.0.0.1", "expected host:port"),
                           ("unix:/run/cp.sock", "expected host:port"),
                           ("127.0.0.1:99999", "invalid port"),
                           ("127.0.0.1:18080/api", "invalid host")]:
            with subtest(value=value):
                nginx = self.nginx("xds_api_server %s;\n" % value)
                self.assert_rejected(nginx, 'invalid xds_api_server "%s"' % value, why)

    def test_nginx_t_rejects_xds_api_server_given_twice(self):
        """`nginx -t` rejects xds_api_server given twice."""
        nginx = self.nginx("xds_api_server 127.0.0.1:1;\nxds_api_server 127.0.0.1:2;\n")
        self.assert_rejected(nginx, '"xds_api_server" directive is duplicate')

    def test_nginx_t_rejects_dynamic_upstream_and_dyups_interface_without_xds_api_server(self):
        """`nginx -t` rejects dynamic_upstream and dyups_interface without xds_api_server."""
        for directive in ("dynamic_upstream", "dyups_interface"):
            with subtest(directive=directive):
                nginx = self.nginx("", server="location /dynamic { %s; }\n" % directive)
                output = self.assert_rejected(nginx, '"%s" in %s:' % (directive, nginx.conf_path),
                                              'needs "xds_api_server"')
                assert "test failed" in output

    def test_nginx_t_rejects_an_xds_api_server_host_that_does_not_resolve(self):
        """`nginx -t` rejects an xds_api_server host that does not resolve."""
        nginx = self.nginx("xds_api_server no-such-host.invalid:18080;\n",
                           server="location / { dyups_interface; }\n")
        self.assert_rejected(nginx, 'host not found in xds_api_server '
                                    '"no-such-host.invalid:18080"')

    def test_nginx_t_accepts_xds_api_server_after_the_locations_that_use_it(self):
        """`nginx -t` accepts xds_api_server after the locations that use it."""
        nginx = self.nginx("server {\n"
                           "    listen 127.0.0.1:%d;\n"
                           "    location /dynamic { dynamic_upstream; }\n"
                           "}\n"
                           "xds_api_server 127.0.0.1:18080;\n" % free_port())
        ok, output = nginx.test_config()
        assert ok, output

    def test_nginx_t_rejects_dynamic_upstream_next_to_another_handler(self):
        """`nginx -t` rejects dynamic_upstream next to another handler."""
        for other in ("proxy_pass http://127.0.0.1:1;", "dyups_interface;", "xds_status;"):
            with subtest(other=other):
                nginx = self.nginx("xds_api_server 127.0.0.1:1;\n",
                                   server="location /x { %s dynamic_upstream; }\n" % other)
                self.assert_rejected(nginx, '"dynamic_upstream" cannot share a location')

    def test_nginx_t_lets_the_location_tune_the_forward_with_proxy_directives(self):
        """`nginx -t` lets the location tune the forward with proxy directives."""
        nginx = self.nginx("xds_api_server 127.0.0.1:1;\nproxy_intercept_errors on;\n",
                           server="location /dynamic {\n"
                                  "    dynamic_upstream;\n"
                                  "    proxy_read_timeout 30s;\n"
                                  "    proxy_intercept_errors off;\n"
                                  "}\n")
        ok, output = nginx.test_config()
        assert ok, output


class ForwardTest:
    """nginx in front of a recording gateway: what goes out, what comes back."""

    @pytest.fixture(autouse=True)
    def set_up(self, processes):
        self.fake = FakeGateway().start()
        self.dyups_port = free_port()
        # One worker: a forward in flight must not keep it from other requests.
        # The http and server levels' proxy settings must not reach the
        # forward: they would hide the control plane's errors, drop bodies
        # and send another fleet.
        self.nginx = processes.track(Nginx(
            workers=1,
            http="""
            xds_fleet %s;
            xds_api_server %s;
            proxy_intercept_errors on;
            proxy_pass_request_body off;
            proxy_set_header X-Xds-Fleet not-this-one;
            error_page 400 404 409 500 /xds/status;
            server {
                listen 127.0.0.1:%d;
                location / {
                    dyups_interface;
                }
            }
            """ % (FLEET, self.fake.address, self.dyups_port),
            server="""
            proxy_pass_request_headers off;
            location /dynamic {
                allow 127.0.0.1;
                deny all;
                dynamic_upstream;
            }
            location = /denied/dynamic {
                deny all;
                dynamic_upstream;
            }
            """))
        self.nginx.start()
        yield
        assert self.nginx.bad_log_lines() == []
        self.fake.stop()

    def test_get_goes_out_with_its_uri_unchanged_and_this_nginx_fleet(self):
        """Get goes out with its uri unchanged and this nginx fleet."""
        path = "/dynamic?upstream=zone_for_backends&server=127.0.0.1:6003&weight=10&verbose="
        status, _, _ = http_client.request(self.nginx.port, "GET", path)
        assert status == 409
        sent = self.fake.last()
        assert sent["method"] == "GET"
        assert sent["path"] == path
        assert header_values(sent, "X-Xds-Fleet") == [FLEET]
        assert header_values(sent, "Host") == [self.fake.address]

    def test_a_client_x_xds_fleet_header_is_replaced_by_this_nginx_fleet(self):
        """A client x xds_fleet header is replaced by this nginx fleet."""
        http_client.request(self.nginx.port, "GET", "/dynamic?upstream=z",
                headers={"X-Xds-Fleet": "someone-elses-fleet"})
        assert header_values(self.fake.last(), "X-Xds-Fleet") == [FLEET]

    def test_other_request_headers_go_out_too(self):
        """Other request headers go out too."""
        http_client.request(self.nginx.port, "GET", "/dynamic?upstream=z",
                headers={"X-Request-Id": "abc", "User-Agent": "dyups-script/1"})
        sent = self.fake.last()
        assert header_values(sent, "X-Request-Id") == ["abc"]
        assert header_values(sent, "User-Agent") == ["dyups-script/1"]

    def test_head_goes_out_as_head(self):
        """Head goes out as head."""
        status, _, body = http_client.request(self.nginx.port, "HEAD",
                                              "/dynamic?upstream=z&add=&server=127.0.0.1:1")
        assert status == 409
        assert body == ""
        assert self.fake.last()["method"] == "HEAD"

    def test_dyups_post_goes_out_with_its_body_and_delete_as_delete(self):
        """Dyups post goes out with its body and delete as delete."""
        body = b"server 127.0.0.1:8089;server 127.0.0.1:8088;"
        http_client.request(self.dyups_port, "POST", "/upstream/dyhost", body=body)
        sent = self.fake.last()
        assert (sent["method"], sent["path"], sent["body"]) == ("POST", "/upstream/dyhost", body)
        assert header_values(sent, "X-Xds-Fleet") == [FLEET]

        http_client.request(self.dyups_port, "DELETE", "/upstream/dyhost")
        sent = self.fake.last()
        assert (sent["method"], sent["path"], sent["body"]) == ("DELETE", "/upstream/dyhost", b"")

    def test_dyups_interface_forwards_every_uri_unchanged(self):
        """dyups_interface forwards every uri unchanged."""
        for path in ("/list", "/detail", "/upstream/host1", "/fleet/status?format=json",
                     "/upstream/a%20b?x=1"):
            with subtest(path=path):
                http_client.request(self.dyups_port, "GET", path)
                assert self.fake.last()["path"] == path

    def test_the_answer_comes_back_as_is(self):
        """The answer comes back as is."""
        for status, body, content_type in [
                (409, b"409 Conflict\nsend the same command again later\n", "text/plain"),
                (500, b"500 Internal Server Error\nnode rejected it\n", "text/plain"),
                (204, b"", None),
                (200, b'{"nodes":[]}', "application/json")]:
            with subtest(status=status):
                self.fake.answer = (status, body, content_type,
                                    [("X-Xds-Version", "7"), ("X-Xds-Acked-Nodes", "2"),
                                     ("X-Xds-Connected-Nodes", "2")])
                got = api_answer(self.nginx.port, "GET", "/dynamic?upstream=z")
                assert got == (status, body, content_type,
                               {"x-xds-version": "7", "x-xds-acked-nodes": "2",
                                "x-xds-connected-nodes": "2"})

    def test_the_location_access_rules_apply_before_the_forward(self):
        """The location access rules apply before the forward."""
        before = self.fake.count()
        status, _, _ = http_client.request(self.nginx.port, "GET", "/denied/dynamic?upstream=z")
        assert status == 403
        assert self.fake.count() == before

    def test_the_api_upstream_is_not_reachable_by_host_name(self, processes):
        # `proxy_pass http://$host;` searches the upstreams by Host: the
        # forward's own upstream must not be one a client can name.
        nginx = processes.track(Nginx(
            http="xds_api_server %s;\n" % self.fake.address,
            server="location /dynamic { deny all; dynamic_upstream; }\n"
                   "location / { proxy_pass http://$host; }\n"))
        nginx.start()
        before = self.fake.count()
        for host in ("xds api server", "xds_api_server", "127.0.0.1", self.fake.address):
            with subtest(host=host):
                status, _, _ = nginx.request("GET", "/list", headers={"Host": host})
                assert status != 409
        assert self.fake.count() == before

    def test_the_worker_serves_other_requests_while_a_forward_is_in_flight(self):
        """The worker serves other requests while a forward is in flight."""
        result = {}

        def slow():
            result["answer"] = http_client.request(self.nginx.port, "GET",
                                                   "/dynamic/hold?upstream=z", timeout=60)

        self.fake.answer = (200, b"server 127.0.0.1:1;\n", "text/plain", [])
        thread = threading.Thread(target=slow, daemon=True)
        thread.start()
        assert self.fake.held.wait(20), "the held request never reached the gateway"

        # The only worker has a forward in flight; it still answers the
        # status page and forwards other requests, to the end.
        for _ in range(5):
            status, _, _ = self.nginx.get("/xds/status")
            assert status == 200
            status, _, body = http_client.request(self.nginx.port, "GET", "/dynamic?upstream=z")
            assert (status, body) == (200, "server 127.0.0.1:1;\n")
        assert thread.is_alive()
        assert "answer" not in result

        self.fake.released.set()
        thread.join(30)
        answer = result["answer"]
        assert (answer.status, answer.body) == (200, "server 127.0.0.1:1;\n")

    def test_xds_fleet_and_xds_api_server_may_follow_the_location(self, processes):
        """xds_fleet and xds_api_server may follow the location."""
        nginx = processes.track(Nginx(
            http="",
            server="location /dynamic { dynamic_upstream; }\n"))
        nginx.render_server_first = nginx.render
        nginx.render = lambda: nginx.render_server_first().rstrip()[:-1] + (
            "xds_fleet late-fleet;\nxds_api_server %s;\n}\n" % self.fake.address)
        nginx.start()
        http_client.request(nginx.port, "GET", "/dynamic?upstream=z")
        assert header_values(self.fake.last(), "X-Xds-Fleet") == ["late-fleet"]

    def test_a_reload_forwards_to_the_new_xds_api_server_and_fleet(self, request):
        """A reload forwards to the new xds_api_server and fleet."""
        other = FakeGateway().start()
        request.addfinalizer(other.stop)
        self.nginx.http = self.nginx.http.replace(self.fake.address, other.address).replace(
            "xds_fleet %s;" % FLEET, "xds_fleet fleet-b;")
        self.nginx.reload()
        before = self.fake.count()
        for _ in range(4):
            status, _, _ = http_client.request(self.nginx.port, "GET", "/dynamic?upstream=z")
            assert status == 409
        assert other.count() == 4
        assert header_values(other.last(), "X-Xds-Fleet") == ["fleet-b"]
        assert header_values(other.last(), "Host") == [other.address]
        assert self.fake.count() == before

    def test_without_xds_fleet_the_fleet_is_default(self, processes):
        """Without xds_fleet the fleet is default."""
        nginx = processes.track(Nginx(
            http="xds_api_server %s;\n" % self.fake.address,
            server="location /dynamic { dynamic_upstream; }\n"))
        nginx.start()
        http_client.request(nginx.port, "GET", "/dynamic?upstream=z")
        assert header_values(self.fake.last(), "X-Xds-Fleet") == ["default"]

    def test_an_unreachable_control_plane_answers_502(self, processes):
        """An unreachable control plane answers 502."""
        nginx = processes.track(Nginx(
            http="xds_api_server 127.0.0.1:%d;\n" % free_port(),
            server="location /dynamic { dynamic_upstream; }\n"))
        nginx.start()
        for _ in range(3):
            status, _, _ = http_client.request(nginx.port, "GET", "/dynamic?upstream=z")
            assert status == 502
        # It is tried again at once when it comes back: no fail_timeout.
        status, _, _ = nginx.get("/xds/status")
        assert status == 200


class ControlPlaneForwardTest:
    """The seeds' sessions through nginx, against the real control plane."""

    @pytest.fixture(autouse=True)
    def set_up(self, processes, make_control_plane, make_backends):
        self.backends = make_backends(3)
        self.b = self.backends.addresses
        self.cp = make_control_plane()
        self.dyups_port = free_port()
        # Seed 000's nginx.conf and seed 002's dyups server, plus the module.
        self.nginx = processes.track(Nginx(
            http="""
            xds_server %s;
            xds_node_id api-node;
            xds_fleet %s;
            xds_api_server %s;

            upstream backends {
                zone zone_for_backends 1m;
                server %s;
                server %s;
            }

            server {
                listen 127.0.0.1:%d;
                location / {
                    dyups_interface;
                }
            }
            """ % (self.cp.xds_address, FLEET, self.cp.http_address, self.b[0], self.b[1],
                   self.dyups_port),
            server="""
            location /dynamic {
                allow 127.0.0.1;
                deny all;
                dynamic_upstream;
            }
            location / {
                proxy_pass http://$host;
            }
            """))
        self.nginx.start()
        wait_until(
            lambda: self.direct("GET", "/dynamic?upstream=zone_for_backends")[0] == 200,
            what="the control plane to adopt nginx.conf's upstream in %s" % FLEET)
        yield
        assert self.nginx.bad_log_lines() == []

    def direct(self, method, path, body=None):
        """The same request straight to the gateway, naming this nginx's fleet."""
        return api_answer(self.cp.http_port, method, path, body=body,
                          headers={"X-Xds-Fleet": FLEET})

    def via_nginx(self, method, path, body=None, port=None):
        return api_answer(port or self.nginx.port, method, path, body=body)

    def servers(self, fleet=FLEET):
        return [s.address for s in self.cp.get_upstream("backends", fleet=fleet).servers]

    def test_dynamic_reads_through_nginx_answer_what_the_control_plane_answers(self):
        """Dynamic reads through nginx answer what the control plane answers."""
        for path in ("/dynamic?upstream=zone_for_backends",
                     "/dynamic?upstream=zone_for_backends&verbose=",
                     "/dynamic?upstream=no_such_zone",
                     "/dynamic",
                     "/dynamic?upstream=zone_for_backends&server=%s&weight=x" % self.b[0],
                     "/dynamic?upstream=zone_for_backends&add=&remove=&server=%s" % self.b[0]):
            with subtest(path=path):
                got = self.via_nginx("GET", path)
                assert got == self.direct("GET", path)
        assert self.via_nginx("GET", "/dynamic?upstream=zone_for_backends")[:3] == (
            200, ("server %s;\nserver %s;\n" % (self.b[0], self.b[1])).encode(), "text/plain")
        assert self.via_nginx("GET", "/dynamic?upstream=no_such_zone")[0] == 404

    def test_a_dynamic_write_through_nginx_lands_in_this_nginx_fleet(self):
        """A dynamic write through nginx lands in this nginx fleet."""
        path = "/dynamic?upstream=zone_for_backends&add=&server=%s" % self.b[2]
        status, body, content_type, headers = self.via_nginx("GET", path)
        assert status == 200, body
        assert content_type == "text/plain"
        assert body == ("server %s;\nserver %s;\nserver %s;\n" %
                        (self.b[0], self.b[1], self.b[2])).encode()
        # The write is this nginx's fleet's, which this nginx applied.
        assert self.servers() == self.b
        with pytest.raises(grpc.RpcError) as raised:
            self.cp.get_upstream("backends", fleet="default")
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        version = headers["x-xds-version"]
        assert headers["x-xds-acked-nodes"] == "1"
        assert headers["x-xds-connected-nodes"] == "1"
        assert self.cp.node_status("api-node", fleet=FLEET).acked_version == int(version)
        assert self.nginx.status_json()["version"] == version
        # ... and what the control plane now lists, directly or through nginx.
        listing = "/dynamic?upstream=zone_for_backends"
        assert self.via_nginx("GET", listing) == self.direct("GET", listing)
        assert self.direct("GET", listing)[1] == body

    def test_a_dynamic_error_through_nginx_is_the_control_plane_error(self):
        """A dynamic error through nginx is the control plane error."""
        path = "/dynamic?upstream=zone_for_backends&remove=&server=127.0.0.1:1"
        status, body, content_type, _ = self.via_nginx("GET", path)
        assert status == 400
        assert body.startswith(b"400 Bad Request\n"), body
        assert content_type == "text/plain"
        assert (status, body) == self.direct("GET", path)[:2]
        assert self.servers() == self.b[:2]

    def test_head_through_nginx_changes_nothing(self):
        """Head through nginx changes nothing."""
        before = self.direct("GET", "/dynamic?upstream=zone_for_backends&verbose=")
        for path in ("/dynamic?upstream=zone_for_backends&add=&server=%s" % self.b[2],
                     "/dynamic?upstream=zone_for_backends&remove=&server=%s" % self.b[0],
                     "/dynamic?upstream=zone_for_backends&server=%s&down=" % self.b[0],
                     "/dynamic?upstream=zone_for_backends&server=%s&weight=9" % self.b[0]):
            with subtest(path=path):
                status, body, content_type, headers = self.via_nginx("HEAD", path)
                assert (status, body, content_type) == (200, b"", "text/plain")
                assert "x-xds-version" not in headers
        assert self.direct("GET", "/dynamic?upstream=zone_for_backends&verbose=") == before
        assert self.servers() == self.b[:2]

    def test_the_dyups_session_of_seed_002_through_nginx(self):
        """The dyups session of seed 002 through nginx."""
        port = self.dyups_port
        assert self.nginx.get("/", headers={"Host": "dyhost"}).status == 502

        status, body, _, headers = self.via_nginx(
            "POST", "/upstream/dyhost", body=("server %s;server %s;" % (self.b[1], self.b[2])),
            port=port)
        assert (status, body) == (200, b"success")
        assert headers["x-xds-acked-nodes"] == "1"
        servers = self.cp.get_upstream("dyhost", fleet=FLEET).servers
        assert [s.address for s in servers] == [self.b[1], self.b[2]]

        seen = set()
        for _ in range(10):
            code, _, answer = self.nginx.get("/", headers={"Host": "dyhost"})
            assert code == 200, answer
            seen.add(int(answer))
        assert seen == set(self.backends.backend_ports[1:])

        for path in ("/list", "/detail", "/upstream/dyhost", "/upstream/backends"):
            with subtest(path=path):
                assert self.via_nginx("GET", path, port=port) == self.direct("GET", path)
        assert self.via_nginx("GET", "/list", port=port)[1] == b"backends\ndyhost\n"

        status, body, _, _ = self.via_nginx("DELETE", "/upstream/dyhost", port=port)
        assert (status, body) == (200, b"success")
        assert self.nginx.get("/", headers={"Host": "dyhost"}).status == 502
        assert self.via_nginx("GET", "/upstream/dyhost", port=port)[0] == 404
        assert (self.via_nginx("GET", "/upstream/dyhost", port=port) ==
                self.direct("GET", "/upstream/dyhost"))

    def test_concurrent_requests_through_nginx_all_succeed(self):
        """Concurrent requests through nginx all succeed."""
        expected = self.direct("GET", "/dynamic?upstream=zone_for_backends")
        results = []
        lock = threading.Lock()

        def client(i):
            for _ in range(10):
                if i % 2:
                    got = self.via_nginx("GET", "/dynamic?upstream=zone_for_backends")
                    ok = got == expected
                else:
                    got = self.via_nginx("GET", "/list", port=self.dyups_port)
                    ok = got[:2] == (200, b"backends\n")
                with lock:
                    results.append((ok, got))

        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(16)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(results) == 160, ("clients still running after %.0fs" %
                                     (time.monotonic() - started))
        failures = [got for ok, got in results if not ok]
        assert failures == []

    def test_a_stopped_control_plane_answers_502_and_a_restarted_one_is_used_at_once(self):
        """A stopped control plane answers 502 and a restarted one is used at once."""
        self.cp.stop()
        assert self.via_nginx("GET", "/dynamic?upstream=zone_for_backends")[0] == 502
        assert self.via_nginx("GET", "/list", port=self.dyups_port)[0] == 502
        self.cp.start()
        listing = "/dynamic?upstream=zone_for_backends"
        assert self.via_nginx("GET", listing) == self.direct("GET", listing)

