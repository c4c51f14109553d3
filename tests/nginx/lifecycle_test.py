"""nginx with the module keeps nginx's own life cycle: reload, quit, stop, no control plane."""

import os
import threading

import harness


def static_upstream(backends):
    return """
        upstream static_app {
            zone static_app 64k;
            %s
        }
        """ % "\n".join("server %s;" % a for a in backends.addresses)


PROXY = """
    location /app/ {
        proxy_pass http://static_app/;
    }
    """


class Client(threading.Thread):
    """GETs `path` over and over on new connections until stopped; records failures."""

    def __init__(self, nginx, path):
        super().__init__(daemon=True)
        self.nginx = nginx
        self.path = path
        self.stopping = threading.Event()
        self.ok = 0
        self.failures = []

    def run(self):
        while not self.stopping.is_set():
            try:
                code, body = self.nginx.get(self.path)
                if code == 200:
                    self.ok += 1
                else:
                    self.failures.append("%d %s" % (code, body[:200]))
            except OSError as e:
                self.failures.append(repr(e))

    def stop(self):
        self.stopping.set()
        self.join(timeout=30)


class LifecycleTest(harness.TestCase):

    def setUp(self):
        self.backends = self.track(harness.Backends(1)).start()

    def start_nginx(self, cp_address):
        nginx = self.track(harness.Nginx(
            http="xds_server %s;\nxds_node_id node-l;\n" % cp_address +
            static_upstream(self.backends),
            server=PROXY))
        return nginx.start()

    def wait_connected(self, nginx, timeout=15.0):
        harness.wait_until(lambda: nginx.status_json()["connected"], timeout=timeout,
                           what="the status page to say connected")

    def test_reload_keeps_serving_and_keeps_the_applied_version(self):
        cp = self.track(harness.ControlPlane()).start()
        nginx = self.start_nginx(cp.xds_address)
        self.wait_connected(nginx)
        version = str(cp.put_upstream("app", self.backends.addresses).version)
        harness.wait_until(lambda: nginx.status_json()["version"] == version,
                           what="status version %s" % version)

        client = Client(nginx, "/app/")
        client.start()
        try:
            harness.wait_until(lambda: client.ok > 0, what="the first proxied answer")
            old_workers = nginx.worker_pids()
            new_workers = nginx.reload()
            before = client.ok
            harness.wait_until(lambda: client.ok > before + 10,
                               what="answers from the new workers")
        finally:
            client.stop()

        self.assertEqual(client.failures, [])
        self.assertFalse(set(old_workers) & set(new_workers))
        self.assertEqual(nginx.status_json()["version"], version)
        self.wait_connected(nginx)
        self.assertEqual(nginx.status_json()["version"], version)
        self.assertEqual(nginx.get("/app/"), (200, "%d\n" % self.backends.backend_ports[0]))
        self.assertEqual(nginx.bad_log_lines(), [])

    def test_quit_leaves_no_crash_or_open_socket_in_the_error_log(self):
        cp = self.track(harness.ControlPlane()).start()
        nginx = self.start_nginx(cp.xds_address)
        self.wait_connected(nginx)
        version = str(cp.put_upstream("app", self.backends.addresses).version)
        harness.wait_until(lambda: nginx.status_json()["version"] == version,
                           what="status version %s" % version)
        # An old worker 0 with a running agent exits on reload, too.
        nginx.reload()
        self.wait_connected(nginx)

        nginx.quit()

        log = nginx.error_log()
        self.assertNotIn("exited on signal", log)
        self.assertNotIn("open socket", log)
        self.assertEqual(nginx.bad_log_lines(), [])
        self.assertIn("xds agent started", log)
        self.assertEqual(log.count("xds agent started"), log.count("xds agent stopped"))

    def test_stop_leaves_no_crash_or_open_socket_in_the_error_log(self):
        cp = self.track(harness.ControlPlane()).start()
        nginx = self.start_nginx(cp.xds_address)
        self.wait_connected(nginx)

        nginx.stop()

        log = nginx.error_log()
        self.assertNotIn("exited on signal", log)
        self.assertNotIn("open socket", log)
        self.assertEqual(nginx.bad_log_lines(), [])

    def test_starts_and_serves_with_the_control_plane_down_then_connects(self):
        port = harness.free_port()
        nginx = self.start_nginx("127.0.0.1:%d" % port)

        self.assertEqual(nginx.get("/app/"), (200, "%d\n" % self.backends.backend_ports[0]))
        status = nginx.status_json()
        self.assertIs(status["connected"], False)
        self.assertIsNone(status["version"])

        cp = self.track(harness.ControlPlane(xds_port=port)).start()
        version = str(cp.put_upstream("app", self.backends.addresses).version)
        # The agent's backoff may have grown while the control plane was down.
        self.wait_connected(nginx, timeout=60.0)
        # The agent may connect before the put: adopting nginx.conf's
        # upstreams then makes a later version than the put's.
        harness.wait_until(
            lambda: int(nginx.status_json()["version"] or 0) >= int(version),
            what="status version %s or later" % version)
        self.assertEqual(nginx.get("/app/"), (200, "%d\n" % self.backends.backend_ports[0]))
        self.assertEqual(nginx.bad_log_lines(), [])

    def test_restart_with_the_control_plane_down_applies_the_cached_version(self):
        cp = self.track(harness.ControlPlane()).start()
        nginx = self.track(harness.Nginx(server=PROXY))
        cache = os.path.join(nginx.make_cache_dir(), "snapshot.pb")
        nginx.http = ("xds_server %s;\nxds_cache %s;\n" % (cp.xds_address, cache) +
                      static_upstream(self.backends))
        nginx.start()
        self.wait_connected(nginx)
        version = str(cp.put_upstream("app", self.backends.addresses).version)
        harness.wait_until(lambda: nginx.status_json()["version"] == version,
                           what="status version %s" % version)
        harness.wait_until(lambda: os.path.exists(cache), what="the cache file %s" % cache)
        nginx.quit()
        cp.stop()

        nginx.start()

        harness.wait_until(lambda: nginx.status_json()["version"] == version,
                           what="status version %s from the cache file" % version)
        self.assertIs(nginx.status_json()["connected"], False)
        self.assertIn("from the cache file", nginx.error_log())
        self.assertEqual(nginx.get("/app/"), (200, "%d\n" % self.backends.backend_ports[0]))
        self.assertEqual(nginx.bad_log_lines(), [])


if __name__ == "__main__":
    harness.main()
