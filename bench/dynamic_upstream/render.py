"""bench/dynamic_upstream/bench.py's results as BENCHMARKS.md rows.

    render.py OUT.json MACHINE.json BENCHMARKS.md
"""

import json
import re
import sys

BEGIN = "<!-- dynamic-upstream:begin -->"
END = "<!-- dynamic-upstream:end -->"


def cell(side, key):
    d = side.get(key) or {}
    if "p50" not in d:
        return "n/a"
    return "%.1f / %.1f" % (d["p50"], d["p99"])


def main():
    out = json.load(open(sys.argv[1]))
    machine = json.load(open(sys.argv[2]))
    md = sys.argv[3]
    lines = [BEGIN, "## `/dynamic` down/up on one host: ngx_dynamic_upstream and nginx-xds "
             "(bench/dynamic_upstream/run.sh)", "",
             "Generated on %s (commit %s): %s CPUs (%s), Linux %s, nginx %s; the CPUs were %s%% "
             "busy before the run. One nginx, 2 workers, servers A and B backup; a write flips A "
             "down/up; served = both workers answered from the new backend 3 times in a row. "
             "ngx_dynamic_upstream is github.com/cubicdaiya/ngx_dynamic_upstream built for "
             "Debian's nginx outside the repo; nginx-xds is written through the control plane's "
             "gateway, answered after the node's ACK (durable, fleet-wide)."
             % (out["started"], machine["commit"], machine["nproc"], machine["model"],
                machine["kernel"], machine["nginx"], out.get("cpu_busy_before")), "",
             "| side | writes (failed) | answer p50 / p99 (ms) | both workers serving p50 / p99 (ms) |",
             "|---|---:|---:|---:|"]
    for name in ("ngx_dynamic_upstream", "nginx-xds"):
        side = out.get(name, {})
        if "error" in side:
            lines.append("| %s | failed: %s | | |" % (name, side["error"].replace("|", "/")[:200]))
            continue
        lines.append("| %s | %s (%s) | %s | %s |" % (name, side.get("writes"), side.get("failed"),
                                                     cell(side, "ack_ms"), cell(side, "served_ms")))
    lines += ["", END]
    section = "\n".join(lines) + "\n"
    text = open(md).read()
    if BEGIN in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END) + "\n?", lambda m: section, text,
                      flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    open(md, "w").write(text)


if __name__ == "__main__":
    main()
