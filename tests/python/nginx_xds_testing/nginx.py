"""nginx processes: Nginx (Debian's /usr/sbin/nginx with our module) and
Backends (a second Debian nginx with the echo module, each port answering its
own number). Their nginx.conf text comes from nginx_conf.py."""

import json
import os
import re
import shutil
import subprocess

from nginx_xds_testing import asan, nginx_conf, paths
from nginx_xds_testing.http_client import request
from nginx_xds_testing.processes import (children, cmdline, free_port, in_netns, kill_group,
                                         make_dir, netns_argv, port_accepts, read_file,
                                         start_process)
from nginx_xds_testing.waits import WaitTimeout, wait_until

NGINX = "/usr/sbin/nginx"

# Lines of an error log that always mean a bug.
BAD_LOG_PATTERNS = (
    re.compile(r"\[alert\]"),
    re.compile(r"\[emerg\]"),
    re.compile(r"exited on signal"),
    re.compile(r"open socket #\d+ left"),
)

class _NginxBase:
    """A Debian nginx in its own prefix directory, `daemon off` under us.

    The master runs in its own process group (its workers too), so cleanup
    kills them all. All paths (pid, logs, temp dirs) live under self.dir.
    """

    name = "nginx"

    def __init__(self, workers=1, error_log_level="info", netns=None, host="127.0.0.1"):
        self.dir = make_dir(self.name)
        self.workers = workers
        self.error_log_level = error_log_level
        self.netns = netns  # network namespace it runs in (None: ours)
        self.host = host  # the address it listens on
        self.process = None
        self.conf_path = os.path.join(self.dir, "nginx.conf")
        self.error_log_path = os.path.join(self.dir, "error.log")
        self.stderr_path = os.path.join(self.dir, "stderr.log")

    # Subclasses return the text of nginx.conf.
    def render(self):
        raise NotImplementedError

    def _http_paths(self):
        return nginx_conf.http_paths(self.dir)

    def _main_section(self, load_modules):
        return nginx_conf.main_section(self.dir, self.workers, self.error_log_path,
                                       self.error_log_level, load_modules)

    def write_conf(self):
        with open(self.conf_path, "w") as f:
            f.write(self.render())
        os.chmod(self.conf_path, 0o644)

    def env(self, oneshot=False):
        """The environment of a run of this nginx (oneshot: -t, -s); None: ours."""
        return None

    def nginx_cmd(self, *extra):
        return netns_argv(self.netns) + [NGINX, "-p", self.dir + "/", "-c", self.conf_path, "-e",
                self.error_log_path] + list(extra)

    def test_config(self):
        """Runs `nginx -t` on the current nginx.conf; returns (ok, output)."""
        self.write_conf()
        result = subprocess.run(self.nginx_cmd("-t"), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, timeout=60, env=self.env(True))
        return result.returncode == 0, result.stdout.decode("utf-8", "replace")

    def ports(self):
        raise NotImplementedError

    def _repick_ports(self):
        """Chooses new ports after EADDRINUSE; False if the ports were fixed."""
        return False

    def start(self, timeout=20.0):
        assert self.process is None, "%s already running" % self.name
        for attempt in range(3):
            self.write_conf()
            stderr = open(self.stderr_path, "ab")
            try:
                self.process = start_process(self.nginx_cmd(), stdout=stderr, stderr=stderr,
                                             stdin=subprocess.DEVNULL, env=self.env())
            finally:
                stderr.close()
            try:
                wait_until(self._ready, timeout=timeout,
                           what="%s to listen on %s with %d workers" %
                           (self.name, self.ports(), self.workers))
                return self
            except WaitTimeout:
                exited = self.process.poll() is not None
                output = self.error_log() + read_file(self.stderr_path)
                kill_group(self.process)
                self.process = None
                if exited and "Address already in use" in output and attempt < 2 \
                        and self._repick_ports():
                    continue
                raise AssertionError("%s did not start:\n%s" % (self.name, output))
        raise AssertionError("unreachable")

    def _ready(self):
        if self.process.poll() is not None:
            raise WaitTimeout("%s exited with %s" % (self.name, self.process.returncode))
        return (os.path.exists(os.path.join(self.dir, "nginx.pid"))
                and len(self.worker_pids()) == self.workers
                and all(in_netns(self.netns, port_accepts, p, self.host)
                        for p in self.ports()))

    @property
    def master_pid(self):
        return self.process.pid if self.process else None

    def worker_pids(self):
        """PIDs of the master's worker processes (not cache helpers)."""
        if self.process is None:
            return []
        return [pid for pid in children(self.process.pid)
                if cmdline(pid).startswith("nginx: worker process")]

    def signal(self, command):
        """`nginx -s command` (reload, reopen, quit, stop) through the pid file."""
        result = subprocess.run(self.nginx_cmd("-s", command), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, timeout=30, env=self.env(True))
        if result.returncode != 0:
            raise AssertionError("nginx -s %s failed: %s" %
                                 (command, result.stdout.decode("utf-8", "replace")))

    def reload(self, timeout=20.0):
        """`nginx -s reload` with the current config; waits for a full new set of workers.

        Returns the new worker pids. Fails if the old workers do not all exit.
        """
        old = set(self.worker_pids())
        self.write_conf()
        self.signal("reload")

        def reloaded():
            pids = set(self.worker_pids())
            return pids if len(pids) == self.workers and not pids & old else None

        return sorted(wait_until(reloaded, timeout=timeout,
                                 what="%d new workers replacing %s" % (self.workers, sorted(old))))

    def _wait_exit(self, timeout):
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s did not exit in %.0fs" % (self.name, timeout))
        finally:
            kill_group(self.process)
            self.process = None

    def quit(self, timeout=20.0):
        """`nginx -s quit` (graceful); waits for the master to exit."""
        if self.process is None:
            return
        self.signal("quit")
        self._wait_exit(timeout)

    def stop(self, timeout=20.0):
        """`nginx -s stop` (fast); waits for the master to exit."""
        if self.process is None:
            return
        self.signal("stop")
        self._wait_exit(timeout)

    def kill(self):
        if self.process is not None:
            kill_group(self.process)
            self.process = None

    def error_log(self):
        return read_file(self.error_log_path)

    def bad_log_lines(self):
        """Error-log lines that always mean a bug: alerts, emergencies, crashes, leaks."""
        return [line for line in self.error_log().splitlines()
                if any(p.search(line) for p in BAD_LOG_PATTERNS)]

    def asan_reports(self):
        """[(path, text)] of ASan reports (see ASAN); [] unless under ASan."""
        return []

    def cleanup(self, keep=False):
        """Kills what runs; removes the directory unless `keep`."""
        self.kill()
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)


class Backends(_NginxBase):
    """One Debian nginx with the echo module, answering its own port number.

    Backends(3).addresses == ["127.0.0.1:P1", ...]; GET / on Pi returns "Pi\\n".
    """

    name = "backends"

    def __init__(self, count=2, ports=None, netns=None, host="127.0.0.1"):
        super().__init__(workers=1, error_log_level="warn", netns=netns, host=host)
        self.fixed = ports is not None
        self.backend_ports = list(ports) if ports else [free_port() for _ in range(count)]

    def ports(self):
        return list(self.backend_ports)

    def _repick_ports(self):
        if self.fixed:
            return False
        self.backend_ports = [free_port() for _ in self.backend_ports]
        return True

    @property
    def addresses(self):
        return ["%s:%d" % (self.host, p) for p in self.backend_ports]

    def render(self):
        return nginx_conf.echo_backends(self._main_section([nginx_conf.ECHO_MODULE]), self.dir,
                                        self.host, self.backend_ports)


class Nginx(_NginxBase):
    """Debian's /usr/sbin/nginx with our module, 2 workers by default.

    `http` is added to the http block (xds_* directives, upstreams);
    `server` to the one server block, which listens on 127.0.0.1:self.port
    and has `location = /xds/status { xds_status; }` unless status=False.
    Change .http/.server and call reload() to apply a new config.
    """

    name = "nginx"

    def __init__(self, http="", server="", workers=2, port=None, module=None, status=True,
                 error_log_level="info", netns=None, host="127.0.0.1"):
        super().__init__(workers=workers, error_log_level=error_log_level, netns=netns,
                         host=host)
        self.module = os.path.abspath(module or paths.NGINX_MODULE)
        if asan.ASAN:
            # ASan symbolizes in the process: workers (nobody) cannot read under /root
            self.module = shutil.copy(self.module, self.dir)
        self.http = http
        self.server = server
        self.status = status
        self.fixed = port is not None
        self.port = port or free_port()

    def ports(self):
        return [self.port]

    def env(self, oneshot=False):
        # `nginx -t` (when it fails) and `nginx -s` return from main() without
        # freeing nginx's init_cycle pool (1024 bytes): no leak check there.
        return asan.asan_env(os.path.join(self.dir, "asan"), not oneshot) if asan.ASAN else None

    def asan_reports(self):
        """Under ASan: quits (graceful, so exit paths and leak checks run), then the reports."""
        if not asan.ASAN:
            return []
        try:
            self.quit()
        except (AssertionError, subprocess.SubprocessError):
            self.kill()
        return asan.asan_reports(os.path.join(self.dir, "asan"))

    def make_cache_dir(self):
        """DIR/cache, writable by the workers (`nobody` when run as root), for xds_cache."""
        path = os.path.join(self.dir, "cache")
        os.makedirs(path, exist_ok=True)
        os.chmod(path, 0o777)
        return path

    def _repick_ports(self):
        if self.fixed:
            return False
        self.port = free_port()
        return True

    def render(self):
        return nginx_conf.module_nginx(self._main_section([self.module]), self.dir, self.host,
                                       self.port, self.http, self.server, self.status)

    def get(self, path="/", **kwargs):
        """GET from inside its network namespace; Response(status, headers, body)."""
        return self.request("GET", path, **kwargs)

    def request(self, method, path, body=None, headers=None, timeout=10.0, port=None):
        """One request to this nginx (`port`, default .port) from inside its
        network namespace; Response(status, headers, body)."""
        return in_netns(self.netns, request, port or self.port, method, path, body=body,
                        headers=headers, host=self.host, timeout=timeout)

    def status_json(self):
        """GET /xds/status?format=json, parsed."""
        code, _, body = self.request("GET", "/xds/status?format=json")
        if code != 200:
            raise AssertionError("status page answered %d: %s" % (code, body))
        return json.loads(body)

    def status_text(self):
        """GET /xds/status as text: ({"connected": "yes", ...}, the whole body)."""
        code, _, body = self.request("GET", "/xds/status")
        if code != 200:
            raise AssertionError("status page answered %d: %s" % (code, body))
        fields = {}
        for line in body.splitlines():
            if line.startswith("upstreams:"):
                break
            key, sep, value = line.partition(": ")
            if sep:
                fields[key.strip()] = value.strip()
        return fields, body
