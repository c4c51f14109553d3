"""A real etcd cluster (Debian's /usr/bin/etcd) on free loopback ports.

Members can be killed (SIGKILL) and started again on the same ports and
data; cleanup() kills them all and removes the data. Tracked by the
`processes` fixture like the other processes of a test.
"""

import os
import shutil

from nginx_xds_testing.processes import free_port, kill_group, make_dir, start_process
from nginx_xds_testing.waits import wait_until
from nginx_xds_testing import http_client


class EtcdCluster:

    def __init__(self, size=3):
        self.dir = make_dir("etcd")
        self.members = [{"client": free_port(), "peer": free_port(), "process": None}
                        for _ in range(size)]
        self.initial = ",".join("n%d=http://127.0.0.1:%d" % (i, m["peer"])
                                for i, m in enumerate(self.members))

    def url(self, i):
        return "http://127.0.0.1:%d" % self.members[i]["client"]

    def urls(self, first=0):
        """Every member's URL, member `first` first (a replica prefers its own)."""
        n = len(self.members)
        return [self.url((first + k) % n) for k in range(n)]

    def start(self, i=None):
        for k in ([i] if i is not None else range(len(self.members))):
            m = self.members[k]
            peer = "http://127.0.0.1:%d" % m["peer"]
            log = open(os.path.join(self.dir, "n%d.log" % k), "ab")
            try:
                m["process"] = start_process([
                    "/usr/bin/etcd", "--name", "n%d" % k,
                    "--data-dir", os.path.join(self.dir, "n%d" % k),
                    "--listen-client-urls", self.url(k), "--advertise-client-urls", self.url(k),
                    "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                    "--initial-cluster", self.initial, "--initial-cluster-token", self.dir,
                    "--heartbeat-interval", "50", "--election-timeout", "500",
                ], stdout=log, stderr=log, stdin=open(os.devnull))
            finally:
                log.close()
        return self

    def wait_healthy(self, timeout=30.0):
        """Until every running member answers /health with a leader."""
        def healthy():
            for k, m in enumerate(self.members):
                if m["process"] is None:
                    continue
                r = http_client.request(m["client"], "GET", "/health", timeout=2.0)
                if r.status != 200 or '"true"' not in r.body:
                    return False
            return True
        wait_until(healthy, timeout=timeout, what="etcd healthy")
        return self

    def kill(self, i):
        m = self.members[i]
        if m["process"] is not None:
            kill_group(m["process"])
            m["process"] = None

    def cleanup(self):
        for i in range(len(self.members)):
            self.kill(i)
        shutil.rmtree(self.dir, ignore_errors=True)
