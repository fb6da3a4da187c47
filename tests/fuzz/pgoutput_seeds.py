#!/usr/bin/env python3
"""Writes libFuzzer seeds for pgoutput_fuzz from the captured messages in tests/data/pgoutput.

    tests/fuzz/pgoutput_seeds.py OUT_DIR

Every distinct captured message, raw and wrapped in a `w` XLogData header; each capture file's
first 40 messages as one length-prefixed sequence (the harness's stateful mode); a keepalive and
an LSN text.
"""
import glob
import hashlib
import os
import struct
import sys

here = os.path.dirname(os.path.abspath(__file__))
out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def write(data):
    with open(os.path.join(out, hashlib.sha1(data).hexdigest()), 'wb') as f:
        f.write(data)


seen = set()
for path in sorted(glob.glob(os.path.join(here, '..', 'data', 'pgoutput', '*.txt'))):
    with open(path) as f:
        msgs = [bytes.fromhex(line.split()[2]) for line in f
                if line.strip() and not line.startswith('#')]
    for m in msgs:
        if m in seen:
            continue
        seen.add(m)
        write(m)
        write(b'w' + struct.pack('>QQq', 0x16B374D848, 0x16B374D900, 700000000000) + m)
    write(b''.join(bytes([len(m)]) + m for m in msgs[:40] if len(m) < 256))
write(b'k' + struct.pack('>Qq', 0x16B374D848, 123) + b'\x01')
write(b'16/B374D848')
