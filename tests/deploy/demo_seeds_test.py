"""The local demo (deploy/local/run.sh) answers every curl sample of both seeds.

Runs the real `deploy/local/run.sh --detach` with the binaries Bazel built
(NGINX_XDS_PREBUILT_DIR), on ports picked at run time and in directories of
its own, then replays every curl sample of seeds/000_*.txt (ngx_dynamic_upstream)
and seeds/002_*.txt (dyups) in the seeds' order with the real curl, the
seeds' port numbers rewritten to the ones picked, and compares what curl
prints with what the seed shows. `run.sh --stop` runs at the end whatever
happens (also on SIGTERM from Bazel's timeout), and must leave nothing running.

How a seed's text is read (the seed is the specification; only what a
terminal transcript cannot show is interpreted):
- Seed 000 ends every output with its `$` prompt line: the output is exactly
  the lines before it, each with its newline, byte for byte.
- Seed 002 separates its samples with a blank line after the output, and
  shows `success` (sent without a newline) the same way: the output is
  compared byte for byte without its trailing newlines. nginx's error pages
  end their lines with CRLF, which a transcript shows as LF, and name the
  nginx version: the seed's page is nginx 1.3.13's (`nginx/1.3.13`, `<body
  bgcolor="white">`), this is Debian's 1.22.1, whose page differs in exactly
  those two places.
- The seeds show no status codes: a body shown is a 200, except the error
  page, whose status its title names. `curl -i` prints the headers too; the
  seed shows the body only: its status line gives the status, the body is
  compared.
- Seed 002's two requests to dyhost show its round robin: 8089, then 8088.
  The seed's nginx had one worker; the demo's nginx B has two, which share
  the round robin of an upstream created at run time, so the answers are
  the seed's whichever worker serves each request.
- Seed 000's sections are separate examples, each on the quick start's
  upstream (its `down` shows 6003 with weight=1 right after
  `update_parameters` set weight=10): after `update_parameters` the test puts
  6003's parameters back through the same API before `down`.
"""

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SEED_000 = os.path.join(HERE, "seeds", "000_59109e887a8ae79c.txt")
SEED_002 = os.path.join(HERE, "seeds", "002_3d95cf40022fd417.txt")

# The ports the seeds use, and the variable of deploy/local/run.sh for each.
SEED_PORTS = {
    6000: "NGINX_XDS_SEED000_PORT",
    8080: "NGINX_XDS_SEED002_PORT",
    8081: "NGINX_XDS_SEED002_DYUPS_PORT",
}
SEED000_BACKENDS = (6001, 6002, 6003, 6004)
SEED002_BACKENDS = (8088, 8089)
ALL_SEED_PORTS = tuple(SEED_PORTS) + SEED000_BACKENDS + SEED002_BACKENDS
CONTROL_PLANE_PORTS = ("NGINX_XDS_XDS_PORT", "NGINX_XDS_ADMIN_PORT", "NGINX_XDS_HTTP_PORT")
PORT_RE = re.compile(r"(?<![\d.])(%s)(?!\d)" % "|".join(str(p) for p in ALL_SEED_PORTS))


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def code_blocks(text):
    """The bodies of the ``` fenced blocks of a markdown text, as line lists."""
    return [m.group(1).split("\n") for m in re.finditer(r"```[a-z]*\n(.*?)\n?```", text, re.S)]


class Sample:
    """One curl command of a seed and what the seed shows it prints."""

    def __init__(self, seed, section, command, output, exact):
        self.seed = seed
        self.section = section
        self.command = command      # without the prompt
        self.output = output        # the lines the seed shows
        self.exact = exact          # True: output + "\n" per line is the exact stdout

    def __repr__(self):
        return "seed %s [%s] $ %s" % (self.seed, self.section, self.command)


def seed_000_samples():
    """Seed 000: `$ curl ...`, the output lines, then a `$` line."""
    samples = []
    text = read(SEED_000)
    section = None
    for block_start, block in _blocks_with_sections(text):
        section = block_start or section
        command, output = None, []
        for line in block:
            if line.startswith("$ curl "):
                command, output = line[2:], []
            elif line == "$":
                assert command, "a $ line without a command in seed 000"
                samples.append(Sample("000", section, command, output, exact=True))
                command = None
            elif command is not None:
                output.append(line)
        assert command is None, "seed 000: %s has no closing $ line" % command
    return samples


def _blocks_with_sections(text):
    """(the `## section` heading just before it, or None; lines) of each bash block."""
    result = []
    heading = None
    for m in re.finditer(r"^## ([^\n]+)$|^```bash\n(.*?)\n?```", text, re.S | re.M):
        if m.group(1) is not None:
            heading = m.group(1).strip()
        else:
            result.append((heading, m.group(2).split("\n")))
            heading = None
    return result


def seed_002_samples():
    """Seed 002's `## Sample` block: `» curl ...` lines, each followed by its output."""
    text = read(SEED_002)
    sample_block = text[text.index("## Sample"):]
    block = code_blocks(sample_block)[0]
    samples = []
    command, output = None, []
    for line in block + ["» end"]:
        if line.startswith("» "):
            if command is not None:
                while output and output[-1] == "":
                    output.pop()
                samples.append(Sample("002", "Sample", command, output, exact=False))
            command, output = line[2:], []
        elif command is not None:
            output.append(line)
    return samples


def free_ports(count):
    """`count` distinct TCP ports on 127.0.0.1 that were free a moment ago."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class Demo:
    """deploy/local/run.sh on free ports, in directories of its own."""

    def __init__(self, root, prebuilt):
        self.root = root
        self.base = tempfile.mkdtemp(prefix="nginx-xds-demo-test-", dir="/tmp")
        os.chmod(self.base, 0o755)
        self.prebuilt = prebuilt
        self.ports = {}
        self.cp_ports = {}
        self.started = False

    @property
    def state_dir(self):
        return os.path.join(self.base, "state")

    @property
    def run_dir(self):
        return os.path.join(self.base, "run")

    def env(self):
        env = {k: v for k, v in os.environ.items()
               if not k.lower().endswith("_proxy") and not k.startswith("NGINX_XDS_")}
        env.update({
            "NGINX_XDS_PREBUILT_DIR": self.prebuilt,
            "NGINX_XDS_DEMO_STATE_DIR": self.state_dir,
            "NGINX_XDS_DEMO_RUN_DIR": self.run_dir,
            "NGINX_XDS_SEED000_BACKEND_PORTS": " ".join(
                str(self.ports[p]) for p in SEED000_BACKENDS),
            "NGINX_XDS_SEED002_BACKEND_PORTS": " ".join(
                str(self.ports[p]) for p in SEED002_BACKENDS),
        })
        for seed_port, variable in SEED_PORTS.items():
            env[variable] = str(self.ports[seed_port])
        env.update({k: str(v) for k, v in self.cp_ports.items()})
        return env

    def run_sh(self, *args, timeout=120):
        return subprocess.run([os.path.join(self.root, "deploy/local/run.sh")] + list(args),
                              env=self.env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=timeout)

    def start(self):
        """run.sh --detach; on a port someone took meanwhile, again on new ports."""
        for attempt in range(3):
            picked = free_ports(len(ALL_SEED_PORTS) + len(CONTROL_PLANE_PORTS))
            self.ports = dict(zip(ALL_SEED_PORTS, picked))
            self.cp_ports = dict(zip(CONTROL_PLANE_PORTS, picked[len(ALL_SEED_PORTS):]))
            self.started = True
            result = self.run_sh("--detach")
            output = result.stdout.decode("utf-8", "replace")
            if result.returncode == 0:
                return output
            self.stop()
            taken = re.search(r"Address already in use|cannot listen on", self.logs() + output)
            if not taken or attempt == 2:
                raise AssertionError("run.sh --detach failed (%d):\n%s\n%s" %
                                     (result.returncode, output, self.logs()))
            shutil.rmtree(self.state_dir, ignore_errors=True)
        raise AssertionError("unreachable")

    def stop(self):
        if not self.started:
            return ""
        result = self.run_sh("--stop", timeout=90)
        return result.stdout.decode("utf-8", "replace")

    def logs(self):
        text = []
        for directory in (self.state_dir, self.run_dir):
            if not os.path.isdir(directory):
                continue
            for name in sorted(os.listdir(directory)):
                if name.endswith((".log", ".out")):
                    with open(os.path.join(directory, name), errors="replace") as f:
                        text.append("--- %s ---\n%s" % (name, f.read()[-4000:]))
        return "\n".join(text)

    def pids(self):
        """The pid files run.sh keeps, {name: pid}."""
        result = {}
        for directory in (self.state_dir, self.run_dir):
            if os.path.isdir(directory):
                for name in os.listdir(directory):
                    if name.endswith(".pid"):
                        with open(os.path.join(directory, name)) as f:
                            result[name] = int(f.read().strip() or 0)
        return result

    def rewrite(self, text):
        """The seed's port numbers -> the ports of this run."""
        return PORT_RE.sub(lambda m: str(self.ports[int(m.group(1))]), text)

    def remove(self):
        shutil.rmtree(self.base, ignore_errors=True)


def running(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:][:1] != "Z"


def curl(command):
    """Runs a seed's curl command line; returns (status, stdout bytes)."""
    argv = shlex.split(command)
    assert argv[0] == "curl", command
    # -q first: no ~/.curlrc. -s: no progress meter (stderr). The status goes
    # to stderr, where the seed's output cannot see it.
    argv = ["curl", "-q"] + argv[1:] + ["-s", "-S", "--max-time", "30",
                                        "-w", "%{stderr}status=%{http_code}\n"]
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    errors = result.stderr.decode("utf-8", "replace")
    m = re.search(r"status=(\d+)\s*$", errors)
    if result.returncode != 0 or not m:
        raise AssertionError("%s failed (%d): %s" % (command, result.returncode, errors))
    return int(m.group(1)), result.stdout


class DemoTestCase:
    """Base of a test class: starts the demo (run.sh --detach) once for the
    class, and stops it after. Each class ends with a test_z_stop_stops_everything
    calling check_stop_stops_everything() (pytest runs a class's own tests in
    their order, after those of its bases)."""

    @pytest.fixture(autouse=True, scope="class")
    def demo_running(self, request):
        """The demo for the tests of this class; stopped when they are done."""
        cls = request.cls
        cls.start_demo()
        yield
        cls.stop_demo()

    @classmethod
    def start_demo(cls):
        runfiles = os.getcwd()
        prebuilt = tempfile.mkdtemp(prefix="nginx-xds-demo-bin-", dir="/tmp")
        cls.prebuilt = prebuilt
        for target in ("controlplane/nginx-xds-controlplane",
                       "nginx_module/ngx_http_xds_module.so"):
            os.symlink(os.path.join(runfiles, target),
                       os.path.join(prebuilt, os.path.basename(target)))
        cls.demo = Demo(runfiles, prebuilt)

        def on_signal(signum, frame):
            cls.stop_demo()
            os._exit(128 + signum)

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        try:
            cls.started_output = cls.demo.start()
        except BaseException:
            cls.stop_demo()
            raise

    @classmethod
    def stop_demo(cls):
        if getattr(cls, "torn_down", False):
            return
        cls.torn_down = True
        pids = cls.demo.pids()
        stopped = cls.demo.stop()
        cls.stop_output = stopped
        cls.pid_files_after_stop = cls.demo.pids()
        cls.left_running = {name: pid for name, pid in pids.items() if running(pid)}
        if cls.left_running:
            sys.stderr.write("run.sh --stop left %s running:\n%s\n" %
                             (cls.left_running, stopped))
        if os.environ.get("KEEP_TEST_DIRS"):
            sys.stderr.write("kept %s\n" % cls.demo.base)
        else:
            cls.demo.remove()
        shutil.rmtree(cls.prebuilt, ignore_errors=True)

    def check_stop_stops_everything(self):
        """--stop, then nothing is left."""
        type(self).stop_demo()
        assert "stopped" in self.stop_output
        assert self.left_running == {}
        assert self.pid_files_after_stop == {}


class DemoSeedsTest(DemoTestCase):

    def replay(self, sample):
        """Runs the sample's curl; returns (status, what it printed, as shown)."""
        command = self.demo.rewrite(sample.command)
        status, stdout = curl(command)
        shown = stdout.decode("utf-8")
        if " -i " in " %s " % command:
            head, _, shown = shown.partition("\r\n\r\n")
            assert re.search(r"^HTTP/1\.1 %d " % status, head.split("\r\n")[0]), sample
        if not sample.exact:
            shown = shown.replace("\r\n", "\n").rstrip("\n")
        return status, shown

    def expected(self, sample):
        """(status, output) the seed shows for `sample`."""
        expected = self.demo.rewrite("\n".join(sample.output))
        expected_status = 200
        title = re.search(r"<title>(\d{3}) ", expected)
        if title:
            expected_status = int(title.group(1))
            # nginx 1.3.13's error page -> nginx 1.22.1's (see the module doc).
            expected = expected.replace('<body bgcolor="white">', "<body>").replace(
                "nginx/1.3.13", "nginx/1.22.1")
        return expected_status, expected + "\n" if sample.exact else expected

    def test_every_curl_sample_of_both_seeds_answers_as_the_seed_shows(self):
        """Every curl sample of both seeds answers as the seed shows."""
        samples_000 = seed_000_samples()
        samples_002 = seed_002_samples()
        # What the seeds hold, so that a parse that misses a sample fails.
        assert [s.section for s in samples_000] == [
            "list", "verbose", "update_parameters", "down", "up", "add", "remove"]
        assert len(samples_002) == 7
        assert samples_002[1].command == (
            'curl -d "server 127.0.0.1:8089;server 127.0.0.1:8088;" 127.0.0.1:8081/upstream/dyhost')

        for sample in samples_000:
            assert self.replay(sample) == self.expected(sample), sample
            if sample.section == "update_parameters":
                # The next section starts from the quick start's parameters.
                status, body = curl(self.demo.rewrite(
                    'curl "http://127.0.0.1:6000/dynamic?upstream=zone_for_backends'
                    '&server=127.0.0.1:6003&weight=1&max_fails=1&fail_timeout=10"'))
                assert status == 200, body

        for sample in samples_002:
            assert self.replay(sample) == self.expected(sample), sample

    def test_z_stop_stops_everything(self):
        """run.sh --stop (last, after the replay) leaves nothing running."""
        self.check_stop_stops_everything()
