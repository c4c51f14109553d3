"""The module applies only what changed (issue 11): after the first whole
snapshot the agent hands each version as a change (upserted upstreams and
removed names); worker 0 applies those alone and the other worker catches
up on the records that changed. Every check here asks both workers, over
one keepalive connection each, so a worker that missed a change fails it.
"""

import http.client
import os
import re
import signal
import sqlite3

import pytest

from nginx_xds.v1 import upstream_pb2
from nginx_xds_testing.nginx import Nginx
from nginx_xds_testing.processes import free_port
from nginx_xds_testing.waits import wait_until

NODE = "delta-node"
MANY = 40  # run-time upstreams besides the ones nginx.conf declares


class Workers:
    """One keepalive connection to each nginx worker (a `reuseport` listener
    gives each worker its own socket; X-Worker names who answered)."""

    def __init__(self, port, workers=2, limit=400):
        self.port = port
        self.conns = {}
        for _ in range(limit):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/pid")
            response = conn.getresponse()
            pid = int(response.read())
            if pid in self.conns:
                conn.close()
            else:
                self.conns[pid] = conn
            if len(self.conns) == workers:
                break
        assert len(self.conns) == workers, "reached %d of %d workers" % (
            len(self.conns), workers)
        self.pids = sorted(self.conns)

    def get(self, pid, host):
        """(status, body) of GET / with `host` on worker `pid`."""
        conn = self.conns[pid]
        conn.request("GET", "/", headers={"Host": host})
        response = conn.getresponse()
        body = response.read().decode("utf-8", "replace")
        assert int(response.getheader("X-Worker")) == pid
        return response.status, body

    def close(self):
        for conn in self.conns.values():
            conn.close()


class DeltaApplyTest:

    @pytest.fixture(autouse=True)
    def set_up(self, processes, make_control_plane, make_backends):
        self.backends = make_backends(3)
        self.b = self.backends.addresses
        self.cp = make_control_plane()
        self.pinned_port = free_port()
        self.nginx = processes.track(Nginx(http=self.http_conf()))
        self.cache = os.path.join(self.nginx.make_cache_dir(), "snapshot.pb")
        self.nginx.http = self.http_conf(cache=self.cache)
        self.nginx.start()
        wait_until(lambda: self.nginx.status_json()["connected"],
                   what="the agent's stream")
        self.workers = None
        yield
        if self.workers:
            self.workers.close()

    def http_conf(self, cache=None):
        return """
            xds_server %s;
            xds_node_id %s;
            %s
            upstream zoned {
                zone zoned 64k;
                server %s;
            }
            upstream plain {
                server %s;
            }
            server {
                listen 127.0.0.1:%d reuseport;
                add_header X-Worker $pid always;
                location = /pid {
                    return 200 $pid;
                }
                location / {
                    proxy_pass http://$host;
                }
            }
            """ % (self.cp.xds_address, NODE,
                   "xds_cache %s;" % cache if cache else "",
                   self.b[0], self.b[0], self.pinned_port)

    def port(self, i):
        return self.backends.backend_ports[i]

    def connect(self):
        if self.workers:
            self.workers.close()
        self.workers = Workers(self.pinned_port)

    def write(self, name, servers, **fields):
        written = self.cp.put_upstream(name, servers, **fields)
        assert (written.acked_nodes, len(written.rejections)) == (1, 0), written
        return written

    def populate(self):
        """MANY run-time upstreams u0.. (ui on backend i % 3), and zoned and
        plain on backend 1: one version each, so all but the first are
        changes."""
        for i in range(MANY):
            self.write("u%d" % i, [self.b[i % 3]])
        self.write("zoned", [self.b[1]])
        self.write("plain", [self.b[1]])

    def serves(self, host, i):
        """Asserts both workers send `host` to backend i (None: 502)."""
        for pid in self.workers.pids:
            for _ in range(2):
                code, body = self.workers.get(pid, host)
                if i is None:
                    assert code == 502, (host, pid, code, body)
                else:
                    assert (code, body) == (200, "%d\n" % self.port(i)), (host, pid)

    def serves_populated(self, changed=None):
        changed = changed or {}
        for i in range(MANY):
            name = "u%d" % i
            self.serves(name, changed.get(name, i % 3))
        for name in ("zoned", "plain"):
            self.serves(name, changed.get(name, 1))

    def applied_lines(self):
        """What each applied version was: "whole: N upstreams", or "a change:
        N upstreams, M removed", with " except K upstream(s)" rejected."""
        return ["".join(m) for m in re.findall(
            r'xds applied version "\d+"(?: from the cache file)? \(([^)]*)\)'
            r'( except \d+ upstreams?)?', self.nginx.error_log())]

    def agent_pid(self):
        """The pid of the newest worker 0 (the one whose agent started last)."""
        pids = re.findall(r"(\d+)#\d+: xds agent started", self.nginx.error_log())
        return int(pids[-1])

    def test_one_change_among_many_applies_in_every_worker(self):
        """One upstream changed among many: a change of one upstream, served
        by both workers; the others keep theirs."""
        self.populate()
        self.connect()
        self.serves_populated()
        # Every version after the first was handed as a change of one.
        lines = self.applied_lines()
        assert lines[0].startswith("whole"), lines
        assert set(lines[1:]) == {"a change: 1 upstream, 0 removed"}, lines
        for name, i in (("u17", 0), ("zoned", 2), ("plain", 0)):
            self.write(name, [self.b[i]])
            assert self.applied_lines()[-1] == "a change: 1 upstream, 0 removed"
        self.serves_populated({"u17": 0, "zoned": 2, "plain": 0})
        status = {u["name"]: u for u in self.nginx.status_json()["upstreams"]}
        assert [p["server"] for p in status["zoned"]["peers"]] == [self.b[2]]

    def test_removal_is_a_change_in_every_worker(self):
        """Deleting upstreams: a change naming them; both workers answer 502
        for them and serve the others; written again, they come back."""
        self.populate()
        self.connect()
        self.serves_populated()
        for name in ("u5", "zoned"):
            deleted = self.cp.delete_upstream(name)
            assert deleted.acked_nodes == 1, deleted
            assert self.applied_lines()[-1] == "a change: 0 upstreams, 1 removed"
        self.serves("u5", None)
        self.serves("zoned", None)
        for i in (4, 6, 39):
            self.serves("u%d" % i, i % 3)
        self.write("u5", [self.b[0]])
        self.write("zoned", [self.b[0]])
        self.serves_populated({"u5": 0, "zoned": 0})

    def test_changes_across_reload(self):
        """nginx -s reload keeps the applied state (the master re-applies the
        records to the rebuilt zone, new workers build the rest); later
        changes and removals still apply in both new workers."""
        self.populate()
        self.write("u3", [self.b[2]])
        self.cp.delete_upstream("u7")
        self.nginx.reload()
        assert "re-applied version" in self.nginx.error_log()
        self.connect()
        self.serves_populated({"u3": 2, "u7": None})
        before = len(self.applied_lines())
        self.write("u4", [self.b[2]])
        self.write("zoned", [self.b[0]])
        self.cp.delete_upstream("u8")
        assert self.applied_lines()[before:][-3:] == [
            "a change: 1 upstream, 0 removed", "a change: 1 upstream, 0 removed",
            "a change: 0 upstreams, 1 removed"]
        self.serves_populated({"u3": 2, "u7": None, "u4": 2, "zoned": 0, "u8": None})

    def kill(self, victim):
        if self.workers:
            self.workers.close()
            self.workers = None
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: victim not in self.nginx.worker_pids()
                   and len(self.nginx.worker_pids()) == 2,
                   what="a new worker in place of %d" % victim)
        self.connect()

    def test_killed_workers_come_back_with_the_current_state(self):
        """kill -9 of the other worker, then of worker 0: each replacement
        serves the current state, and later changes reach both workers."""
        self.populate()
        self.write("u9", [self.b[0]])
        self.connect()
        worker0 = self.agent_pid()
        other = [p for p in self.workers.pids if p != worker0][0]

        self.kill(other)
        self.serves_populated({"u9": 0})
        self.write("u10", [self.b[2]])
        self.write("zoned", [self.b[2]])
        self.serves_populated({"u9": 0, "u10": 2, "zoned": 2})

        self.kill(worker0)
        wait_until(lambda: self.agent_pid() != worker0,
                   what="a new worker 0 with its agent")
        wait_until(lambda: self.cp.node_status(NODE).connected,
                   what="the new agent's stream")
        self.serves_populated({"u9": 0, "u10": 2, "zoned": 2})
        # A new agent hands its first version whole, then changes again.
        wait_until(lambda: self.applied_lines()[-1].startswith("whole"),
                   what="the new agent's whole version")
        self.write("u11", [self.b[0]])
        self.cp.delete_upstream("u12")
        assert self.applied_lines()[-2:] == ["a change: 1 upstream, 0 removed",
                                             "a change: 0 upstreams, 1 removed"]
        self.serves_populated({"u9": 0, "u10": 2, "zoned": 2, "u11": 0, "u12": None})

    def test_restart_from_the_cache_with_the_control_plane_down(self):
        """Changes reach the cache: stopped and started again with the
        control plane down, nginx serves the last acknowledged state in both
        workers."""
        self.populate()
        self.write("u1", [self.b[2]])
        self.cp.delete_upstream("u2")
        self.write("zoned", [self.b[2]])
        self.nginx.stop()
        self.cp.stop()
        self.nginx.start()
        wait_until(lambda: self.nginx.status_json()["version"] is not None,
                   what="a version from the cache file")
        assert self.nginx.status_json()["connected"] is False
        assert "from the cache file (whole" in self.nginx.error_log()
        self.connect()
        self.serves_populated({"u1": 2, "u2": None, "zoned": 2})

    def test_rejected_upstream_in_a_change_keeps_its_state(self, make_control_plane):
        """A change naming several upstreams, one of which nginx cannot build:
        that one keeps its old state in both workers, the others apply, and
        the agent NACKs naming it alone."""
        self.populate()
        self.connect()
        # The writes land while nginx is away (a second control plane on the
        # same store, on other ports): the stream nginx opens again sends
        # them as one change against the resources it holds.
        self.cp.stop()
        other = make_control_plane(data_dir=self.cp.dir)
        # Each changes its Cluster alone (the balancing method, same servers),
        # so the three arrive in one Cluster response.
        other.put_upstream("u20", [self.b[2]], method=upstream_pb2.LEAST_CONN)
        # nginx.conf uses no $cookie_x: nginx has no handler for it
        other.put_upstream("u21", [self.b[0]], method=upstream_pb2.HASH, hash_key="$cookie_x")
        other.put_upstream("u22", [self.b[1]], method=upstream_pb2.LEAST_CONN)
        other.stop()
        self.cp.start()
        wait_until(lambda: [u.name for u in self.cp.node_status(NODE).rejected_upstreams]
                   == ["u21"], timeout=60.0, what="the NACK naming u21")
        # u21 was rejected within a change that applied another upstream
        changes = [line for line in self.applied_lines()
                   if line.startswith("a change") and line.endswith("except 1 upstream")
                   and int(re.search(r"(\d+) upstream", line).group(1)) >= 2]
        assert changes, self.applied_lines()[-6:]
        self.serves_populated()
        # Fixed, it applies and the rejection clears.
        self.write("u21", [self.b[2]])
        self.serves_populated({"u21": 2})
        assert len(self.cp.node_status(NODE).rejected_upstreams) == 0


class BeyondTheChangeLogTest:
    """A whole version of more upstreams than the change log holds (4096):
    a worker behind it catches up by a scan of every record, a later change
    by the log again, and a replaced worker by a scan; all serve the same."""

    N = 5000

    @pytest.fixture(autouse=True)
    def set_up(self, processes, make_control_plane, make_backends):
        self.backends = make_backends(3)
        self.b = self.backends.addresses
        self.cp = make_control_plane()
        # Seeded into the store: N writes would each send the whole state.
        self.cp.stop()
        db = sqlite3.connect(os.path.join(self.cp.dir, "data", "nginx-xds.db"))
        with db:
            db.execute("INSERT INTO fleets(fleet, version, slots) VALUES ('default', 1, ?)",
                       (self.N,))
            db.execute("UPDATE meta SET version = 1 WHERE id = 0")
            db.executemany(
                "INSERT INTO upstreams(fleet, key, body, created) VALUES ('default', ?, ?, ?)",
                [("u%d" % i, self.cp.upstream("u%d" % i, [self.b[i % 3]]).SerializeToString(), i)
                 for i in range(self.N)])
        db.close()
        self.cp.start()
        self.pinned_port = free_port()
        self.nginx = processes.track(Nginx(http="""
            xds_server %s;
            xds_node_id beyond-node;
            xds_zone_size 32m;
            server {
                listen 127.0.0.1:%d reuseport;
                add_header X-Worker $pid always;
                location = /pid {
                    return 200 $pid;
                }
                location / {
                    proxy_pass http://$host;
                }
            }
            """ % (self.cp.xds_address, self.pinned_port)))
        self.nginx.start()
        def synced():
            node = self.cp.node_status("beyond-node")
            return node is not None and node.acked_version == 1

        wait_until(synced, timeout=60.0, what="the seeded version acknowledged")
        self.workers = None
        yield
        if self.workers:
            self.workers.close()

    def scans(self):
        return len(re.findall(r"by a scan of every record", self.nginx.error_log()))

    def serves(self, changed=None):
        changed = changed or {}
        for i in list(range(0, self.N, 97)) + [self.N - 1, 17]:
            name = "u%d" % i
            want = self.backends.backend_ports[changed.get(name, i % 3)]
            for pid in self.workers.pids:
                code, body = self.workers.get(pid, name)
                assert (code, body) == (200, "%d\n" % want), (name, pid)

    def test_scan_then_log_then_scan(self):
        """Scan, then the log, then a scan again."""
        self.workers = Workers(self.pinned_port)
        self.serves()
        # The other worker was at generation 0 when the whole version (one
        # generation, N log entries) went in: it scanned.
        scans = self.scans()
        assert scans >= 1, self.nginx.error_log()[-2000:]
        written = self.cp.put_upstream("u17", [self.b[0]])
        assert written.acked_nodes == 1, written
        self.serves({"u17": 0})
        assert self.scans() == scans  # one change: from the log
        victim = [p for p in self.workers.pids
                  if p != int(re.findall(r"(\d+)#\d+: xds agent started",
                                         self.nginx.error_log())[-1])][0]
        self.workers.close()
        self.workers = None
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: victim not in self.nginx.worker_pids()
                   and len(self.nginx.worker_pids()) == 2,
                   what="a new worker in place of %d" % victim)
        self.workers = Workers(self.pinned_port)
        self.serves({"u17": 0})
        assert self.scans() == scans + 1
