"""Writes the machine a benchmark ran on, as JSON, for its report.

    machine_info.py OUT.json
"""

import json
import re
import subprocess
import sys


def run(*argv):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT).stdout.decode().strip()


def main():
    model = re.search(r"^Model name:\s*(.*)$", run("lscpu"), re.M)
    with open("/proc/meminfo") as f:
        mem = int(re.search(r"^MemTotal:\s*(\d+)", f.read(), re.M).group(1))
    info = {
        "nproc": run("nproc"),
        "model": model.group(1) if model else "unknown",
        "mem_gib": "%.1f" % (mem / 1024 / 1024),
        "kernel": run("uname", "-r"),
        "commit": run("git", "rev-parse", "--short", "HEAD"),
        "nginx": run("/usr/sbin/nginx", "-v").replace("nginx version: ", ""),
    }
    with open(sys.argv[1], "w") as f:
        json.dump(info, f)


if __name__ == "__main__":
    main()
