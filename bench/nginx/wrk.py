"""Runs wrk (Debian's package) and parses what it prints."""

import os
import re
import signal
import subprocess
import tempfile
import time

import harness

WRK = "/usr/bin/wrk"

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def _ms(text):
    m = re.match(r"^([\d.]+)(us|ms|s|m|h)$", text)
    if not m:
        raise ValueError("not a wrk duration: %r" % text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse(output):
    """A dict of wrk's numbers: requests, seconds, rps, p50_ms..p99_ms, errors."""
    result = {
        "requests": None, "seconds": None, "rps": None,
        "p50_ms": None, "p75_ms": None, "p90_ms": None, "p99_ms": None,
        "avg_ms": None, "max_ms": None,
        "non_2xx_3xx": 0,
        "socket_errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0},
    }
    for line in output.splitlines():
        line = line.strip()
        m = re.match(r"^(\d+) requests in ([\d.]+)(us|ms|s|m|h),", line)
        if m:
            result["requests"] = int(m.group(1))
            result["seconds"] = _ms(m.group(2) + m.group(3)) / 1000.0
            continue
        m = re.match(r"^Requests/sec:\s+([\d.]+)", line)
        if m:
            result["rps"] = float(m.group(1))
            continue
        m = re.match(r"^(50|75|90|99)%\s+(\S+)$", line)
        if m:
            result["p%s_ms" % m.group(1)] = _ms(m.group(2))
            continue
        m = re.match(r"^Latency\s+(\S+)\s+(\S+)\s+(\S+)", line)
        if m:
            result["avg_ms"] = _ms(m.group(1))
            result["max_ms"] = _ms(m.group(3))
            continue
        m = re.match(r"^Non-2xx or 3xx responses:\s+(\d+)", line)
        if m:
            result["non_2xx_3xx"] = int(m.group(1))
            continue
        m = re.match(r"^Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                     line)
        if m:
            result["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"),
                                               (int(g) for g in m.groups())))
    if result["requests"] is None or result["rps"] is None:
        raise ValueError("wrk printed no totals:\n%s" % output)
    result["socket_errors_total"] = sum(result["socket_errors"].values())
    result["failed"] = result["non_2xx_3xx"] + result["socket_errors_total"]
    return result


def command(port, threads=2, connections=32, duration="10s", script=None, path="/"):
    argv = [WRK, "-t%d" % threads, "-c%d" % connections, "-d%s" % duration, "--latency"]
    if script:
        argv += ["-s", script]
    return argv + ["http://127.0.0.1:%d%s" % (port, path)]


def run(port, **kwargs):
    """Runs wrk to the end; returns (argv, parsed result, raw output)."""
    argv = command(port, **kwargs)
    with tempfile.TemporaryFile() as out:
        process = harness.start_process(argv, stdout=out, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        try:
            process.wait(timeout=_timeout(kwargs.get("duration", "10s")))
        finally:
            harness.kill_group(process)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    return argv, parse(text), text


def _timeout(duration):
    return _ms(duration) / 1000.0 + 60.0


class Background:
    """wrk started now and stopped (SIGINT: it then prints its totals) by stop()."""

    def __init__(self, port, max_duration="900s", **kwargs):
        self.argv = command(port, duration=max_duration, **kwargs)
        self.out = tempfile.TemporaryFile()
        self.started = time.monotonic()
        self.process = harness.start_process(self.argv, stdout=self.out,
                                             stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL)

    def stop(self, timeout=30.0):
        """SIGINT, wait for its report; returns (parsed result, raw output)."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=timeout)
        finally:
            harness.kill_group(self.process)
        self.out.seek(0)
        text = self.out.read().decode("utf-8", "replace")
        self.out.close()
        return parse(text), text


def delay_script(directory, ms):
    """A wrk Lua script that waits `ms` between the requests of a connection."""
    path = os.path.join(directory, "delay_%dms.lua" % ms)
    with open(path, "w") as f:
        f.write("function delay()\n  return %d\nend\n" % ms)
    return path
