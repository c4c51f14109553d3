"""Three control plane replicas on a 3-member etcd, three nginx spread over them.

Real processes on 127.0.0.1: Debian's etcd, //controlplane:nginx-xds-controlplane
with --store=etcd, Debian's nginx with our module, echo backends. A write
through any replica is answered once every nginx (on every replica) applied
it; fleet status from any replica shows all three nodes; an etcd member can
die; readiness follows etcd while liveness does not; a replica killed with
SIGKILL during 1,000 writes loses nothing acknowledged once its nginx fail
over (`xds_server a b c;`, skipped until the module takes several servers).
"""

import collections
import subprocess
import threading

import pytest

from etcd_cluster import EtcdCluster
from nginx_xds_testing import http_client
from nginx_xds_testing.controlplane import ControlPlane
from nginx_xds_testing.nginx import Backends, Nginx
from nginx_xds_testing.waits import wait_until


class ReplicasNginxTest:

    @pytest.fixture(autouse=True)
    def set_up(self, processes):
        self.processes = processes
        self.etcd = processes.track(EtcdCluster(3)).start().wait_healthy()
        self.backends = processes.track(Backends(3)).start()
        self.b = self.backends.addresses
        self.cps = [processes.track(ControlPlane(extra_args=[
            "--store=etcd", "--etcd_endpoints=%s" % ",".join(self.etcd.urls(i)),
            "--replica_id=r%d" % i, "--ack_timeout=5s", "--etcd_timeout=2s",
            "--node_lease_ttl=5s"])).start() for i in range(3)]
        self.put(self.cps[0], [self.b[0]])
        self.nginx = [processes.track(self.make_nginx(i, self.cps[i].xds_address))
                      for i in range(3)]
        for n in self.nginx:
            n.start()
        for cp in self.cps:
            wait_until(lambda cp=cp: self.connected(cp) == {"n0", "n1", "n2"},
                       what="every node in fleet status of every replica")

    def make_nginx(self, i, servers):
        return Nginx(
            http="""
            xds_server %s;
            xds_node_id n%d;
            upstream backends {
                zone zone_for_backends 256k;
                server %s;
            }
            """ % (servers, i, self.b[0]),
            server="""
            location / {
                proxy_pass http://backends;
                proxy_next_upstream error timeout;
                proxy_connect_timeout 2s;
            }
            """)

    @staticmethod
    def put(cp, servers, **kwargs):
        """PutUpstream of `backends` with its nginx.conf zone (the /dynamic API's key)."""
        return cp.put_upstream("backends", servers, zone="zone_for_backends", **kwargs)

    @staticmethod
    def connected(cp):
        return {n.id for n in cp.fleet_status().nodes if n.connected}

    def answering(self, nginx, count=20):
        """The backend ports that answered `count` requests through `nginx`."""
        ports = collections.Counter()
        for _ in range(count):
            response = nginx.get("/")
            assert response.status == 200, response
            ports[response.body.strip()] += 1
        return set(ports)

    def test_writes_through_each_replica_reach_every_nginx(self):
        for i, cp in enumerate(self.cps):
            written = self.put(cp, [self.b[i]])
            # Answered only once the nodes of all three replicas applied it.
            assert (written.acked_nodes, written.connected_nodes) == (3, 3), written
            port = self.b[i].rsplit(":", 1)[1]
            for n in self.nginx:
                assert self.answering(n) == {port}
        for cp in self.cps:
            status = cp.fleet_status()
            assert {(n.id, n.replica) for n in status.nodes} == {
                ("n0", "r0"), ("n1", "r1"), ("n2", "r2")}
            # The writer saw every ACK; the others see them through etcd too.
            wait_until(lambda cp=cp: all(n.acked_version == written.version
                                         for n in cp.fleet_status().nodes),
                       what="every replica's status at the last version")

    def test_etcd_member_killed_writes_continue_and_readiness_follows_etcd(self):
        for cp in self.cps:
            assert http_client.request(cp.http_port, "GET", "/readyz").status == 200
        self.etcd.kill(0)
        for i, cp in enumerate(self.cps):
            wait_until(lambda cp=cp: http_client.request(cp.http_port, "GET",
                                                         "/readyz").status == 200,
                       what="replica ready on the quorum")
            written = self.put(cp, [self.b[i]])
            assert written.acked_nodes == 3, written
        # Quorum lost: readiness fails naming etcd, liveness does not, writes
        # are refused (503 over HTTP), reads still answer.
        self.etcd.kill(1)
        cp = self.cps[2]
        ready = wait_until(lambda: (lambda r: r if r.status == 503 else None)(
            http_client.request(cp.http_port, "GET", "/readyz", timeout=5.0)),
            what="readiness failing without quorum")
        assert "etcd" in ready.body, ready
        assert http_client.request(cp.http_port, "GET", "/livez").status == 200
        refused = http_client.request(
            cp.http_port, "GET", "/dynamic?upstream=zone_for_backends&server=%s&add=" % self.b[0],
            timeout=10.0)
        assert refused.status == 503 and "etcd" in refused.body, refused
        # dyups' own answer for "send the same command again later".
        refused = http_client.request(cp.http_port, "POST", "/upstream/backends",
                                      body="server %s;" % self.b[0], timeout=10.0)
        assert refused.status == 409 and "etcd" in refused.body, refused
        assert http_client.request(cp.http_port, "GET", "/upstream/backends").status == 200
        port = self.b[2].rsplit(":", 1)[1]
        for n in self.nginx:
            assert self.answering(n) == {port}, "nginx keeps serving the last state"
        # Back: writes resume everywhere.
        self.etcd.start(0)
        self.etcd.start(1)
        self.etcd.wait_healthy()
        wait_until(lambda: http_client.request(cp.http_port, "GET", "/readyz").status == 200,
                   timeout=30.0, what="ready again")
        written = self.put(cp, [self.b[1]])
        assert written.acked_nodes == 3, written

    def test_replica_killed_during_1000_writes_loses_nothing(self):
        failover = self.make_nginx(9, " ".join(cp.xds_address for cp in self.cps))
        failover.write_conf()
        checked = subprocess.run(failover.nginx_cmd("-t"), capture_output=True, text=True)
        if checked.returncode != 0:
            pytest.skip("the module takes one xds_server address in this tree (%s); the "
                        "integrator enables this test with the failover change" %
                        checked.stderr.strip().splitlines()[-1])
        for n in self.nginx:
            n.stop()
        self.nginx = [self.processes.track(self.make_nginx(
            i, " ".join(self.cps[(i + k) % 3].xds_address for k in range(3))))
            for i in range(3)]
        for n in self.nginx:
            n.start()
        versions = []
        errors = []

        def write(cp, count):
            for w in range(count):
                try:
                    written = self.put(cp, [self.b[w % 3]], timeout=10.0)
                    versions.append((written.version, w % 3))
                except Exception as e:  # pylint: disable=broad-except
                    errors.append(e)

        writers = [threading.Thread(target=write, args=(self.cps[k], 500)) for k in (0, 1)]
        for t in writers:
            t.start()
        wait_until(lambda: len(versions) >= 100, what="100 writes")
        self.cps[2].kill()
        for t in writers:
            t.join()
        assert not errors, errors[:3]
        assert len(versions) == 1000
        assert len({v for v, _ in versions}) == 1000, "a version was reused"
        newest, servers = max(versions)
        port = self.b[servers].rsplit(":", 1)[1]
        for n in self.nginx:
            wait_until(lambda n=n: int(n.status_json()["version"] or 0) >= newest,
                       what="every nginx at the newest version")
            assert self.answering(n) == {port}
        for cp in self.cps[:2]:
            wait_until(lambda cp=cp: self.connected(cp) == {"n0", "n1", "n2"}, timeout=20.0,
                       what="the killed replica's nodes moved to the others")
