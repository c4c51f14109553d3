"""nginx with the module keeps nginx's own life cycle: reload, quit, stop, no control plane."""

import os
import threading

import pytest

from nginx_xds_testing.nginx import Nginx
from nginx_xds_testing.processes import free_port
from nginx_xds_testing.waits import wait_until


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
                code, _, body = self.nginx.get(self.path)
                if code == 200:
                    self.ok += 1
                else:
                    self.failures.append("%d %s" % (code, body[:200]))
            except OSError as e:
                self.failures.append(repr(e))

    def stop(self):
        self.stopping.set()
        self.join(timeout=30)


class LifecycleTest:

    @pytest.fixture(autouse=True)
    def set_up(self, make_backends, make_nginx):
        self.make_nginx = make_nginx
        self.backends = make_backends(1)

    def start_nginx(self, cp_address):
        nginx = self.make_nginx(
            http="xds_server %s;\nxds_node_id node-l;\n" % cp_address +
            static_upstream(self.backends),
            server=PROXY)
        return nginx.start()

    def wait_connected(self, nginx, timeout=15.0):
        wait_until(lambda: nginx.status_json()["connected"], timeout=timeout,
                   what="the status page to say connected")

    def test_reload_keeps_serving_and_keeps_the_applied_version(self, make_control_plane):
        """Reload keeps serving and keeps the applied version."""
        cp = make_control_plane()
        nginx = self.start_nginx(cp.xds_address)
        self.wait_connected(nginx)
        version = str(cp.put_upstream("app", self.backends.addresses).version)
        wait_until(lambda: nginx.status_json()["version"] == version,
                   what="status version %s" % version)

        client = Client(nginx, "/app/")
        client.start()
        try:
            wait_until(lambda: client.ok > 0, what="the first proxied answer")
            old_workers = nginx.worker_pids()
            new_workers = nginx.reload()
            before = client.ok
            wait_until(lambda: client.ok > before + 10,
                       what="answers from the new workers")
        finally:
            client.stop()

        assert client.failures == []
        assert not (set(old_workers) & set(new_workers))
        assert nginx.status_json()["version"] == version
        self.wait_connected(nginx)
        assert nginx.status_json()["version"] == version
        response = nginx.get("/app/")
        assert (response.status, response.body) == (200, "%d\n" % self.backends.backend_ports[0])
        assert nginx.bad_log_lines() == []

    def test_quit_leaves_no_crash_or_open_socket_in_the_error_log(self, make_control_plane):
        """Quit leaves no crash or open socket in the error log."""
        cp = make_control_plane()
        nginx = self.start_nginx(cp.xds_address)
        self.wait_connected(nginx)
        version = str(cp.put_upstream("app", self.backends.addresses).version)
        wait_until(lambda: nginx.status_json()["version"] == version,
                   what="status version %s" % version)
        # An old worker 0 with a running agent exits on reload, too.
        nginx.reload()
        self.wait_connected(nginx)

        nginx.quit()

        log = nginx.error_log()
        assert "exited on signal" not in log
        assert "open socket" not in log
        assert nginx.bad_log_lines() == []
        assert "xds agent started" in log
        assert log.count("xds agent started") == log.count("xds agent stopped")

    def test_stop_leaves_no_crash_or_open_socket_in_the_error_log(self, make_control_plane):
        """Stop leaves no crash or open socket in the error log."""
        cp = make_control_plane()
        nginx = self.start_nginx(cp.xds_address)
        self.wait_connected(nginx)

        nginx.stop()

        log = nginx.error_log()
        assert "exited on signal" not in log
        assert "open socket" not in log
        assert nginx.bad_log_lines() == []

    def test_starts_and_serves_with_the_control_plane_down_then_connects(self, make_control_plane):
        """Starts and serves with the control plane down then connects."""
        port = free_port()
        nginx = self.start_nginx("127.0.0.1:%d" % port)

        response = nginx.get("/app/")
        assert (response.status, response.body) == (200, "%d\n" % self.backends.backend_ports[0])
        status = nginx.status_json()
        assert status["connected"] is False
        assert status["version"] is None

        cp = make_control_plane(xds_port=port)
        version = str(cp.put_upstream("app", self.backends.addresses).version)
        # The agent's backoff may have grown while the control plane was down.
        self.wait_connected(nginx, timeout=60.0)
        # The agent may connect before the put: adopting nginx.conf's
        # upstreams then makes a later version than the put's.
        wait_until(
            lambda: int(nginx.status_json()["version"] or 0) >= int(version),
            what="status version %s or later" % version)
        response = nginx.get("/app/")
        assert (response.status, response.body) == (200, "%d\n" % self.backends.backend_ports[0])
        assert nginx.bad_log_lines() == []

    def test_restart_with_the_control_plane_down_applies_the_cached_version(
            self, processes, make_control_plane):
        """Restart with the control plane down applies the cached version."""
        cp = make_control_plane()
        nginx = processes.track(Nginx(server=PROXY))
        cache = os.path.join(nginx.make_cache_dir(), "snapshot.pb")
        nginx.http = ("xds_server %s;\nxds_cache %s;\n" % (cp.xds_address, cache) +
                      static_upstream(self.backends))
        nginx.start()
        self.wait_connected(nginx)
        version = str(cp.put_upstream("app", self.backends.addresses).version)
        wait_until(lambda: nginx.status_json()["version"] == version,
                   what="status version %s" % version)
        wait_until(lambda: os.path.exists(cache), what="the cache file %s" % cache)
        nginx.quit()
        cp.stop()

        nginx.start()

        wait_until(lambda: nginx.status_json()["version"] == version,
                   what="status version %s from the cache file" % version)
        assert nginx.status_json()["connected"] is False
        assert "from the cache file" in nginx.error_log()
        response = nginx.get("/app/")
        assert (response.status, response.body) == (200, "%d\n" % self.backends.backend_ports[0])
        assert nginx.bad_log_lines() == []

