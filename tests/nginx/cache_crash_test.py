"""The last-good cache is written per change (a whole snapshot, then an
append-only change log) and survives nginx killed (-9) at any point of it:
started again with the control plane down, nginx serves at least the last
version it acknowledged, exactly as that version defined it (issue 11)."""

import os
import threading

import harness

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


class CacheCrashTest(harness.TestCase):

    def setUp(self):
        self.backends = self.track(harness.Backends(3)).start()
        self.cp = self.track(harness.ControlPlane()).start()
        self.nginx = self.track(harness.Nginx(server="""
            location /app/ {
                proxy_pass http://app/;
            }
            """))
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
        # Validates: after kill -9 amid writes, nginx restarted from the cache
        # serves a version >= the last ACKed one, as that version defined it.
        harness.wait_until(lambda: self.acked() > 0, what="a first ACK")
        writer = Writer(self.cp, self.backends.addresses)
        writer.start()
        # Enough versions that the cache holds a whole snapshot and records.
        start = self.acked()
        harness.wait_until(lambda: self.acked() >= start + 20, timeout=60.0,
                           what="20 more versions ACKed")
        harness.wait_until(lambda: os.path.exists(self.cache + ".log"),
                           what="the change log %s.log" % self.cache)
        last_acked = self.acked()
        self.nginx.kill()
        # The writer finishes the put in flight, so every version is known.
        writer.stopping.set()
        writer.join(timeout=20)
        self.assertEqual(writer.errors, [])
        self.cp.stop()

        self.nginx.start()
        harness.wait_until(lambda: self.nginx.status_json()["version"] is not None,
                           what="a version from the cache file")
        status = self.nginx.status_json()
        self.assertIs(status["connected"], False)
        version = int(status["version"])
        self.assertGreaterEqual(version, last_acked)
        self.assertIn(version, writer.app_at)
        backend = writer.app_at[version]
        port = int(backend.rsplit(":", 1)[1])
        for _ in range(5):
            self.assertEqual(self.nginx.get("/app/"), (200, "%d\n" % port))
        upstreams = {u["name"]: u for u in status["upstreams"]}
        self.assertEqual([p["server"] for p in upstreams["app"]["peers"]], [backend])
        self.assertEqual(self.nginx.bad_log_lines(), [])


if __name__ == "__main__":
    harness.main()
