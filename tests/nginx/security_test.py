"""Security end to end with Debian's nginx and the module: mutual TLS to the
control plane (certificates made at run time by openssl), the node identity
its certificate names, `nginx -t` on bad TLS directives, and the forwarding
locations (dynamic_upstream;) reaching a gateway that wants a bearer token
(xds_api_token_file).
"""

import http.client
import http.server
import os
import threading

import harness
import security_harness

TOKEN = "nginx-e2e-token-0123456789abcdef"


def request(port, method, path, headers=None, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace"), response.msg
    finally:
        conn.close()


class MutualTlsTest(harness.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.pki = security_harness.make_pki()

    def setUp(self):
        self.backends = self.track(harness.Backends(1)).start()
        self.cp = self.track(security_harness.SecureControlPlane(
            extra_flags=self.pki.server(client_ca=True))).start()

    def nginx(self, node, client, ca="ca.crt"):
        return self.track(harness.Nginx(
            http="""
            xds_server %s;
            xds_node_id %s;
            %s
            """ % (self.cp.xds_address, node, self.pki.module(client, ca)),
            server="""
            location / {
                proxy_pass http://$host;
            }
            """))

    def test_nginx_over_mutual_tls_applies_writes(self):
        nginx = self.nginx("node-1", "node-1")
        nginx.start()
        harness.wait_until(lambda: nginx.status_json()["connected"],
                           what="nginx to connect over mutual TLS")
        written = self.cp.put_upstream("secure", [self.backends.addresses[0]])
        self.assertEqual(written.acked_nodes, 1, written)
        harness.wait_until(lambda: nginx.status_json()["version"] == str(written.version),
                           what="version %d applied" % written.version)
        code, body = nginx.get("/", headers={"Host": "secure"})
        self.assertEqual(code, 200, body)
        self.assertIn("over mutual TLS", nginx.error_log())
        node = self.cp.node_status("node-1")
        self.assertTrue(node is not None and node.connected)

    def test_a_node_id_other_than_the_certificates_is_refused(self):
        nginx = self.nginx("node-9", "node-1")
        nginx.start()
        harness.wait_until(
            lambda: "does not match the client certificate's node \"node-1\"" in nginx.error_log(),
            what="the PERMISSION_DENIED in nginx's error log")
        self.assertIn('node.id "node-9"', nginx.error_log())
        self.assertIsNone(self.cp.node_status("node-9"))
        self.assertFalse(nginx.status_json()["connected"])

    def test_a_server_certificate_from_another_ca_is_refused(self):
        nginx = self.nginx("node-1", "node-1", ca="other-ca.crt")
        nginx.start()
        harness.wait_until(lambda: "is not reachable" in nginx.error_log(),
                           what="the agent to give up a connection attempt")
        self.assertIsNone(self.cp.node_status("node-1"))
        self.assertFalse(nginx.status_json()["connected"])

    def test_an_expired_client_certificate_is_refused(self):
        nginx = self.nginx("node-1", "expired-node-1")
        nginx.start()
        harness.wait_until(lambda: "is not reachable" in nginx.error_log(),
                           what="the agent to give up a connection attempt")
        self.assertIsNone(self.cp.node_status("node-1"))


class TlsConfigTest(harness.TestCase):
    """`nginx -t` names the directive and the value it refuses."""

    @classmethod
    def setUpClass(cls):
        cls.pki = security_harness.make_pki()

    def check(self, directives, *expected):
        nginx = self.track(harness.Nginx(http="xds_server 127.0.0.1:1;\nxds_node_id n1;\n" +
                                         directives))
        ok, output = nginx.test_config()
        if not expected:
            self.assertTrue(ok, output)
            return
        self.assertFalse(ok, output)
        for text in expected:
            self.assertIn(text, output)

    def test_good_tls_directives_pass(self):
        self.check(self.pki.module("node-1"))
        self.check(self.pki.module() + "xds_tls_server_name localhost;\n")

    def test_a_missing_file_is_named(self):
        missing = self.pki.path("nope.crt")
        self.check("xds_tls_ca %s;\n" % missing,
                   'invalid xds_tls_ca "%s": cannot open' % missing, "No such file")

    def test_bad_pem_is_named(self):
        key = self.pki.path("node-1.key")
        self.check("xds_tls_ca %s;\n" % key, 'invalid xds_tls_ca "%s": no PEM certificate' % key)
        crt = self.pki.path("node-1.crt")
        self.check("xds_tls_ca %s;\nxds_tls_cert %s;\nxds_tls_key %s;\n" %
                   (self.pki.path("ca.crt"), crt, crt),
                   'invalid xds_tls_key "%s": no unencrypted PEM private key' % crt)

    def test_a_key_of_another_certificate_is_refused(self):
        self.check("xds_tls_ca %s;\nxds_tls_cert %s;\nxds_tls_key %s;\n" %
                   (self.pki.path("ca.crt"), self.pki.path("node-1.crt"),
                    self.pki.path("cn-node-3.key")),
                   "invalid xds_tls_key", "does not match the certificate")

    def test_incomplete_tls_is_refused(self):
        self.check("xds_tls_ca %s;\nxds_tls_cert %s;\n" % (self.pki.path("ca.crt"),
                                                          self.pki.path("node-1.crt")),
                   '"xds_tls_cert" needs "xds_tls_key"')
        self.check("xds_tls_cert %s;\nxds_tls_key %s;\n" % (self.pki.path("node-1.crt"),
                                                           self.pki.path("node-1.key")),
                   '"xds_tls_cert" needs "xds_tls_ca"')

    def test_xds_api_token_file_must_hold_a_real_token(self):
        short = os.path.join(self.pki.dir, "short-token")
        with open(short, "w") as f:
            f.write("tiny\n")
        self.check("xds_api_token_file %s;\n" % short,
                   'invalid xds_api_token_file "%s"' % short, "at least 16 characters")
        self.check("xds_api_token_file %s;\n" % (short + ".missing"),
                   "invalid xds_api_token_file", "cannot open")


class TokenForwardTest(harness.TestCase):
    """dynamic_upstream; forwards to a token-protected gateway with the token
    of xds_api_token_file; the gateway itself refuses callers without it."""

    def setUp(self):
        self.cp = self.track(security_harness.SecureControlPlane(admin_token=TOKEN)).start()
        token_file = os.path.join(self.cp.dir, "nginx-token")
        with open(token_file, "w") as f:
            f.write(TOKEN + "\n")
        os.chmod(token_file, 0o600)   # read by the master, as a key would be
        self.nginx = self.track(harness.Nginx(
            http="""
            xds_server %s;
            xds_node_id token-node;
            xds_api_server %s;
            xds_api_token_file %s;
            """ % (self.cp.xds_address, self.cp.http_address, token_file),
            server="""
            location /dynamic { dynamic_upstream; }
            """))
        self.nginx.start()

    def test_the_gateway_wants_the_token_and_nginx_sends_it(self):
        code, body, msg = request(self.cp.http_port, "GET", "/dynamic?upstream=x")
        self.assertEqual(code, 401, body)
        self.assertIn("Bearer", msg.get("WWW-Authenticate", ""))
        # gRPC admin, with the token (the harness' stubs send it)
        self.cp.put_upstream("backends", ["127.0.0.1:6001"], fleet="default", zone="zone_b")
        code, body, _ = request(self.nginx.port, "GET", "/dynamic?upstream=zone_b")
        self.assertEqual(code, 200, body)
        self.assertIn("127.0.0.1:6001", body)
        # a client's own wrong token is replaced by nginx's
        code, body, _ = request(self.nginx.port, "GET", "/dynamic?upstream=zone_b",
                                headers={"Authorization": "Bearer wrong-wrong-wrong-wrong"})
        self.assertEqual(code, 200, body)


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers 200 and keeps the Authorization header of each request."""

    seen = []

    def do_GET(self):
        self.seen.append(self.headers.get("Authorization"))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class NoTokenForwardTest(harness.TestCase):
    """Without xds_api_token_file a client's own Authorization goes through."""

    def test_a_client_authorization_header_goes_through_unchanged(self):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        nginx = self.track(harness.Nginx(
            http="xds_api_server 127.0.0.1:%d;\n" % server.server_address[1],
            server="location /dynamic { dynamic_upstream; }\n"))
        nginx.start()
        _Recorder.seen.clear()
        code, _, _ = request(nginx.port, "GET", "/dynamic?upstream=z",
                             headers={"Authorization": "Bearer the-clients-own-token"})
        self.assertEqual(code, 200)
        code, _, _ = request(nginx.port, "GET", "/dynamic?upstream=z")
        self.assertEqual(code, 200)
        self.assertEqual(_Recorder.seen, ["Bearer the-clients-own-token", None])


if __name__ == "__main__":
    harness.main()
