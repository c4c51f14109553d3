"""Multi-host for real: the control plane and three nginx hosts, each in its
own network namespace with its own address, joined by veth pairs to a bridge.

    nxds-PID-cp   br0 10.213.0.1/24   control plane: ADS on 10.213.0.1,
                   |                  HTTP gateway and admin on its loopback
         vh1 ------+------ vh2 ------ vh3        (veth peers, bridge side)
          |                 |          |
    nxds-PID-h1       nxds-PID-h2   nxds-PID-h3
    eth0 10.213.0.11  .12           .13          nginx + module on :8080,
                                                 echo backends on 127.0.0.1

Every nginx proxies upstream `app` (zone app_zone) to echo backends on its
own loopback (7001..7003), which answer "hN-PORT": the body says which host
and which backend served. Traffic goes from the control plane's namespace
over the bridge to each host's address, as a client on another machine.

Scenarios: a change through the HTTP API (both seeds' APIs, with
X-Xds-Fleet) reaches every host's traffic; a cut link (below); a staged
rollout with one host as the canary, then promoted.

Nothing is created in the root namespace: the bridge and both ends of every
veth are made inside the test's namespaces (10.213.0.0/24 exists only
there). Namespace names carry the test's pid; processes, namespaces and
veths are removed on success, failure and SIGTERM (at_exit), and
namespaces left by a killed earlier run (its pid gone) are removed first.

A cut is `ip link set vhN down` on the bridge side: the host's eth0 stays
up but loses carrier, so packets vanish silently both ways (no RST, no
ICMP), the hard case for noticing a dead peer.

Needs root and `ip netns`; skipped with the reason otherwise.
"""

import json
import os
import re
import subprocess
import sys
import time

import pytest

from nginx_xds_testing import http_client
from nginx_xds_testing.controlplane import ControlPlane
from nginx_xds_testing.nginx import Backends, Nginx
from nginx_xds_testing.processes import at_exit, in_netns
from nginx_xds_testing.waits import wait_until

SUBNET = "10.213.0"
CP_ADDRESS = SUBNET + ".1"
NGINX_PORT = 8080
BACKEND_PORTS = (7001, 7002, 7003)
FLEET = "netns"
ZONE = "app_zone"
HOSTS = 3
# The agent reconnects with backoff 0.5-30 s; the control plane pings agents
# every 10 s (20 s to notice a dead one): every wait is bounded by this.
CONVERGE_TIMEOUT = 60.0
PREFIX = "nxds-%d-" % os.getpid()


def log(msg):
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


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
    try:
        result = subprocess.run(["ip", "netns", "add", probe], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        return "ip netns is unavailable: %s" % e
    if result.returncode != 0:
        return "ip netns add failed: %s" % result.stdout.decode("utf-8", "replace").strip()
    subprocess.run(["ip", "netns", "del", probe], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=30)
    return None


def remove_stale_namespaces():
    """Deletes nxds-PID-* namespaces whose test process is gone (a SIGKILLed run)."""
    for line in ip("netns", "list").splitlines():
        m = re.match(r"^(nxds-(\d+)-\S+)", line)
        if m and not os.path.exists("/proc/%s" % m.group(2)):
            log("removing stale namespace %s" % m.group(1))
            ip("netns", "del", m.group(1), check=False)


class Topology:
    """The namespaces, the bridge and the veths (see the module docstring)."""

    def __init__(self, hosts=HOSTS):
        self.cp = PREFIX + "cp"
        self.hosts = [PREFIX + "h%d" % (i + 1) for i in range(hosts)]
        self.created = []
        self.destroyed = False

    @staticmethod
    def address(i):
        """Host i's (0-based) address."""
        return "%s.%d" % (SUBNET, 11 + i)

    @staticmethod
    def veth(i):
        """Host i's veth on the bridge side (in the control plane's namespace)."""
        return "vh%d" % (i + 1)

    def build(self):
        at_exit(self.destroy)  # SIGTERM: after every process is killed
        for ns in [self.cp] + self.hosts:
            ip("netns", "add", ns)
            self.created.append(ns)
            ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", self.cp, "link", "add", "br0", "type", "bridge")
        ip("-n", self.cp, "addr", "add", CP_ADDRESS + "/24", "dev", "br0")
        ip("-n", self.cp, "link", "set", "br0", "up")
        for i, ns in enumerate(self.hosts):
            # Both ends are born inside our namespaces, never in the root one.
            ip("-n", self.cp, "link", "add", self.veth(i), "type", "veth", "peer", "name", "eth0",
               "netns", ns)
            ip("-n", self.cp, "link", "set", self.veth(i), "master", "br0")
            ip("-n", self.cp, "link", "set", self.veth(i), "up")
            ip("-n", ns, "addr", "add", self.address(i) + "/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
        return self

    def cut(self, i):
        ip("-n", self.cp, "link", "set", self.veth(i), "down")

    def restore(self, i):
        ip("-n", self.cp, "link", "set", self.veth(i), "up")

    def destroy(self):
        """Deletes the namespaces (their veths and bridge go with them).

        Call once nothing runs inside them any more.
        """
        if self.destroyed:
            return
        self.destroyed = True
        for ns in reversed(self.created):
            ip("netns", "del", ns, check=False)
        left = [ns for ns in self.created if ns in ip("netns", "list", check=False)]
        if left:
            raise AssertionError("namespaces left behind: %s" % left)


class HostBackends(Backends):
    """Echo backends on a host's loopback answering "HOST-PORT"."""

    def __init__(self, label, netns):
        super().__init__(ports=BACKEND_PORTS, netns=netns)
        self.label = label

    def render(self):
        return super().render().replace("{ echo ", "{ echo %s-" % self.label)


@pytest.fixture(name="topology")
def fixture_topology():
    """The namespaces, bridge and veths; skips without root or `ip netns`.

    Requested before `processes`, so that it is torn down after every
    process in it is gone."""
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    remove_stale_namespaces()
    topo = Topology()
    try:
        topo.build()
        yield topo
    finally:
        topo.destroy()


class MultiHostTest:
    """One control plane and HOSTS nginx hosts, each in its own namespace."""

    @pytest.fixture(autouse=True)
    def set_up(self, topology, processes):
        self.topo = topology
        self.cp = processes.track(ControlPlane(netns=self.topo.cp, xds_host=CP_ADDRESS,
                                                  extra_args=["--ack_timeout=3s"]))
        self.cp.start()
        self.backends = []
        self.nginx = []
        for i, ns in enumerate(self.topo.hosts):
            label = "h%d" % (i + 1)
            self.backends.append(processes.track(HostBackends(label, ns)).start())
            self.nginx.append(processes.track(Nginx(
                workers=1, port=NGINX_PORT, netns=ns, host=self.topo.address(i),
                http="""
                    xds_server %s;
                    xds_node_id %s;
                    xds_fleet %s;
                    upstream app {
                        zone %s 64k;
                        server 127.0.0.1:%d;
                    }
                    """ % (self.cp.xds_address, self.node(i), FLEET, ZONE, BACKEND_PORTS[0]),
                server="location / { proxy_pass http://app; }\n")).start())
        version, _ = self.wait_converged(range(HOSTS),
                                         "every host connected and on the fleet's version")
        for i in range(HOSTS):
            # /xds/status learns "connected" from a 500 ms timer of the module.
            wait_until(lambda: self.agent_connected(i) == (True, version),
                       what="host %d's /xds/status: connected, version %d" %
                       (i + 1, version))
            assert self.serving(i) == {self.body(i, BACKEND_PORTS[0])}

    # -- helpers -------------------------------------------------------------

    @staticmethod
    def node(i):
        return "host-%d" % (i + 1)

    @staticmethod
    def body(i, port):
        return "h%d-%d" % (i + 1, port)

    def api(self, method, path, body=None):
        """A call to the control plane's HTTP gateway (from its namespace), in our fleet."""
        return in_netns(self.topo.cp, http_client.request, self.cp.http_port, method, path,
                        body=body, headers={"X-Xds-Fleet": FLEET}, timeout=30.0)

    def write(self, method, path, body=None, acked=None, connected=None):
        """A write through the HTTP API that must succeed; returns the version it made."""
        status, headers, text = self.api(method, path, body)
        log("%s %s -> %d, version %s, acked %s of %s connected" %
            (method, path, status, headers.get("x-xds-version"),
             headers.get("x-xds-acked-nodes"), headers.get("x-xds-connected-nodes")))
        assert status == 200, text
        if acked is not None:
            assert int(headers["x-xds-acked-nodes"]) == acked, headers
        if connected is not None:
            assert int(headers["x-xds-connected-nodes"]) == connected, headers
        return int(headers["x-xds-version"])

    def fleet_status(self):
        """GET /fleet/status?format=json: (fleet version, {node id: node})."""
        status, _, text = self.api("GET", "/fleet/status?format=json")
        assert status == 200, text
        parsed = json.loads(text)
        version = [f["version"] for f in parsed["fleets"] if f["name"] == FLEET]
        return (version[0] if version else 0), {n["id"]: n for n in parsed["nodes"]}

    def show_status(self, step):
        version, nodes = self.fleet_status()
        log("fleet status %s: fleet version %d; %s" % (step, version, "; ".join(
            "%s %s acked %d%s" % (n["id"], "connected" if n["connected"] else "DISCONNECTED",
                                  n["acked_version"],
                                  " last NACK %s" % n["last_nack"] if n["last_nack"] else "")
            for n in sorted(nodes.values(), key=lambda n: n["id"]))))
        return version, nodes

    def wait_converged(self, hosts, what, timeout=CONVERGE_TIMEOUT):
        """Waits until each of `hosts` is connected and has ACKed the fleet's version."""

        def converged():
            version, nodes = self.fleet_status()
            return version and all(
                self.node(i) in nodes and nodes[self.node(i)]["connected"] and
                nodes[self.node(i)]["acked_version"] == version for i in hosts)

        start = time.monotonic()
        wait_until(converged, timeout=timeout, interval=0.2, what=what)
        log("%s after %.1fs" % (what, time.monotonic() - start))
        return self.show_status("after: " + what)

    def get_over_network(self, i, timeout=5.0):
        """GET / on host i's nginx from the control plane's namespace, over the bridge."""
        status, _, text = in_netns(self.topo.cp, http_client.request, NGINX_PORT, "GET", "/",
                                   host=self.topo.address(i), timeout=timeout)
        return status, text.strip()

    def serving(self, i, requests=6, local=False):
        """The set of bodies host i answers `requests` GETs with (local: from its own namespace)."""
        bodies = set()
        for _ in range(requests):
            if local:
                status, _, text = self.nginx[i].get("/")
                text = text.strip()
            else:
                status, text = self.get_over_network(i)
            assert status == 200, "host %d: %s" % (i + 1, text)
            bodies.add(text)
        return bodies

    def wait_serving(self, i, ports, local=False, timeout=CONVERGE_TIMEOUT):
        expected = {self.body(i, p) for p in ports}
        wait_until(lambda: self.serving(i, local=local) == expected, timeout=timeout,
                   interval=0.2,
                   what="host %d serving %s" % (i + 1, sorted(expected)))

    def agent_connected(self, i):
        """What host i's own /xds/status says: (connected, version)."""
        status = self.nginx[i].status_json()
        return status["connected"], int(status["version"] or 0)

    # -- scenarios -------------------------------------------------------------

    def test_http_api_change_reaches_every_host(self):
        """Both seeds' APIs on the control plane's gateway change every host's traffic."""
        a, b, c = ("127.0.0.1:%d" % p for p in BACKEND_PORTS)
        # ngx_dynamic_upstream: add b, then remove a.
        self.write("GET", "/dynamic?upstream=%s&server=%s&add=" % (ZONE, b), acked=HOSTS,
                   connected=HOSTS)
        version = self.write("GET", "/dynamic?upstream=%s&server=%s&remove=" % (ZONE, a),
                             acked=HOSTS, connected=HOSTS)
        _, nodes = self.show_status("after /dynamic")
        for i in range(HOSTS):
            assert nodes[self.node(i)]["acked_version"] == version
            assert self.serving(i) == {self.body(i, BACKEND_PORTS[1])}
        # dyups: replace the whole upstream with c and a, c weighted 3:1.
        version = self.write("POST", "/upstream/app", "server %s weight=3;server %s;" % (c, a),
                             acked=HOSTS, connected=HOSTS)
        _, nodes = self.show_status("after POST /upstream/app")
        for i in range(HOSTS):
            assert nodes[self.node(i)]["acked_version"] == version
            wait_until(lambda: self.agent_connected(i) == (True, version),
                       what="host %d's /xds/status: connected, version %d" %
                       (i + 1, version))
            bodies = [self.get_over_network(i)[1] for _ in range(8)]
            assert sorted(bodies) == sorted([self.body(i, BACKEND_PORTS[0])] * 2 +
                                            [self.body(i, BACKEND_PORTS[2])] * 6)
        status, _, text = self.api("GET", "/upstream/app")
        assert (status, text) == (200, "server %s\nserver %s\n" % (c, a))

    def test_cut_host_keeps_last_good_version_and_catches_up(self):
        """A host whose link is cut serves its last good version; the others go on;
        fleet status shows each step; the host catches up once the link is back."""
        cut = HOSTS - 1
        others = [i for i in range(HOSTS) if i != cut]
        a, b, c = ("127.0.0.1:%d" % p for p in BACKEND_PORTS)
        start_version, _ = self.show_status("before the cut")

        log("cutting host %d's link (%s down)" % (cut + 1, self.topo.veth(cut)))
        self.topo.cut(cut)
        cut_at = time.monotonic()
        with pytest.raises(OSError):
            self.get_over_network(cut, timeout=2.0)

        # A change while the control plane may still count the cut host as connected.
        v1 = self.write("POST", "/upstream/app", "server %s;" % b)
        self.wait_converged(others, "the others on version %d" % v1)
        for i in others:
            self.wait_serving(i, [BACKEND_PORTS[1]])
        # The cut host keeps serving its last good version (seen from inside its namespace).
        assert self.serving(cut, local=True) == {self.body(cut, BACKEND_PORTS[0])}
        assert self.agent_connected(cut)[1] == start_version

        # The control plane notices the dead peer (gRPC keepalive), the agent too.
        def cut_host_disconnected():
            _, nodes = self.fleet_status()
            return not nodes[self.node(cut)]["connected"]

        wait_until(cut_host_disconnected, timeout=CONVERGE_TIMEOUT, interval=0.5,
                   what="fleet status showing host %d disconnected" % (cut + 1))
        log("control plane noticed the cut after %.1fs" % (time.monotonic() - cut_at))
        _, nodes = self.show_status("cut host disconnected")
        assert nodes[self.node(cut)]["acked_version"] == start_version
        for i in others:
            assert nodes[self.node(i)]["connected"]
            assert nodes[self.node(i)]["acked_version"] == v1
        wait_until(lambda: not self.agent_connected(cut)[0], timeout=CONVERGE_TIMEOUT,
                   interval=0.5, what="host %d's /xds/status not connected" % (cut + 1))
        log("the cut host's agent noticed after %.1fs" % (time.monotonic() - cut_at))

        # Changes while it is known to be gone: answered by the connected hosts alone.
        self.write("GET", "/dynamic?upstream=%s&server=%s&add=" % (ZONE, c),
                   acked=len(others), connected=len(others))
        v2 = self.write("GET", "/dynamic?upstream=%s&server=%s&remove=" % (ZONE, b),
                        acked=len(others), connected=len(others))
        self.wait_converged(others, "the others on version %d" % v2)
        for i in others:
            self.wait_serving(i, [BACKEND_PORTS[2]])
        assert self.serving(cut, local=True) == {self.body(cut, BACKEND_PORTS[0])}
        assert self.agent_connected(cut) == (False, start_version)
        _, nodes = self.show_status("cut host still away")
        assert not nodes[self.node(cut)]["connected"]
        assert nodes[self.node(cut)]["acked_version"] == start_version

        log("restoring host %d's link" % (cut + 1))
        self.topo.restore(cut)
        restored_at = time.monotonic()
        version, nodes = self.wait_converged(range(HOSTS), "every host on version %d" % v2)
        log("the cut host caught up %.1fs after the link came back" %
            (time.monotonic() - restored_at))
        assert version == v2
        self.wait_serving(cut, [BACKEND_PORTS[2]])
        wait_until(lambda: self.agent_connected(cut) == (True, v2),
                   what="host %d's /xds/status: connected, version %d" % (cut + 1, v2))
        for i in range(HOSTS):
            assert nodes[self.node(i)]["last_nack"] is None
            assert self.serving(i) == {self.body(i, BACKEND_PORTS[2])}

    def rollout(self, method, suffix="", query=""):
        """A call to /rollouts/FLEET[suffix][?query] that must succeed; the rollout, parsed."""
        path = "/rollouts/%s%s?format=json%s" % (FLEET, suffix, "&" + query if query else "")
        status, _, text = self.api(method, path)
        log("%s %s -> %d %s" % (method, path, status, text.strip()))
        assert status == 200, text
        parsed = json.loads(text)
        return parsed.get("rollout", parsed)

    def test_canary_rollout_on_one_host_then_promote(self):
        """Staged rollout across hosts: a canary host gets the change, the others keep
        the stable version (and traffic) until promote, then all converge."""
        canary = 0
        others = [i for i in range(HOSTS) if i != canary]
        stable, _ = self.show_status("before the rollout")
        started = self.rollout("POST", query="nodes=%s&auto_promote=false" % self.node(canary))
        assert started["state"].upper() == "CANARY", started

        status, headers, text = self.api("POST", "/upstream/app",
                                         "server 127.0.0.1:%d;" % BACKEND_PORTS[1])
        log("POST /upstream/app during the rollout -> %d %s" % (status, headers))
        assert status == 200, text
        assert headers.get("x-xds-rollout") == "canary", headers
        assert int(headers["x-xds-acked-nodes"]) == 1, headers
        canary_version = int(headers["x-xds-version"])
        self.wait_serving(canary, [BACKEND_PORTS[1]])
        wait_until(lambda: self.agent_connected(canary) == (True, canary_version),
                   what="the canary host on version %d" % canary_version)
        # The others stay on the stable version and keep their traffic: the
        # control plane's rollout says it sends them the stable version, and
        # only the canary host is in the canary group.
        current = self.rollout("GET")
        assert current["stable_version"] == stable, current
        assert [n["id"] for n in current["canary_nodes"]] == [self.node(canary)], current
        for i in others:
            assert self.serving(i) == {self.body(i, BACKEND_PORTS[0])}
            assert self.agent_connected(i) == (True, stable)
        _, nodes = self.show_status("canary on version %d" % canary_version)
        assert nodes[self.node(canary)]["acked_version"] == canary_version
        for i in others:
            assert nodes[self.node(i)]["acked_version"] == stable
        current = self.rollout("GET")
        assert current["state"].upper() == "CANARY", current

        promoted = self.rollout("POST", "/promote")
        assert promoted["state"].upper() == "PROMOTED", promoted
        version, _ = self.wait_converged(range(HOSTS), "every host on the promoted version")
        assert version >= canary_version
        for i in range(HOSTS):
            self.wait_serving(i, [BACKEND_PORTS[1]])
            wait_until(lambda: self.agent_connected(i) == (True, version),
                       what="host %d on version %d" % (i + 1, version))

