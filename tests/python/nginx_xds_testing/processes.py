"""Processes the tests start: each in its own session (process group), tracked
so that every one is SIGKILLed at the latest when the interpreter exits, also
on SIGTERM from Bazel's test timeout (fixtures.py installs on_fatal_signal).
Also: temp dirs nginx's workers can read, free ports, network namespaces.
"""

import atexit
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading

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



# --------------------------------------------------------------------------
# Ports


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(port, host="127.0.0.1"):
    """True when host:port accepts a TCP connection."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


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
            sys.stderr.write("nginx_xds_testing: exit hook %r failed: %s\n" % (hook, e))


def on_fatal_signal(signum, frame):
    """SIGTERM/SIGINT handler (Bazel's timeout): kill everything, then exit."""
    kill_all()
    sys.stderr.write("nginx_xds_testing: signal %d, killed every started process\n" % signum)
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


def read_file(path):
    """The text of `path`, "" if it does not exist."""
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def children(pid):
    """PIDs whose parent is `pid`, from /proc."""
    result = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = read_file("/proc/%s/stat" % entry)
        if not stat:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses.
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            result.append(int(entry))
    return sorted(result)


def cmdline(pid):
    return read_file("/proc/%d/cmdline" % pid).replace("\0", " ").strip()
