"""The control plane process (//controlplane:nginx-xds-controlplane) and its
management API over gRPC."""

import os
import re
import select
import signal
import subprocess
import time

import grpc

from nginx_xds.v1 import management_pb2
from nginx_xds.v1 import management_pb2_grpc
from nginx_xds.v1 import upstream_pb2
from nginx_xds_testing import paths
from nginx_xds_testing.processes import kill_group, make_dir, netns_argv, read_file, start_process


class ControlPlane:
    """//controlplane:nginx-xds-controlplane on 127.0.0.1, plus gRPC helpers.

    start() picks ports (0) unless given, reads `xds_port=`/`admin_port=`
    (and `http_port=`, the HTTP gateway's) from its stdout. stop() and
    start() again keep data_dir and ports, so a restart is
    `cp.stop(); cp.start()`.

    netns="NAME" runs it inside that network namespace, with ADS on
    xds_host (admin and HTTP stay on the namespace's loopback); then there
    are no gRPC stubs here (use the HTTP gateway through in_netns).
    extra_args are appended to its command line.
    """

    def __init__(self, binary=None, data_dir=None, xds_port=0, admin_port=0, http_port=0,
                 netns=None, xds_host="127.0.0.1", extra_args=()):
        self.binary = binary or paths.CONTROLPLANE
        self.dir = data_dir or make_dir("controlplane")
        self.xds_port = xds_port
        self.admin_port = admin_port
        self.http_port = http_port
        self.netns = netns
        self.xds_host = xds_host
        self.extra_args = list(extra_args)
        self.process = None
        self.channel = None
        self.upstreams = None
        self.fleet = None
        self.log_path = os.path.join(self.dir, "controlplane.log")

    @property
    def xds_address(self):
        return "%s:%d" % (self.xds_host, self.xds_port)

    @property
    def http_address(self):
        """The HTTP gateway's host:port (/dynamic, dyups, /fleet/status)."""
        return "127.0.0.1:%d" % self.http_port

    def start(self, timeout=20.0):
        assert self.process is None, "control plane already running"
        argv = netns_argv(self.netns) + [
            self.binary,
            "--xds_listen=%s:%d" % (self.xds_host, self.xds_port),
            "--admin_listen=127.0.0.1:%d" % self.admin_port,
            "--http_listen=127.0.0.1:%d" % self.http_port,
            "--data_dir=%s" % os.path.join(self.dir, "data"),
        ] + self.extra_args
        log = open(self.log_path, "ab")
        try:
            self.process = start_process(argv, stdout=subprocess.PIPE, stderr=log,
                                         stdin=subprocess.DEVNULL)
        finally:
            log.close()
        ports = {}
        deadline = time.monotonic() + timeout
        buffered = b""
        while not {"xds_port", "admin_port", "http_port"} <= set(ports):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._fail("did not print its ports in %.0fs" % timeout)
            ready, _, _ = select.select([self.process.stdout], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self.process.stdout.fileno(), 4096)
            if not chunk:
                self._fail("exited before printing its ports")
            buffered += chunk
            for line in buffered.decode("utf-8", "replace").splitlines():
                m = re.match(r"^(xds_port|admin_port|http_port)=(\d+)$", line.strip())
                if m:
                    ports[m.group(1)] = int(m.group(2))
        self.xds_port = ports["xds_port"]
        self.admin_port = ports["admin_port"]
        self.http_port = ports["http_port"]
        if self.netns:
            return self
        self.channel = grpc.insecure_channel("127.0.0.1:%d" % self.admin_port)
        grpc.channel_ready_future(self.channel).result(timeout=timeout)
        self.upstreams = management_pb2_grpc.UpstreamServiceStub(self.channel)
        self.fleet = management_pb2_grpc.FleetServiceStub(self.channel)
        return self

    def _fail(self, why):
        if self.process is not None:
            kill_group(self.process)
            self.process = None
        raise AssertionError("control plane %s; its log:\n%s" % (why, read_file(self.log_path)))

    def stop(self, timeout=10.0):
        """SIGTERM, then SIGKILL if it does not exit in `timeout`."""
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.process is None:
            return
        try:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        finally:
            if self.process.stdout:
                self.process.stdout.close()
            kill_group(self.process)
            self.process = None

    def kill(self):
        """SIGKILL, no chance to clean up."""
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.process is not None:
            if self.process.stdout:
                self.process.stdout.close()
            kill_group(self.process)
            self.process = None

    def log(self):
        return read_file(self.log_path)

    # -- management API ----------------------------------------------------

    @staticmethod
    def server(address, **fields):
        """An nginx_xds.v1.Server: server("127.0.0.1:80", weight=2, backup=True)."""
        return upstream_pb2.Server(address=address, **fields)

    @classmethod
    def upstream(cls, name, servers, **fields):
        """An nginx_xds.v1.Upstream; `servers` are addresses or Server messages."""
        return upstream_pb2.Upstream(
            name=name,
            servers=[s if isinstance(s, upstream_pb2.Server) else cls.server(s) for s in servers],
            **fields)

    def put_upstream(self, name, servers, fleet="", timeout=15.0, **fields):
        """Creates or replaces upstream `name`; returns the WriteResponse."""
        return self.upstreams.PutUpstream(
            management_pb2.PutUpstreamRequest(fleet=fleet,
                                              upstream=self.upstream(name, servers, **fields)),
            timeout=timeout)

    def delete_upstream(self, name, fleet="", timeout=15.0):
        return self.upstreams.DeleteUpstream(
            management_pb2.DeleteUpstreamRequest(fleet=fleet, name=name), timeout=timeout)

    def get_upstream(self, name, fleet="", timeout=15.0):
        return self.upstreams.GetUpstream(
            management_pb2.GetUpstreamRequest(fleet=fleet, name=name), timeout=timeout)

    def list_upstreams(self, fleet="", timeout=15.0):
        return self.upstreams.ListUpstreams(
            management_pb2.ListUpstreamsRequest(fleet=fleet), timeout=timeout)

    def add_server(self, upstream, address, fleet="", timeout=15.0, **fields):
        return self.upstreams.AddServer(
            management_pb2.AddServerRequest(fleet=fleet, upstream=upstream,
                                            server=self.server(address, **fields)),
            timeout=timeout)

    def remove_server(self, upstream, address, fleet="", timeout=15.0):
        return self.upstreams.RemoveServer(
            management_pb2.RemoveServerRequest(fleet=fleet, upstream=upstream, address=address),
            timeout=timeout)

    def update_server(self, upstream, address, fleet="", timeout=15.0, **fields):
        """Changes only the given fields (weight=, down=, ...) of one server."""
        return self.upstreams.UpdateServer(
            management_pb2.UpdateServerRequest(fleet=fleet, upstream=upstream, address=address,
                                               **fields),
            timeout=timeout)

    def fleet_status(self, fleet="", timeout=15.0):
        """nginx_xds.v1.FleetStatus of `fleet` (every fleet when empty)."""
        return self.fleet.GetFleetStatus(management_pb2.GetFleetStatusRequest(fleet=fleet),
                                         timeout=timeout)

    def node_status(self, node_id, fleet=""):
        """The NodeStatus of `node_id`, or None when the control plane knows no such node."""
        for node in self.fleet_status(fleet).nodes:
            if node.id == node_id:
                return node
        return None
