"""Real gRPC processes of the xDS client tests: helloworld backends
(greeter_server.cjs) and proxyless clients that call `xds:///TARGET`
(greeter_xds_client, gRPC C++; greeter_xds_client.cjs, @grpc/grpc-js-xds).

Both clients read `call N` on stdin and answer one JSON line:
{"ok": {"PORT": calls}, "errors": {"CODE: message": calls}}.
The npm packages come from tests/tools/node_modules (NGINX_XDS_ROOT).
"""

import json
import os
import select
import subprocess
import time

from nginx_xds_testing.processes import kill_group, start_process

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(HERE, "helloworld.proto")


def node_env(extra=None):
    root = os.environ.get("NGINX_XDS_ROOT")
    assert root, "set NGINX_XDS_ROOT to the repository root (tests/run.sh does)"
    modules = os.path.join(root, "tests", "tools", "node_modules")
    assert os.path.isdir(os.path.join(modules, "@grpc", "grpc-js-xds")), (
        "%s/@grpc/grpc-js-xds is missing: run tools/install_deps.sh --with-test-tools" % modules)
    env = dict(os.environ, NODE_PATH=modules)
    env.update(extra or {})
    return env


def _read_line(process, timeout, what):
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        assert remaining > 0, "%s answered nothing in %.0fs" % (what, timeout)
        ready, _, _ = select.select([process.stdout], [], [], remaining)
        if ready:
            chunk = os.read(process.stdout.fileno(), 1)
            assert chunk, "%s exited (status %s)" % (what, process.poll())
            line += chunk
    return line.decode()


class GreeterBackend:
    """One helloworld backend on 127.0.0.1; answers calls with its port."""

    def __init__(self):
        self.process = None
        self.port = None

    def start(self):
        self.process = start_process(["node", os.path.join(HERE, "greeter_server.cjs"), PROTO],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=node_env())
        line = _read_line(self.process, 20, "greeter backend")
        assert line.startswith("port="), line
        self.port = int(line.strip().split("=")[1])
        return self

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def stop(self):
        if self.process:
            kill_group(self.process)
            self.process = None

    cleanup = stop


class GreeterClient:
    """A proxyless gRPC client of `xds:///target`, kind "cpp" or "node"."""

    def __init__(self, kind, target, bootstrap_path, cpp_binary):
        self.kind = kind
        self.target = target
        self.bootstrap_path = bootstrap_path
        self.cpp_binary = cpp_binary
        self.process = None
        self.stderr_path = bootstrap_path + ".%s.stderr" % kind

    def start(self):
        if self.kind == "cpp":
            argv = [self.cpp_binary, self.target]
        else:
            argv = ["node", os.path.join(HERE, "greeter_xds_client.cjs"), PROTO, self.target]
        with open(self.stderr_path, "ab") as stderr:
            self.process = start_process(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                env=node_env({"GRPC_XDS_BOOTSTRAP": self.bootstrap_path}))
        return self

    def call(self, count):
        """Makes `count` calls (1 s deadline each); returns (ok, errors) dicts."""
        self.process.stdin.write(b"call %d\n" % count)
        self.process.stdin.flush()
        answer = json.loads(_read_line(self.process, 5 + 1.5 * count,
                                       "%s client" % self.kind))
        return ({int(port): n for port, n in answer["ok"].items()}, answer["errors"])

    def stderr(self):
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def cleanup(self):
        if self.process:
            kill_group(self.process)
            self.process = None
