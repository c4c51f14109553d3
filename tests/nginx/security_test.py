"""Security end to end with Debian's nginx and the module: mutual TLS to the
control plane (certificates made at run time by openssl), the node identity
its certificate names, `nginx -t` on bad TLS directives, and the forwarding
locations (dynamic_upstream;) reaching a gateway that wants a bearer token
(xds_api_token_file).
"""

import http.server
import os
import threading

import pytest

from nginx_xds_testing import http_client
from nginx_xds_testing.nginx import Nginx
from nginx_xds_testing.waits import wait_until
import security_pki

TOKEN = "nginx-e2e-token-0123456789abcdef"


@pytest.fixture(scope="class", name="pki")
def fixture_pki():
    """A fresh PKI made by openssl, shared by the tests of one class."""
    return security_pki.make_pki()


class MutualTlsTest:

    @pytest.fixture(autouse=True)
    def set_up(self, pki, processes, make_backends, make_nginx):
        self.pki = pki
        self.make_nginx = make_nginx
        self.backends = make_backends(1)
        self.cp = processes.track(security_pki.SecureControlPlane(
            extra_flags=self.pki.server(client_ca=True))).start()

    def nginx(self, node, client, ca="ca.crt"):
        return self.make_nginx(
            http="""
            xds_server %s;
            xds_node_id %s;
            %s
            """ % (self.cp.xds_address, node, self.pki.module(client, ca)),
            server="""
            location / {
                proxy_pass http://$host;
            }
            """)

    def test_nginx_over_mutual_tls_applies_writes(self):
        """Nginx over mutual tls applies writes."""
        nginx = self.nginx("node-1", "node-1")
        nginx.start()
        wait_until(lambda: nginx.status_json()["connected"],
                   what="nginx to connect over mutual TLS")
        written = self.cp.put_upstream("secure", [self.backends.addresses[0]])
        assert written.acked_nodes == 1, written
        wait_until(lambda: nginx.status_json()["version"] == str(written.version),
                   what="version %d applied" % written.version)
        code, _, body = nginx.get("/", headers={"Host": "secure"})
        assert code == 200, body
        assert "over mutual TLS" in nginx.error_log()
        node = self.cp.node_status("node-1")
        assert node is not None and node.connected

    def test_a_node_id_other_than_the_certificates_is_refused(self):
        """A node id other than the certificates is refused."""
        nginx = self.nginx("node-9", "node-1")
        nginx.start()
        wait_until(
            lambda: "does not match the client certificate's node \"node-1\"" in nginx.error_log(),
            what="the PERMISSION_DENIED in nginx's error log")
        assert 'node.id "node-9"' in nginx.error_log()
        assert self.cp.node_status("node-9") is None
        assert not nginx.status_json()["connected"]

    def test_a_server_certificate_from_another_ca_is_refused(self):
        """A server certificate from another ca is refused."""
        nginx = self.nginx("node-1", "node-1", ca="other-ca.crt")
        nginx.start()
        wait_until(lambda: "is not reachable" in nginx.error_log(),
                   what="the agent to give up a connection attempt")
        assert self.cp.node_status("node-1") is None
        assert not nginx.status_json()["connected"]

    def test_an_expired_client_certificate_is_refused(self):
        """An expired client certificate is refused."""
        nginx = self.nginx("node-1", "expired-node-1")
        nginx.start()
        wait_until(lambda: "is not reachable" in nginx.error_log(),
                   what="the agent to give up a connection attempt")
        assert self.cp.node_status("node-1") is None


class TlsConfigTest:
    """`nginx -t` names the directive and the value it refuses."""

    @pytest.fixture(autouse=True)
    def set_up(self, pki, make_nginx):
        self.pki = pki
        self.make_nginx = make_nginx

    def check(self, directives, *expected):
        nginx = self.make_nginx(http="xds_server 127.0.0.1:1;\nxds_node_id n1;\n" + directives)
        ok, output = nginx.test_config()
        if not expected:
            assert ok, output
            return
        assert not ok, output
        for text in expected:
            assert text in output

    def test_good_tls_directives_pass(self):
        """Good tls directives pass."""
        self.check(self.pki.module("node-1"))
        self.check(self.pki.module() + "xds_tls_server_name localhost;\n")

    def test_a_missing_file_is_named(self):
        """A missing file is named."""
        missing = self.pki.path("nope.crt")
        self.check("xds_tls_ca %s;\n" % missing,
                   'invalid xds_tls_ca "%s": cannot open' % missing, "No such file")

    def test_bad_pem_is_named(self):
        """Bad pem is named."""
        key = self.pki.path("node-1.key")
        self.check("xds_tls_ca %s;\n" % key, 'invalid xds_tls_ca "%s": no PEM certificate' % key)
        crt = self.pki.path("node-1.crt")
        self.check("xds_tls_ca %s;\nxds_tls_cert %s;\nxds_tls_key %s;\n" %
                   (self.pki.path("ca.crt"), crt, crt),
                   'invalid xds_tls_key "%s": no unencrypted PEM private key' % crt)

    def test_a_key_of_another_certificate_is_refused(self):
        """A key of another certificate is refused."""
        self.check("xds_tls_ca %s;\nxds_tls_cert %s;\nxds_tls_key %s;\n" %
                   (self.pki.path("ca.crt"), self.pki.path("node-1.crt"),
                    self.pki.path("cn-node-3.key")),
                   "invalid xds_tls_key", "does not match the certificate")

    def test_incomplete_tls_is_refused(self):
        """Incomplete tls is refused."""
        self.check("xds_tls_ca %s;\nxds_tls_cert %s;\n" % (self.pki.path("ca.crt"),
                                                          self.pki.path("node-1.crt")),
                   '"xds_tls_cert" needs "xds_tls_key"')
        self.check("xds_tls_cert %s;\nxds_tls_key %s;\n" % (self.pki.path("node-1.crt"),
                                                           self.pki.path("node-1.key")),
                   '"xds_tls_cert" needs "xds_tls_ca"')

    def test_xds_api_token_file_must_hold_a_real_token(self):
        """xds_api_token_file must hold a real token."""
        short = os.path.join(self.pki.dir, "short-token")
        with open(short, "w") as f:
            f.write("tiny\n")
        self.check("xds_api_token_file %s;\n" % short,
                   'invalid xds_api_token_file "%s"' % short, "at least 16 characters")
        self.check("xds_api_token_file %s;\n" % (short + ".missing"),
                   "invalid xds_api_token_file", "cannot open")


class TokenForwardTest:
    """dynamic_upstream; forwards to a token-protected gateway with the token
    of xds_api_token_file; the gateway itself refuses callers without it."""

    @pytest.fixture(autouse=True)
    def set_up(self, processes):
        self.cp = processes.track(security_pki.SecureControlPlane(admin_token=TOKEN)).start()
        token_file = os.path.join(self.cp.dir, "nginx-token")
        with open(token_file, "w") as f:
            f.write(TOKEN + "\n")
        os.chmod(token_file, 0o600)   # read by the master, as a key would be
        self.nginx = processes.track(Nginx(
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
        """The gateway wants the token and nginx sends it."""
        code, msg, body = http_client.request(self.cp.http_port, "GET", "/dynamic?upstream=x")
        assert code == 401, body
        assert "Bearer" in msg.get("WWW-Authenticate", "")
        # gRPC admin, with the token (the harness' stubs send it)
        self.cp.put_upstream("backends", ["127.0.0.1:6001"], fleet="default", zone="zone_b")
        code, _, body = self.nginx.request("GET", "/dynamic?upstream=zone_b")
        assert code == 200, body
        assert "127.0.0.1:6001" in body
        # a client's own wrong token is replaced by nginx's
        code, _, body = self.nginx.request(
            "GET", "/dynamic?upstream=zone_b",
            headers={"Authorization": "Bearer wrong-wrong-wrong-wrong"})
        assert code == 200, body


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


class NoTokenForwardTest:
    """Without xds_api_token_file a client's own Authorization goes through."""

    def test_a_client_authorization_header_goes_through_unchanged(self, processes, request):
        """A client authorization header goes through unchanged."""
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        request.addfinalizer(server.server_close)
        request.addfinalizer(server.shutdown)
        nginx = processes.track(Nginx(
            http="xds_api_server 127.0.0.1:%d;\n" % server.server_address[1],
            server="location /dynamic { dynamic_upstream; }\n"))
        nginx.start()
        _Recorder.seen.clear()
        code, _, _ = nginx.request("GET", "/dynamic?upstream=z",
                                   headers={"Authorization": "Bearer the-clients-own-token"})
        assert code == 200
        code, _, _ = nginx.request("GET", "/dynamic?upstream=z")
        assert code == 200
        assert _Recorder.seen == ["Bearer the-clients-own-token", None]

