"""The last-good cache is written per change (a whole snapshot, then an
append-only change log) and survives nginx killed (-9) at any point of it:
started again with the control plane down, nginx serves at least the last
version it acknowledged, exactly as that version defined it (issue 11). The
same for the xds-agent CLI, killed again and again amid writes."""

import os
import re
import subprocess
import threading

import pytest

from nginx_xds_testing import processes
from nginx_xds_testing.waits import wait_until

AGENT = "agent/xds-agent"

NODE = "crash-node"


class Writer(threading.Thread):
    """Puts version after version until stopped: `app` alternating between
    the backends, and a `noise` upstream growing, so each is one change."""

    def __init__(self, cp, backends):
        super().__init__(daemon=True)
        self.cp = cp
        self.backends = backends
        self.stopping = threading.Event()
        self.app_at = {}      # version -> the backend app points at
        self.errors = []

    def run(self):
        n = 0
        try:
            while not self.stopping.is_set():
                n += 1
                backend = self.backends[n % len(self.backends)]
                written = self.cp.put_upstream("app", [backend])
                self.app_at[written.version] = backend
                written = self.cp.put_upstream("noise", ["127.0.0.1:%d" % (1000 + n)])
                self.app_at[written.version] = backend
        except Exception as e:  # the control plane stopping ends the run
            if not self.stopping.is_set():
                self.errors.append(e)


class CacheCrashTest:

    @pytest.fixture(autouse=True)
    def set_up(self, make_backends, make_control_plane, make_nginx):
        self.backends = make_backends(3)
        self.cp = make_control_plane()
        self.nginx = make_nginx(server="""
            location /app/ {
                proxy_pass http://app/;
            }
            """)
        self.cache = os.path.join(self.nginx.make_cache_dir(), "snapshot.pb")
        self.nginx.http = """
            xds_server %s;
            xds_node_id %s;
            xds_cache %s;
            upstream app {
                zone app 64k;
                server %s;
            }
            """ % (self.cp.xds_address, NODE, self.cache, self.backends.addresses[0])
        self.nginx.start()

    def acked(self):
        node = self.cp.node_status(NODE)
        return node.acked_version if node is not None and node.acked_version else 0

    def test_kill_during_writes_then_start_without_control_plane(self):
        """After kill -9 amid writes, nginx restarted from the cache serves a
        version >= the last ACKed one, as that version defined it."""
        wait_until(lambda: self.acked() > 0, what="a first ACK")
        writer = Writer(self.cp, self.backends.addresses)
        writer.start()
        # Enough versions that the cache holds a whole snapshot and records.
        start = self.acked()
        wait_until(lambda: self.acked() >= start + 20, timeout=60.0,
                           what="20 more versions ACKed")
        wait_until(lambda: os.path.exists(self.cache + ".log"),
                           what="the change log %s.log" % self.cache)
        last_acked = self.acked()
        self.nginx.kill()
        # The writer finishes the put in flight, so every version is known.
        writer.stopping.set()
        writer.join(timeout=20)
        assert writer.errors == []
        self.cp.stop()

        self.nginx.start()
        wait_until(lambda: self.nginx.status_json()["version"] is not None,
                           what="a version from the cache file")
        status = self.nginx.status_json()
        assert status["connected"] is False
        version = int(status["version"])
        assert version >= last_acked
        assert version in writer.app_at
        backend = writer.app_at[version]
        port = int(backend.rsplit(":", 1)[1])
        for _ in range(5):
            reply = self.nginx.get("/app/")
            assert (reply.status, reply.body) == (200, "%d\n" % port)
        upstreams = {u["name"]: u for u in status["upstreams"]}
        assert [p["server"] for p in upstreams["app"]["peers"]] == [backend]
        assert self.nginx.bad_log_lines() == []


class AgentCacheCrashTest:
    """The xds-agent CLI (Delta, the default) killed -9 amid writes several
    times, each time started again on the same cache file; at last started
    with the control plane down, it hands over from the cache a version at
    least as new as the last it ACKed, exactly as that version defined it."""

    NODE = "cli-crash-node"
    BACKENDS = ["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"]

    @pytest.fixture(autouse=True)
    def set_up(self, make_control_plane, tmp_path):
        self.cp = make_control_plane()
        self.dir = tmp_path
        self.cache = str(tmp_path / "snapshot.pb")
        self.agents = []
        yield
        for agent in self.agents:
            processes.kill_group(agent)

    def start_agent(self, *args):
        out = open(str(self.dir / ("agent-%d.out" % len(self.agents))), "w+")
        agent = subprocess.Popen(
            [AGENT, "--server=" + self.cp.xds_address, "--node_id=" + self.NODE,
             "--cache_path=" + self.cache, "--log_level=1"] + list(args),
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        processes._register(agent)
        agent.out = out
        self.agents.append(agent)
        return agent

    def acked(self):
        node = self.cp.node_status(self.NODE)
        return node.acked_version if node is not None and node.acked_version else 0

    def test_kill_agent_during_writes_then_start_without_control_plane(self):
        """Each restart after kill -9 finds the cache loadable; the last, with
        the control plane down, serves a version >= the last one ACKed."""
        self.start_agent()
        wait_until(lambda: self.cp.node_status(self.NODE) is not None, what="the agent's node")
        writer = Writer(self.cp, self.BACKENDS)
        writer.start()
        for round_ in range(3):
            start = self.acked()
            wait_until(lambda: self.acked() >= start + 10, timeout=60.0,
                       what="10 more versions ACKed in round %d" % round_)
            processes.kill_group(self.agents[-1])
            if round_ < 2:
                self.start_agent()
        last_acked = self.acked()
        writer.stopping.set()
        writer.join(timeout=20)
        assert writer.errors == []
        assert os.path.exists(self.cache + ".log"), "no change log: every save was whole"
        self.cp.stop()

        agent = self.start_agent("--exit_after_versions=1")
        assert agent.wait(timeout=30) == 0
        agent.out.seek(0)
        output = agent.out.read()
        header = re.search(r"^version (\d+) \((\d+) upstreams\) from_cache$", output, re.M)
        assert header, output
        version = int(header.group(1))
        assert version >= last_acked
        assert version in writer.app_at
        servers = re.findall(r"^upstream app .*\n  server (\S+) ", output, re.M)
        assert servers == [writer.app_at[version]], output
