"""The control plane on an etcd that wants TLS with client certificates and
user authentication (etcd's --client-cert-auth and `etcdctl auth enable`):
with the CA, the client certificate and the user's password it writes and
is ready; with a wrong password or no client certificate it refuses to
start, naming etcd.
"""

import os
import subprocess

import pytest

from nginx_xds_testing import http_client
from nginx_xds_testing.controlplane import ControlPlane
from nginx_xds_testing.processes import free_port, kill_group, make_dir, start_process
from nginx_xds_testing.waits import wait_until

CERTS_SCRIPT = os.path.join("tests", "certs", "make_test_certs.sh")


class EtcdTlsTest:

    @pytest.fixture(autouse=True)
    def set_up(self, processes):
        self.dir = make_dir("etcd-tls")
        self.pki = os.path.join(self.dir, "pki")
        subprocess.run(["sh", CERTS_SCRIPT, self.pki], check=True, stdout=subprocess.DEVNULL)
        port, peer = free_port(), free_port()
        self.url = "https://127.0.0.1:%d" % port
        peer_url = "http://127.0.0.1:%d" % peer
        log = open(os.path.join(self.dir, "etcd.log"), "ab")
        self.etcd = start_process([
            "/usr/bin/etcd", "--name", "n0", "--data-dir", os.path.join(self.dir, "data"),
            "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", "n0=" + peer_url,
            "--cert-file", self.pem("server.crt"), "--key-file", self.pem("server.key"),
            "--trusted-ca-file", self.pem("ca.crt"), "--client-cert-auth",
        ], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        wait_until(lambda: self.etcdctl("endpoint", "health").returncode == 0, timeout=30.0,
                   what="etcd healthy over TLS")
        for command in (["user", "add", "root:s3cret-pw"], ["auth", "enable"]):
            done = self.etcdctl(*command)
            assert done.returncode == 0, done.stdout
        self.password = os.path.join(self.dir, "password")
        with open(self.password, "w") as f:
            f.write("s3cret-pw\n")
        yield
        kill_group(self.etcd)

    def pem(self, name):
        return os.path.join(self.pki, name)

    def etcdctl(self, *args):
        return subprocess.run(
            ["/usr/bin/etcdctl", "--endpoints=" + self.url, "--cacert", self.pem("ca.crt"),
             "--cert", self.pem("node-1.crt"), "--key", self.pem("node-1.key")] + list(args),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=dict(os.environ, ETCDCTL_API="3"), timeout=30)

    def control_plane(self, password_file=None, client_cert=True):
        args = ["--store=etcd", "--etcd_endpoints=" + self.url, "--etcd_timeout=3s",
                "--etcd_ca_file=" + self.pem("ca.crt"), "--etcd_user=root",
                "--etcd_password_file=" + (password_file or self.password)]
        if client_cert:
            args += ["--etcd_cert_file=" + self.pem("node-1.crt"),
                     "--etcd_key_file=" + self.pem("node-1.key")]
        return ControlPlane(extra_args=args)

    def test_tls_client_certificate_and_user(self, processes):
        cp = processes.track(self.control_plane()).start()
        written = cp.put_upstream("app", ["10.0.0.1:80"])
        assert written.version == 1, written
        assert http_client.request(cp.http_port, "GET", "/readyz").status == 200
        # What it wrote is in etcd, readable by the user only.
        listed = self.etcdctl("--user=root:s3cret-pw", "get", "/nginx-xds/version",
                              "--print-value-only")
        assert listed.stdout.strip() == "1", listed.stdout

    def test_wrong_password_refused_naming_etcd(self, processes):
        wrong = os.path.join(self.dir, "wrong")
        with open(wrong, "w") as f:
            f.write("nope\n")
        cp = processes.track(self.control_plane(password_file=wrong))
        with pytest.raises(AssertionError, match=r'etcd at 127\.0\.0\.1:\d+: authenticate as "root"'):
            cp.start()

    def test_no_client_certificate_refused_naming_etcd(self, processes):
        cp = processes.track(self.control_plane(client_cert=False))
        with pytest.raises(AssertionError, match=r"etcd"):
            cp.start()
