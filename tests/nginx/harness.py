"""Integration-test harness: starts the real processes on 127.0.0.1.

Everything here runs real binaries: the control plane
(//controlplane:nginx-xds-controlplane), Debian's /usr/sbin/nginx with our
module (//nginx_module:ngx_http_xds_module.so), and backends served by a
second Debian nginx with the echo module. Ports are chosen at run time.

Each of them can also run inside a network namespace (netns="NAME", see
in_netns()) and listen on another address (host="10.0.0.1"): the multi-host
tests (tests/netns/) build their hosts that way.

Each test script is started by tests/nginx/run_py_test.sh with Debian's
/usr/bin/python3 and these arguments (from BUILD's $(location ...)):

    --nginx_module=PATH     our dynamic module
    --controlplane=PATH     the control plane binary

Every process started here runs in its own process group and is killed
(SIGKILL to the group) at the latest when the interpreter exits, also on
SIGTERM from Bazel's test timeout. Waiting is done by polling with
wait_until(), which fails with a message saying what it waited for; tests
assert behaviour, never timing.
"""

import argparse
import atexit
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest

import grpc

from nginx_xds.v1 import management_pb2
from nginx_xds.v1 import management_pb2_grpc
from nginx_xds.v1 import upstream_pb2

NGINX = "/usr/sbin/nginx"
ECHO_MODULE = "/usr/lib/nginx/modules/ngx_http_echo_module.so"

# Set by main() from the command line.
PATHS = argparse.Namespace(nginx_module=None, controlplane=None)

# Lines of an error log that always mean a bug.
BAD_LOG_PATTERNS = (
    re.compile(r"\[alert\]"),
    re.compile(r"\[emerg\]"),
    re.compile(r"exited on signal"),
    re.compile(r"open socket #\d+ left"),
)


# --------------------------------------------------------------------------
# Polling and ports


class WaitTimeout(AssertionError):
    """wait_until() gave up."""


def wait_until(predicate, timeout=15.0, interval=0.05, what=None):
    """Polls `predicate` until it returns something truthy and returns that.

    Exceptions from `predicate` count as "not yet". On timeout raises
    WaitTimeout naming `what` (or the predicate) with the last value or
    exception seen.
    """
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last = repr(value)
        except Exception as e:  # pylint: disable=broad-except
            last = "%s: %s" % (type(e).__name__, e)
        if time.monotonic() >= deadline:
            name = what or getattr(predicate, "__name__", repr(predicate))
            raise WaitTimeout("timed out after %.1fs waiting for %s; last: %s" %
                              (timeout, name, last))
        time.sleep(interval)


# --------------------------------------------------------------------------
# Network namespaces (ip netns)

_CLONE_NEWNET = 0x40000000


def netns_argv(netns):
    """The prefix that runs a command inside network namespace `netns` (None: here)."""
    return ["ip", "netns", "exec", netns] if netns else []


def in_netns(netns, fn, *args, **kwargs):
    """fn(*args, **kwargs) in a thread that joined network namespace `netns`.

    Sockets made by `fn` belong to that namespace (setns(2) moves only the
    calling thread). netns None: a plain call. Returns what fn returns,
    raises what it raises.
    """
    if not netns:
        return fn(*args, **kwargs)
    import ctypes  # pylint: disable=import-outside-toplevel
    result = {}

    def run():
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open("/run/netns/%s" % netns, os.O_RDONLY)
            try:
                if libc.setns(fd, _CLONE_NEWNET) != 0:
                    errno = ctypes.get_errno()
                    raise OSError(errno, "setns(%s): %s" % (netns, os.strerror(errno)))
            finally:
                os.close(fd)
            result["value"] = fn(*args, **kwargs)
        except BaseException as e:  # pylint: disable=broad-except
            result["error"] = e

    thread = threading.Thread(target=run, name="netns-%s" % netns, daemon=True)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def http_get(port, path="/", timeout=5.0, headers=None, host="127.0.0.1"):
    """GET http://host:port/path, no proxy; returns (status, body str)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


# --------------------------------------------------------------------------
# Processes and cleanup

_live = []
_live_lock = threading.Lock()


def _register(process):
    with _live_lock:
        _live.append(process)


def _unregister(process):
    with _live_lock:
        if process in _live:
            _live.remove(process)


def kill_group(process):
    """SIGKILLs the process group of `process` (started with a new session)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    _unregister(process)


_exit_hooks = []


def at_exit(hook):
    """Runs hook() after kill_all() at exit, also on SIGTERM/SIGINT (e.g. to
    delete network namespaces once nothing runs in them). Once each."""
    _exit_hooks.append(hook)


def kill_all():
    with _live_lock:
        processes = list(_live)
    for process in processes:
        kill_group(process)
    while _exit_hooks:
        hook = _exit_hooks.pop()
        try:
            hook()
        except Exception as e:  # pylint: disable=broad-except
            sys.stderr.write("harness: exit hook %r failed: %s\n" % (hook, e))


def _on_sigterm(signum, frame):
    kill_all()
    sys.stderr.write("harness: signal %d, killed every started process\n" % signum)
    os._exit(128 + signum)


atexit.register(kill_all)


def start_process(argv, **kwargs):
    """Popen in a new session (its own process group), tracked for cleanup."""
    process = subprocess.Popen(argv, start_new_session=True, **kwargs)
    _register(process)
    return process


def make_dir(prefix):
    """A fresh directory under /tmp that nginx's workers (nobody) can read.

    Bazel's TEST_TMPDIR lives under /root, which `nobody` cannot traverse.
    """
    path = tempfile.mkdtemp(prefix="nginx-xds-%s-" % prefix, dir="/tmp")
    os.chmod(path, 0o755)
    return path


def _read(path):
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def _children(pid):
    """PIDs whose parent is `pid`, from /proc."""
    result = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _read("/proc/%s/stat" % entry)
        if not stat:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses.
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            result.append(int(entry))
    return sorted(result)


def _cmdline(pid):
    return _read("/proc/%d/cmdline" % pid).replace("\0", " ").strip()


# --------------------------------------------------------------------------
# AddressSanitizer (opt-in; tests/nginx/asan.sh)
#
# With NGINX_XDS_ASAN=1 in the environment, and the module built with
# --config=asan, every run of the nginx under test (Nginx: the server,
# `nginx -t`, `nginx -s`; not the echo Backends) gets the ASan runtime in
# LD_PRELOAD: Debian's nginx is not instrumented, and dlopen() of an
# instrumented module fails unless the runtime was loaded first. ASan writes
# each report to DIR/asan/asan.PID. At cleanup, Nginx quits gracefully (so
# exit paths and LeakSanitizer run too) and TestCase fails the test if any
# report appeared, printing it.

ASAN = os.environ.get("NGINX_XDS_ASAN") == "1"


def asan_env(directory, detect_leaks=True):
    """os.environ plus LD_PRELOAD and ASAN_OPTIONS reporting into `directory`."""
    runtime = subprocess.run(["gcc", "-print-file-name=libasan.so"], stdout=subprocess.PIPE,
                             check=True).stdout.decode().strip()
    if not os.path.isabs(runtime):
        raise AssertionError("NGINX_XDS_ASAN=1 but gcc knows no libasan.so")
    os.makedirs(directory, exist_ok=True)
    os.chmod(directory, 0o777)  # workers run as nobody
    env = dict(os.environ)
    env["LD_PRELOAD"] = runtime
    env["ASAN_OPTIONS"] = ":".join(filter(None, [
        os.environ.get("ASAN_OPTIONS"),
        "log_path=%s" % os.path.join(directory, "asan"),
        "abort_on_error=0",
        "halt_on_error=1",
        "detect_leaks=%d" % detect_leaks,
        "fast_unwind_on_malloc=0",  # nginx has no frame pointers: full stacks
    ]))
    # A worker's connection and event arrays stay reachable at exit only
    # through epoll's event list, whose epoll_event is packed: pointers there
    # are unaligned.
    env["LSAN_OPTIONS"] = ":".join(filter(None, [os.environ.get("LSAN_OPTIONS"),
                                                 "use_unaligned=1"]))
    return env


def asan_reports(directory):
    """[(path, text)] of the ASan reports written into `directory`."""
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    return [(os.path.join(directory, n), _read(os.path.join(directory, n))) for n in names]


# --------------------------------------------------------------------------
# Control plane


class ControlPlane:
    """//controlplane:nginx-xds-controlplane on 127.0.0.1, plus gRPC helpers.

    start() picks ports (0) unless given, reads `xds_port=`/`admin_port=`
    (and `http_port=`, the HTTP gateway's) from its stdout. stop() and
    start() again keep data_dir and ports, so a restart is
    `cp.stop(); cp.start()`.

    netns="NAME" runs it inside that network namespace, with ADS on
    xds_host (admin and HTTP stay on the namespace's loopback); then there
    are no gRPC stubs here (use the HTTP gateway through in_netns).
    extra_args are appended to its command line.
    """

    def __init__(self, binary=None, data_dir=None, xds_port=0, admin_port=0, http_port=0,
                 netns=None, xds_host="127.0.0.1", extra_args=()):
        self.binary = binary or PATHS.controlplane
        self.dir = data_dir or make_dir("controlplane")
        self.xds_port = xds_port
        self.admin_port = admin_port
        self.http_port = http_port
        self.netns = netns
        self.xds_host = xds_host
        self.extra_args = list(extra_args)
        self.process = None
        self.channel = None
        self.upstreams = None
        self.fleet = None
        self.log_path = os.path.join(self.dir, "controlplane.log")

    @property
    def xds_address(self):
        return "%s:%d" % (self.xds_host, self.xds_port)

    @property
    def http_address(self):
        """The HTTP gateway's host:port (/dynamic, dyups, /fleet/status)."""
        return "127.0.0.1:%d" % self.http_port

    def start(self, timeout=20.0):
        assert self.process is None, "control plane already running"
        argv = netns_argv(self.netns) + [
            self.binary,
            "--xds_listen=%s:%d" % (self.xds_host, self.xds_port),
            "--admin_listen=127.0.0.1:%d" % self.admin_port,
            "--http_listen=127.0.0.1:%d" % self.http_port,
            "--data_dir=%s" % os.path.join(self.dir, "data"),
        ] + self.extra_args
        log = open(self.log_path, "ab")
        try:
            self.process = start_process(argv, stdout=subprocess.PIPE, stderr=log,
                                         stdin=subprocess.DEVNULL)
        finally:
            log.close()
        ports = {}
        deadline = time.monotonic() + timeout
        buffered = b""
        while not {"xds_port", "admin_port", "http_port"} <= set(ports):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._fail("did not print its ports in %.0fs" % timeout)
            ready, _, _ = select.select([self.process.stdout], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self.process.stdout.fileno(), 4096)
            if not chunk:
                self._fail("exited before printing its ports")
            buffered += chunk
            for line in buffered.decode("utf-8", "replace").splitlines():
                m = re.match(r"^(xds_port|admin_port|http_port)=(\d+)$", line.strip())
                if m:
                    ports[m.group(1)] = int(m.group(2))
        self.xds_port = ports["xds_port"]
        self.admin_port = ports["admin_port"]
        self.http_port = ports["http_port"]
        if self.netns:
            return self
        self.channel = grpc.insecure_channel("127.0.0.1:%d" % self.admin_port)
        grpc.channel_ready_future(self.channel).result(timeout=timeout)
        self.upstreams = management_pb2_grpc.UpstreamServiceStub(self.channel)
        self.fleet = management_pb2_grpc.FleetServiceStub(self.channel)
        return self

    def _fail(self, why):
        if self.process is not None:
            kill_group(self.process)
            self.process = None
        raise AssertionError("control plane %s; its log:\n%s" % (why, _read(self.log_path)))

    def stop(self, timeout=10.0):
        """SIGTERM, then SIGKILL if it does not exit in `timeout`."""
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.process is None:
            return
        try:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        finally:
            if self.process.stdout:
                self.process.stdout.close()
            kill_group(self.process)
            self.process = None

    def kill(self):
        """SIGKILL, no chance to clean up."""
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.process is not None:
            if self.process.stdout:
                self.process.stdout.close()
            kill_group(self.process)
            self.process = None

    def log(self):
        return _read(self.log_path)

    # -- management API ----------------------------------------------------

    @staticmethod
    def server(address, **fields):
        """An nginx_xds.v1.Server: server("127.0.0.1:80", weight=2, backup=True)."""
        return upstream_pb2.Server(address=address, **fields)

    @classmethod
    def upstream(cls, name, servers, **fields):
        """An nginx_xds.v1.Upstream; `servers` are addresses or Server messages."""
        return upstream_pb2.Upstream(
            name=name,
            servers=[s if isinstance(s, upstream_pb2.Server) else cls.server(s) for s in servers],
            **fields)

    def put_upstream(self, name, servers, fleet="", timeout=15.0, **fields):
        """Creates or replaces upstream `name`; returns the WriteResponse."""
        return self.upstreams.PutUpstream(
            management_pb2.PutUpstreamRequest(fleet=fleet,
                                              upstream=self.upstream(name, servers, **fields)),
            timeout=timeout)

    def delete_upstream(self, name, fleet="", timeout=15.0):
        return self.upstreams.DeleteUpstream(
            management_pb2.DeleteUpstreamRequest(fleet=fleet, name=name), timeout=timeout)

    def get_upstream(self, name, fleet="", timeout=15.0):
        return self.upstreams.GetUpstream(
            management_pb2.GetUpstreamRequest(fleet=fleet, name=name), timeout=timeout)

    def list_upstreams(self, fleet="", timeout=15.0):
        return self.upstreams.ListUpstreams(
            management_pb2.ListUpstreamsRequest(fleet=fleet), timeout=timeout)

    def add_server(self, upstream, address, fleet="", timeout=15.0, **fields):
        return self.upstreams.AddServer(
            management_pb2.AddServerRequest(fleet=fleet, upstream=upstream,
                                            server=self.server(address, **fields)),
            timeout=timeout)

    def remove_server(self, upstream, address, fleet="", timeout=15.0):
        return self.upstreams.RemoveServer(
            management_pb2.RemoveServerRequest(fleet=fleet, upstream=upstream, address=address),
            timeout=timeout)

    def update_server(self, upstream, address, fleet="", timeout=15.0, **fields):
        """Changes only the given fields (weight=, down=, ...) of one server."""
        return self.upstreams.UpdateServer(
            management_pb2.UpdateServerRequest(fleet=fleet, upstream=upstream, address=address,
                                               **fields),
            timeout=timeout)

    def fleet_status(self, fleet="", timeout=15.0):
        """nginx_xds.v1.FleetStatus of `fleet` (every fleet when empty)."""
        return self.fleet.GetFleetStatus(management_pb2.GetFleetStatusRequest(fleet=fleet),
                                         timeout=timeout)

    def node_status(self, node_id, fleet=""):
        """The NodeStatus of `node_id`, or None when the control plane knows no such node."""
        for node in self.fleet_status(fleet).nodes:
            if node.id == node_id:
                return node
        return None


# --------------------------------------------------------------------------
# nginx


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

    def _main_section(self, load_modules):
        lines = ["load_module %s;" % m for m in load_modules]
        lines += [
            "daemon off;",
            "master_process on;",
            "worker_processes %d;" % self.workers,
            "pid %s/nginx.pid;" % self.dir,
            "error_log %s %s;" % (self.error_log_path, self.error_log_level),
            "events { worker_connections 1024; }",
        ]
        return "\n".join(lines) + "\n"

    def _http_paths(self):
        d = self.dir
        return textwrap.dedent("""\
            access_log off;
            client_body_temp_path {d}/client_body_temp;
            proxy_temp_path {d}/proxy_temp;
            fastcgi_temp_path {d}/fastcgi_temp;
            uwsgi_temp_path {d}/uwsgi_temp;
            scgi_temp_path {d}/scgi_temp;
            """).format(d=d)

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
                output = self.error_log() + _read(self.stderr_path)
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
        return [pid for pid in _children(self.process.pid)
                if _cmdline(pid).startswith("nginx: worker process")]

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
        return _read(self.error_log_path)

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
        servers = "".join(
            "    server {\n"
            "        listen %s:%d;\n"
            "        location / { echo %d; }\n"
            "    }\n" % (self.host, port, port) for port in self.backend_ports)
        return (self._main_section([ECHO_MODULE]) + "http {\n" +
                textwrap.indent(self._http_paths(), "    ") + servers + "}\n")


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
        self.module = os.path.abspath(module or PATHS.nginx_module)
        if ASAN:
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
        return asan_env(os.path.join(self.dir, "asan"), not oneshot) if ASAN else None

    def asan_reports(self):
        """Under ASan: quits (graceful, so exit paths and leak checks run), then the reports."""
        if not ASAN:
            return []
        try:
            self.quit()
        except (AssertionError, subprocess.SubprocessError):
            self.kill()
        return asan_reports(os.path.join(self.dir, "asan"))

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
        status = "location = /xds/status { xds_status; }\n" if self.status else ""
        server = ("server {\n"
                  "    listen %s:%d;\n" % (self.host, self.port) +
                  textwrap.indent(status + textwrap.dedent(self.server), "    ") +
                  "}\n")
        http = self._http_paths() + textwrap.dedent(self.http) + server
        return (self._main_section([self.module]) + "http {\n" +
                textwrap.indent(http, "    ") + "}\n")

    def get(self, path="/", **kwargs):
        """GET from inside its network namespace."""
        return in_netns(self.netns, http_get, self.port, path, host=self.host, **kwargs)

    def status_json(self):
        """GET /xds/status?format=json, parsed."""
        code, body = self.get("/xds/status?format=json")
        if code != 200:
            raise AssertionError("status page answered %d: %s" % (code, body))
        return json.loads(body)

    def status_text(self):
        """GET /xds/status as text: ({"connected": "yes", ...}, the whole body)."""
        code, body = self.get("/xds/status")
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


# --------------------------------------------------------------------------
# Test entry point


class TestCase(unittest.TestCase):
    """unittest.TestCase whose failures show the logs of what it started.

    Register things with self.track(x): each is cleaned up after the test
    (nginx: killed, dir removed; control plane: stopped), and on failure
    their logs are printed.
    """

    def track(self, thing):
        self.addCleanup(self._cleanup, thing)
        return thing

    def _cleanup(self, thing):
        failed = self._failed()
        keep = failed or bool(os.environ.get("KEEP_TEST_DIRS"))
        if isinstance(thing, _NginxBase):
            reports = thing.asan_reports()
            if failed or reports:
                sys.stderr.write("\n--- %s error log (%s) ---\n%s\n" %
                                 (thing.name, thing.dir, thing.error_log()))
            thing.cleanup(keep=keep or bool(reports))
            if reports:
                raise AssertionError("AddressSanitizer reports from %s:\n%s" % (
                    thing.name, "\n".join("--- %s ---\n%s" % r for r in reports)))
        elif isinstance(thing, ControlPlane):
            if failed:
                sys.stderr.write("\n--- control plane log (%s) ---\n%s\n" %
                                 (thing.dir, thing.log()))
            thing.stop()
            if not keep:
                shutil.rmtree(thing.dir, ignore_errors=True)

    def _failed(self):
        # Cleanups run inside their own "test part", so outcome.success says
        # nothing about the test here: look at what was reported.
        outcome = getattr(self, "_outcome", None)
        if outcome is None:
            return False
        errors = getattr(outcome, "errors", None)
        if errors is not None:  # Python < 3.11
            return any(exc_info for _, exc_info in errors)
        result = outcome.result
        return any(test is self for test, _ in list(result.errors) + list(result.failures))


def main():
    """Parses the harness' flags, then runs unittest with the rest."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--nginx_module")
    parser.add_argument("--controlplane")
    known, rest = parser.parse_known_args()
    for key, value in vars(known).items():
        if value:
            setattr(PATHS, key, os.path.abspath(value))
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, _on_sigterm)
    try:
        unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
    finally:
        kill_all()
