"""A replica partitioned with its etcd member (network namespaces).

    nxha-PID-hub  br0 (no address, no process)
         vh0 ---------- vh1 ---------- vh2           (veth peers, bridge side)
          |              |              |
    nxha-PID-m0     nxha-PID-m1     nxha-PID-m2
    eth0 10.214.0.11  .12             .13
    etcd member n0   n1               n2             (client :2379, peer :2380)
    replica r0       r1               r2             (ADS on eth0; HTTP on loopback)

Each replica talks to its own member first. Cutting vh2 (`ip link set vh2
down` on the bridge side: packets vanish silently) leaves member n2 and
replica r2 on the minority side: r2 refuses writes naming etcd (409 for
dyups, 503 for /dynamic) and is not ready, keeps answering reads from its
last state; r0 and r1 go on writing on the quorum. After the link is back,
r2 is ready again and has every acknowledged write; versions were never
reused and each replica's answers went up in order.

Needs root and `ip netns`; skipped with the reason otherwise.
"""

import json
import os
import re
import subprocess

import pytest

from nginx_xds_testing import http_client
from nginx_xds_testing.controlplane import ControlPlane
from nginx_xds_testing.processes import (at_exit, in_netns, kill_group, make_dir, netns_argv,
                                         start_process)
from nginx_xds_testing.waits import wait_until

SUBNET = "10.214.0"
PREFIX = "nxha-%d-" % os.getpid()
MEMBERS = 3


def ip(*args, check=True):
    result = subprocess.run(["ip"] + list(args), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, timeout=30)
    if check and result.returncode != 0:
        raise AssertionError("ip %s: %s" % (" ".join(args),
                                            result.stdout.decode("utf-8", "replace")))
    return result.stdout.decode("utf-8", "replace")


def netns_unavailable():
    """Why `ip netns` cannot be used here, or None."""
    if os.geteuid() != 0:
        return "needs root for ip netns (running as uid %d)" % os.geteuid()
    probe = PREFIX + "probe"
    result = subprocess.run(["ip", "netns", "add", probe], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, timeout=30)
    if result.returncode != 0:
        return "ip netns add failed: %s" % result.stdout.decode("utf-8", "replace").strip()
    ip("netns", "del", probe, check=False)
    return None


def address(i):
    return "%s.%d" % (SUBNET, 11 + i)


class Topology:

    def __init__(self):
        self.hub = PREFIX + "hub"
        self.members = [PREFIX + "m%d" % i for i in range(MEMBERS)]
        self.created = []

    def build(self):
        at_exit(self.destroy)
        for line in ip("netns", "list").splitlines():
            m = re.match(r"^(nxha-(\d+)-\S+)", line)
            if m and not os.path.exists("/proc/%s" % m.group(2)):
                ip("netns", "del", m.group(1), check=False)
        for ns in [self.hub] + self.members:
            ip("netns", "add", ns)
            self.created.append(ns)
            ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
        ip("-n", self.hub, "link", "set", "br0", "up")
        for i, ns in enumerate(self.members):
            ip("-n", self.hub, "link", "add", "vh%d" % i, "type", "veth", "peer", "name",
               "eth0", "netns", ns)
            ip("-n", self.hub, "link", "set", "vh%d" % i, "master", "br0")
            ip("-n", self.hub, "link", "set", "vh%d" % i, "up")
            ip("-n", ns, "addr", "add", address(i) + "/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
        return self

    def cut(self, i):
        ip("-n", self.hub, "link", "set", "vh%d" % i, "down")

    def restore(self, i):
        ip("-n", self.hub, "link", "set", "vh%d" % i, "up")

    def destroy(self):
        for ns in reversed(self.created):
            ip("netns", "del", ns, check=False)
        self.created = []


class NetnsEtcd:
    """Member i of the cluster, in namespace i, on its eth0 address."""

    def __init__(self, topo):
        self.topo = topo
        self.dir = make_dir("etcd-netns")
        self.processes = []

    def start(self):
        initial = ",".join("n%d=http://%s:2380" % (i, address(i)) for i in range(MEMBERS))
        for i, ns in enumerate(self.topo.members):
            client = "http://%s:2379" % address(i)
            peer = "http://%s:2380" % address(i)
            log = open(os.path.join(self.dir, "n%d.log" % i), "ab")
            self.processes.append(start_process(netns_argv(ns) + [
                "/usr/bin/etcd", "--name", "n%d" % i, "--data-dir",
                os.path.join(self.dir, "n%d" % i),
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", initial, "--initial-cluster-token", self.dir,
                "--heartbeat-interval", "50", "--election-timeout", "500",
            ], stdout=log, stderr=log, stdin=subprocess.DEVNULL))
            log.close()
        return self

    def cleanup(self):
        for process in self.processes:
            kill_group(process)


@pytest.fixture(name="topology")
def fixture_topology():
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    topo = Topology()
    try:
        yield topo.build()
    finally:
        topo.destroy()


class PartitionTest:

    @pytest.fixture(autouse=True)
    def set_up(self, topology, processes):
        self.topo = topology
        processes.track(NetnsEtcd(topology).start())
        self.cps = []
        for i, ns in enumerate(topology.members):
            endpoints = ["http://%s:2379" % address((i + k) % MEMBERS) for k in range(MEMBERS)]
            cp = processes.track(ControlPlane(netns=ns, xds_host=address(i), extra_args=[
                "--store=etcd", "--etcd_endpoints=%s" % ",".join(endpoints),
                "--replica_id=r%d" % i, "--etcd_timeout=2s", "--node_lease_ttl=5s",
                "--ack_timeout=1s"]))
            self.cps.append(cp)
        for cp in self.cps:
            # A replica exits when etcd cannot be loaded yet: started again, as
            # its supervisor would, until the cluster has its leader.
            wait_until(lambda cp=cp: self.start_replica(cp), timeout=60.0,
                       what="replica started on etcd")
        for i in range(MEMBERS):
            wait_until(lambda i=i: self.http(i, "GET", "/readyz").status == 200,
                       timeout=30.0, what="replica %d ready" % i)

    @staticmethod
    def start_replica(cp):
        try:
            cp.start()
            return True
        except AssertionError:
            cp.process = None
            return False

    def http(self, i, method, path, body=None, timeout=10.0):
        return in_netns(self.topo.members[i], http_client.request, self.cps[i].http_port,
                        method, path, body=body, timeout=timeout)

    def write(self, i, server):
        """dyups POST of upstream `app` through replica i; its version, or the refusal."""
        r = self.http(i, "POST", "/upstream/app", body="server %s;" % server)
        return int(r.headers.get("X-Xds-Version") or 0) if r.status == 200 else r

    def test_minority_refuses_writes_serves_reads_and_catches_up(self):
        acked = []  # (version, server) of every acknowledged write, in time order
        for i in range(MEMBERS):
            server = "10.0.0.%d:80" % (i + 1)
            version = self.write(i, server)
            assert isinstance(version, int) and version > 0, version
            acked.append((version, server))

        self.topo.cut(2)
        # Writes on the majority side go on (the leader may have been n2:
        # wait for the new election).
        for k in range(10):
            i = k % 2
            server = "10.0.1.%d:80" % (k + 1)
            version = wait_until(lambda i=i, server=server: (
                lambda v: v if isinstance(v, int) else None)(self.write(i, server)),
                timeout=20.0, what="a write on the quorum")
            acked.append((version, server))
        # The minority replica: refuses, not ready, still reads its last state.
        refused = self.write(2, "10.0.2.1:80")
        assert not isinstance(refused, int) and refused.status == 409, refused
        assert "etcd" in refused.body, refused
        ready = wait_until(lambda: (lambda r: r if r.status == 503 else None)(
            self.http(2, "GET", "/readyz")), timeout=20.0, what="r2 not ready")
        assert "etcd" in ready.body, ready
        assert self.http(2, "GET", "/livez").status == 200
        stale = self.http(2, "GET", "/upstream/app")
        assert stale.status == 200 and acked[2][1] in stale.body, stale

        self.topo.restore(2)
        wait_until(lambda: self.http(2, "GET", "/readyz").status == 200, timeout=30.0,
                   what="r2 ready again")
        newest = acked[-1][1]
        for i in range(MEMBERS):
            wait_until(lambda i=i: newest in self.http(i, "GET", "/upstream/app").body,
                       timeout=20.0, what="replica %d has the newest write" % i)
        # r2 writes again, after everything the others wrote.
        version = self.write(2, "10.0.3.1:80")
        assert isinstance(version, int), version
        acked.append((version, "10.0.3.1:80"))
        versions = [v for v, _ in acked]
        assert len(set(versions)) == len(versions), "a version was reused: %s" % versions
        assert versions == sorted(versions), "versions went back: %s" % versions
        # Fleet status (every fleet's version) agrees on every replica once
        # the others' watches brought r2's write in (a write waits for nodes,
        # not for the other replicas' caches).
        expected = [{"name": "default", "version": version}]
        for i in range(MEMBERS):
            wait_until(lambda i=i: json.loads(self.http(i, "GET", "/fleet/status?format=json")
                                              .body)["fleets"] == expected,
                       timeout=20.0, what="replica %d's fleet status at version %d" % (i, version))
