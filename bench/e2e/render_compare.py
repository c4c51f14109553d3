"""Renders compare.sh's runs as one side-by-side table into BENCHMARKS.md,
between BEGIN and END (appended at the end the first time).

    render_compare.py --before_name=N --after_name=N --args=A --md=BENCHMARKS.md \
        before=r1.json after=r1.json before=r2.json after=r2.json ...

Each cell is every round's number for that side ("a, b"), so the spread
between rounds of one build shows next to the difference between builds.
"""

import argparse
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from markdown_section import replace_section  # pylint: disable=wrong-import-position

BEGIN = "<!-- e2e-compare:begin -->"
END = "<!-- e2e-compare:end -->"


def num(value, digits=2):
    if value is None:
        return "?"
    return "%.*f" % (digits, value) if isinstance(value, float) else str(value)


def cells(runs, get, digits=2):
    return ", ".join(num(get(r), digits) for r in runs)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--before_name", required=True)
    parser.add_argument("--after_name", required=True)
    parser.add_argument("--args", default="")
    parser.add_argument("--md", required=True)
    parser.add_argument("runs", nargs="+")
    a = parser.parse_args()
    runs = {"before": [], "after": []}
    for run in a.runs:
        side, path = run.split("=", 1)
        with open(path) as f:
            runs[side].append(json.load(f))

    rows = [
        ("`/dynamic` down/up: answer p50 (ms)", lambda r: r["dynamic"]["ack_ms"]["p50"]),
        ("`/dynamic` down/up: answer p99 (ms)", lambda r: r["dynamic"]["ack_ms"]["p99"]),
        ("`/dynamic` down/up: served p50 (ms)", lambda r: r["dynamic"]["served_ms"]["p50"]),
        ("`/dynamic` down/up: served p99 (ms)", lambda r: r["dynamic"]["served_ms"]["p99"]),
        ("dyups POST: answer p50 (ms)", lambda r: r["dyups"]["ack_ms"]["p50"]),
        ("dyups POST: answer p99 (ms)", lambda r: r["dyups"]["ack_ms"]["p99"]),
        ("dyups POST: served p50 (ms)", lambda r: r["dyups"]["served_ms"]["p50"]),
        ("sparse `/dynamic`: answer p50 (ms)", lambda r: r["sparse"]["ack_ms"]["p50"]),
    ]
    writers = sorted(runs["after"][0].get("sustained", {}), key=int)
    for w in writers:
        rows.append(("sustained, %s writer(s): writes/s" % w,
                     lambda r, w=w: float(round(r["sustained"][w]["writes_per_s"]))))
        rows.append(("sustained, %s writer(s): answer p50 (ms)" % w,
                     lambda r, w=w: r["sustained"][w]["answer_ms"]["p50"]))
        rows.append(("sustained, %s writer(s): answer p99 (ms)" % w,
                     lambda r, w=w: r["sustained"][w]["answer_ms"]["p99"]))
    failures = lambda r: (r["dynamic"]["failed"] + r["dyups"]["failed"] +
                          sum(s["errors"] for s in r.get("sustained", {}).values()))

    out = [BEGIN,
           "## Metrics on the write path: end to end before and after (bench/e2e/compare.sh)",
           "",
           "Generated on %s UTC by `bench/e2e/compare.sh` (`BENCH_ARGS=\"%s\"`): the end-to-end"
           " benchmark above (HTTP write -> every worker of three nginx) on two -c opt builds,"
           " %d rounds each, alternating before/after on the same machine (2 CPUs, shared with"
           " other builds while it ran). **%s**: no metrics. **%s**: the control plane counts"
           " every write (API, operation, result), times it (durable, fleet ACKed, store"
           " commit), keeps the last 50 writes for the fleet page, counts ADS responses and"
           " bytes; nginx counts every peer request and failure and times every apply. Each"
           " cell lists every round." % (
               datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"), a.args,
               len(runs["after"]), a.before_name, a.after_name),
           "",
           "| | %s | %s |" % (a.before_name, a.after_name),
           "|---|---|---|"]
    for name, get in rows:
        digits = 0 if "writes/s" in name else 2
        out.append("| %s | %s | %s |" % (name, cells(runs["before"], get, digits),
                                         cells(runs["after"], get, digits)))
    out.append("| failed writes | %s | %s |" % (cells(runs["before"], failures),
                                                 cells(runs["after"], failures)))
    out.append(END)
    replace_section(a.md, BEGIN, END, "\n".join(out))


if __name__ == "__main__":
    main()
