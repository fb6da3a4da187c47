#!/usr/bin/env python3
"""Timeline of one `uringmig run --preset bulk` from its JSON log.

usage: bulk_timeline.py [--phases] STATE_DIR/uringmig.log

Needs a run at --log-level debug (chunk, index build and ANALYZE start/end
lines). Prints each event in seconds since the run's first line, then per
table: copy span, index builds, ANALYZE, and the tail after the last copy.
--phases (for thousands of tables): only the phase lines (schema dump and
restores, snapshot, sequences, large objects, ...) and, per kind of per-table
step (chunk copies, index builds, ANALYZE), how many, first start, last end
and the sum of their own durations.
"""
import datetime
import json
import re
import sys


def stamp(line):
    t = datetime.datetime.strptime(line["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()


def phases(lines):
    t0 = stamp(lines[0])
    steps = {}  # kind -> [count, first start, last end, sum of durations]
    started = {}
    begin = {"copy": re.compile(r"(\S+ chunk \d+): copying"),
             "index build": re.compile(r"index (\S+ on \S+): building"),
             "ANALYZE": re.compile(r"ANALYZE (\S+): starting")}
    end = {"copy": re.compile(r"(\S+ chunk \d+): \d+ rows in"),
           "index build": re.compile(r"index (\S+ on \S+): built"),
           "ANALYZE": re.compile(r"ANALYZE (\S+): done")}
    for line in lines:
        msg, at = line["msg"], stamp(line) - t0
        matched = False
        for kind in begin:
            if m := begin[kind].match(msg):
                started[(kind, m[1])] = at
                s = steps.setdefault(kind, [0, at, at, 0.0])
                s[1] = min(s[1], at)
                matched = True
            elif m := end[kind].match(msg):
                s = steps.setdefault(kind, [0, at, at, 0.0])
                s[0] += 1
                s[2] = max(s[2], at)
                s[3] += at - started.pop((kind, m[1]), at)
                matched = True
        if not matched and not msg.startswith("table "):
            print(f"{at:7.2f}  {msg[:120]}")
    print(f"\n{'step':12} {'count':>7} {'first':>8} {'last':>8} {'sum of own s':>13}")
    for kind, (n, first, last, total) in steps.items():
        print(f"{kind:12} {n:7} {first:8.2f} {last:8.2f} {total:13.2f}")
    print(f"run ends at {stamp(lines[-1]) - t0:.2f}s")


def main(path, only_phases=False):
    lines = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
    if not lines:
        sys.exit("empty log")
    if only_phases:
        return phases(lines)
    t0 = stamp(lines[0])
    keys = ("copying", "rows in", "building", "built in", "ANALYZE", "pg_dump", "restor",
            "snapshot", "builds done", "sequence")
    last_copy = 0.0
    spans = {}  # table -> [copy start, copy end, builds end, analyze end]
    for line in lines:
        msg, at = line["msg"], stamp(line) - t0
        if not any(k in msg for k in keys):
            continue
        print(f"{at:7.2f}  {msg[:120]}")
        if m := re.match(r"(\S+) chunk \d+: copying", msg):
            spans.setdefault(m[1], [at, None, None, None])
        elif m := re.match(r"(\S+) chunk \d+: \d+ rows in", msg):
            spans.setdefault(m[1], [at, None, None, None])[1] = at
            last_copy = max(last_copy, at)
        elif m := re.match(r"index \S+ on (\S+): built", msg):
            spans.setdefault(m[1], [None] * 4)[2] = at
        elif m := re.match(r"ANALYZE (\S+): done", msg):
            spans.setdefault(m[1], [None] * 4)[3] = at
    end = stamp(lines[-1]) - t0
    print(f"\n{'table':40} {'copy':>15} {'indexes done':>12} {'analyzed':>9}")
    fmt = lambda v: "-" if v is None else f"{v:.2f}"
    for name, (c0, c1, ix, an) in spans.items():
        print(f"{name:40} {fmt(c0):>7}-{fmt(c1):<7} {fmt(ix):>12} {fmt(an):>9}")
    print(f"\nlast copy done at {last_copy:.2f}s, run ends at {end:.2f}s: "
          f"tail {end - last_copy:.2f}s")


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "--phases":
        main(args[1], True)
    elif len(args) == 1:
        main(args[0])
    else:
        sys.exit(__doc__)
