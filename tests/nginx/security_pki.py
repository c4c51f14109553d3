"""For security_test.py: a test PKI, a control plane with TLS on its ADS port
and a bearer token on its admin APIs.

    pki = security_pki.make_pki()              # openssl, at run time
    cp = security_pki.SecureControlPlane(
        xds_tls=pki.server(client_ca=True), admin_token="...").start()
    cp.put_upstream(...)                        # gRPC calls carry the token

The control plane's extra flags go through a one-line wrapper script in
place of its binary, since ControlPlane builds its command line
itself.
"""

import os
import subprocess

import grpc

from nginx_xds.v1 import management_pb2_grpc
from nginx_xds_testing.controlplane import ControlPlane
from nginx_xds_testing.processes import make_dir

MAKE_CERTS = "tests/certs/make_test_certs.sh"


class Pki:
    """The files of tests/certs/make_test_certs.sh in `dir` (see there)."""

    def __init__(self, directory):
        self.dir = directory

    def path(self, name):
        return os.path.join(self.dir, name)

    def server(self, client_ca=False, name="server"):
        """The control plane's --xds_tls_* flags for certificate `name`."""
        flags = ["--xds_tls_cert=%s" % self.path(name + ".crt"),
                 "--xds_tls_key=%s" % self.path(name + ".key")]
        if client_ca:
            flags.append("--xds_tls_client_ca=%s" % self.path("ca.crt"))
        return flags

    def module(self, client=None, ca="ca.crt"):
        """The module's xds_tls_* directives; `client` names a client cert (node-1, ...)."""
        conf = "xds_tls_ca %s;\n" % self.path(ca)
        if client:
            conf += "xds_tls_cert %s;\nxds_tls_key %s;\n" % (self.path(client + ".crt"),
                                                            self.path(client + ".key"))
        return conf


def make_pki():
    """A fresh PKI in a directory nginx's workers can read (0644 files)."""
    directory = make_dir("pki")
    result = subprocess.run(["sh", MAKE_CERTS, directory], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, timeout=120)
    if result.returncode != 0:
        raise AssertionError("make_test_certs.sh failed:\n%s" %
                             result.stdout.decode("utf-8", "replace"))
    return Pki(directory)


class _TokenInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds `authorization: Bearer <token>` to every call."""

    def __init__(self, token):
        self.metadata = ("authorization", "Bearer %s" % token)

    def _with_token(self, details):
        metadata = list(details.metadata or []) + [self.metadata]
        return details._replace(metadata=metadata)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._with_token(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._with_token(details), request)


class SecureControlPlane(ControlPlane):
    """ControlPlane with `extra_flags` (e.g. Pki.server()) and, with
    `admin_token`, a token file (--admin_token_file) its own gRPC stubs send."""

    def __init__(self, extra_flags=(), admin_token=None, **kwargs):
        super().__init__(**kwargs)
        self.admin_token = admin_token
        flags = list(extra_flags)
        if admin_token is not None:
            self.token_file = os.path.join(self.dir, "admin-token")
            with open(self.token_file, "w") as f:
                f.write(admin_token + "\n")
            flags.append("--admin_token_file=%s" % self.token_file)
        self.wrapper = os.path.join(self.dir, "controlplane.sh")
        with open(self.wrapper, "w") as f:
            f.write('#!/bin/sh\nexec %s "$@" %s\n' %
                    (self.binary, " ".join("'%s'" % flag for flag in flags)))
        os.chmod(self.wrapper, 0o755)
        self.binary = self.wrapper

    def start(self, timeout=20.0):
        super().start(timeout)
        if self.admin_token is not None and self.channel is not None:
            channel = grpc.intercept_channel(self.channel, _TokenInterceptor(self.admin_token))
            self.upstreams = management_pb2_grpc.UpstreamServiceStub(channel)
            self.fleet = management_pb2_grpc.FleetServiceStub(channel)
        return self
