"""Writes bench/cp_scale/run.sh's results into BENCHMARKS.md as one table:
a row per measure, a column per fleet size, and the growth 100 -> 10,000.

    report.py WORK_DIR BENCHMARKS.md "100 1000 10000" STREAMS WRITES
"""

import datetime
import json
import os
import re
import sys

BEGIN = "<!-- cp-scale:begin -->"
END = "<!-- cp-scale:end -->"


def result(path):
    with open(path) as f:
        line = [l for l in f if l.startswith("RESULT ")][-1]
    return dict(kv.split("=", 1) for kv in line.split()[1:])


def main():
    work, out_md, sizes, streams, writes = sys.argv[1:6]
    sizes = sizes.split()
    machine = json.load(open(os.path.join(work, "machine.json")))
    snap = result(os.path.join(work, "snapshot.out"))
    runs = {n: result(os.path.join(work, "bench-%s.out" % n)) for n in sizes}

    rows = [
        ("Snapshot build per write, after: `Snapshot::Next` (us)", lambda n: snap.get("next_us_" + n)),
        ("Snapshot build per write, before: map copy (us)", lambda n: snap.get("copy_us_" + n)),
        ("CP CPU per one-server write, 1 Delta stream (ms)", lambda n: runs[n]["d1_cpu_ms"]),
        ("CP CPU per one-server write, 1 SotW stream (ms)", lambda n: runs[n]["sotw_cpu_ms"]),
        ("CP CPU per one-server write, %s Delta streams (ms)" % streams,
         lambda n: runs[n]["dn_cpu_ms"]),
        ("write -> 1 Delta stream p50 / p99 (ms)",
         lambda n: "%s / %s" % (runs[n]["d1_p50_ms"], runs[n]["d1_p99_ms"])),
        ("write -> last of %s Delta streams p50 / p99 (ms)" % streams,
         lambda n: "%s / %s" % (runs[n]["dn_p50_ms"], runs[n]["dn_p99_ms"])),
        ("bytes per stream per change, Delta", lambda n: runs[n]["delta_bytes"]),
        ("bytes per stream per change, Delta (%s streams)" % streams, lambda n: runs[n]["dn_bytes"]),
        ("bytes per stream per change, SotW", lambda n: runs[n]["sotw_bytes"]),
        ("CP memory per endpoint (RSS delta / endpoints, bytes)",
         lambda n: runs[n]["bytes_per_endpoint"]),
        ("CP RSS loaded / with %s streams (MiB)" % streams,
         lambda n: "%s / %s" % (runs[n]["rss_loaded_mib"], runs[n]["rss_streams_mib"])),
        ("open %s Delta streams with initial_resource_versions: wall / CP CPU (s)" % streams,
         lambda n: "%s / %s" % (runs[n]["open_s"], runs[n].get("open_cpu_s", "-"))),
        ("initial Delta sync of every endpoint to one stream (ms)", lambda n: runs[n]["sync_ms"]),
        ("initial Delta sync bytes / responses",
         lambda n: "%s / %s" % (runs[n]["sync_bytes"], runs[n]["sync_responses"])),
    ]
    first, last = sizes[0], sizes[-1]

    def growth(get):
        try:
            a, b = float(str(get(first)).split(" /")[0]), float(str(get(last)).split(" /")[0])
        except (TypeError, ValueError):
            return ""
        return "%.2fx" % (b / a) if a > 0 else ""

    lines = [BEGIN, "## Control plane cost per write by fleet size (bench/cp_scale/run.sh)", ""]
    lines.append(
        "Generated on %s (commit %s): %s CPUs (%s), %s GiB RAM, Linux %s; the control plane, "
        "the bench and its streams share the CPUs. Optimized build (`-c opt`). Each size: "
        "upstreams of 10 servers loaded into a fresh control plane (SQLite store, "
        "`--ack_timeout=0s`); a one-server write is a PutUpstream changing one random "
        "upstream's first server's weight; %s writes per phase (%s with %s streams). CPU is "
        "the control plane process's utime+stime over the phase divided by the writes, so the "
        "store commit and the management API call are in it; the snapshot build rows are "
        "`bench/snapshot_build_bench` (one thread, CPU time)."
        % (datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"), machine["commit"],
           machine["nproc"], machine["model"], machine["mem_gib"], machine["kernel"], writes,
           max(1, int(writes) // 4), streams))
    lines.append("")
    header = "| measure | " + " | ".join(
        "%s upstreams / %s endpoints" % (format(int(n), ","), format(int(n) * 10, ","))
        for n in sizes) + " | growth %s -> %s |" % (format(int(first), ","), format(int(last), ","))
    lines.append(header)
    lines.append("|---" + "|---:" * (len(sizes) + 1) + "|")
    for label, get in rows:
        lines.append("| %s | %s | %s |" % (label, " | ".join(str(get(n)) for n in sizes),
                                           growth(get)))
    lines.append("")
    lines.append(END)
    section = "\n".join(lines) + "\n"

    text = open(out_md).read() if os.path.exists(out_md) else ""
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END) + "\n?", lambda m: section, text,
                      flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(out_md, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
