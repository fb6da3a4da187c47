#!/usr/bin/env python3
"""Timeline of one `uringmig run --preset bulk` from its JSON log.

usage: bulk_timeline.py STATE_DIR/uringmig.log

Needs a run at --log-level debug (chunk, index build and ANALYZE start/end
lines). Prints each event in seconds since the run's first line, then per
table: copy span, index builds, ANALYZE, and the tail after the last copy.
"""
import datetime
import json
import re
import sys


def stamp(line):
    t = datetime.datetime.strptime(line["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()


def main(path):
    lines = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
    if not lines:
        sys.exit("empty log")
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
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
