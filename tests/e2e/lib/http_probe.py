#!/usr/bin/env python3
"""Test client for uringmig's --http server (no third-party modules).

  http_probe.py validate SCHEMA.json FILE.json   check FILE against a JSON schema (the subset
                                                 the schemas in tests/data/http use)
  http_probe.py ws PORT SECONDS                  WebSocket /api/v1/ws: print the number of
                                                 pushes received in SECONDS, each a JSON object
                                                 with a "phase"; the last one to ws_last.json
  http_probe.py ws_rows PORT N [CA]              the progress.rows of the next N pushes, one a line
                                                 (CA: over TLS, trusting that PEM file)
  http_probe.py noread PORT SECONDS              WebSocket that never reads, held SECONDS; prints
                                                 "dropped" when the server closed it, else "open"
  http_probe.py slow PORT INTERVAL SECONDS      WebSocket that reads one message every INTERVAL
                                                 seconds for SECONDS (or until the server closes
                                                 it); prints the count read and "dropped"/"open"
  http_probe.py flood PORT N                     open N connections, then drop them all
  http_probe.py raw PORT FILE                    send FILE's bytes; print the status code
"""
import base64
import json
import os
import socket
import ssl
import sys
import time


def check(schema, value, path="$"):
    errors = []
    t = schema.get("type")
    if t is not None:
        types = t if isinstance(t, list) else [t]
        ok = False
        for ty in types:
            if ty == "null" and value is None:
                ok = True
            elif ty == "boolean" and isinstance(value, bool):
                ok = True
            elif ty == "integer" and isinstance(value, int) and not isinstance(value, bool):
                ok = True
            elif ty == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
                ok = True
            elif ty == "string" and isinstance(value, str):
                ok = True
            elif ty == "array" and isinstance(value, list):
                ok = True
            elif ty == "object" and isinstance(value, dict):
                ok = True
        if not ok:
            return [f"{path}: expected {t}, got {json.dumps(value)[:80]}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if "minimum" in schema and isinstance(value, (int, float)) and value < schema["minimum"]:
        errors.append(f"{path}: {value} < {schema['minimum']}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}: missing {key}")
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                errors += check(sub, value[key], f"{path}.{key}")
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, v in value.items():
                if key not in schema.get("properties", {}):
                    errors += check(extra, v, f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            errors += check(schema["items"], v, f"{path}[{i}]")
    return errors


def ws_connect(port, path="/api/v1/ws", tls_ca=None):
    """A WebSocket on 127.0.0.1:PORT; over TLS (wss) when tls_ca names the CA to trust."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if tls_ca:
        ctx = ssl.create_default_context(cafile=tls_ca)
        s = ctx.wrap_socket(s, server_hostname="localhost")
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            raise SystemExit("ws: connection closed during the handshake")
        head += chunk
    if b" 101 " not in head.split(b"\r\n")[0]:
        raise SystemExit("ws: no 101: " + head.decode(errors="replace"))
    return s


def ws_send(s, text):
    """One masked text frame (a client must mask)."""
    data = text.encode()
    mask = os.urandom(4)
    n = len(data)
    if n < 126:
        head = bytes([0x81, 0x80 | n])
    elif n < 1 << 16:
        head = bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x81, 0x80 | 127]) + n.to_bytes(8, "big")
    s.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise EOFError
        out += chunk
    return out


def ws_message(s):
    """One text message (frames joined); None at a close frame."""
    data = b""
    while True:
        b0, b1 = recv_exact(s, 2)
        op = b0 & 0x0F
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(recv_exact(s, 2), "big")
        elif n == 127:
            n = int.from_bytes(recv_exact(s, 8), "big")
        payload = recv_exact(s, n)
        if op == 8:
            return None
        if op in (9, 10):
            continue
        data += payload
        if b0 & 0x80:
            return data.decode()


def main():
    cmd = sys.argv[1]
    if cmd == "validate":
        schema = json.load(open(sys.argv[2]))
        doc = json.load(open(sys.argv[3]))
        errors = check(schema, doc)
        for e in errors[:20]:
            print(e)
        sys.exit(1 if errors else 0)
    port = int(sys.argv[2])
    if cmd == "ws":
        seconds = float(sys.argv[3])
        s = ws_connect(port)
        end = time.monotonic() + seconds
        count = 0
        last = None
        while time.monotonic() < end:
            s.settimeout(max(0.01, end - time.monotonic()))
            try:
                m = ws_message(s)
            except (socket.timeout, EOFError):
                break
            if m is None:
                break
            doc = json.loads(m)
            assert isinstance(doc, dict) and "phase" in doc, m[:200]
            last = m
            count += 1
        if last is not None:
            open("ws_last.json", "w").write(last)
        print(count)
    elif cmd == "ws_rows":
        s = ws_connect(port, tls_ca=sys.argv[4] if len(sys.argv) > 4 else None)
        for _ in range(int(sys.argv[3])):
            m = ws_message(s)
            if m is None:
                break
            doc = json.loads(m)
            print(doc["progress"]["rows"], doc["paused"])
    elif cmd == "noread":
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", port))
        s.close()
        s = ws_connect(port)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        seconds = float(sys.argv[3])
        time.sleep(seconds)  # the point of this client: it never reads while the job runs
        # Now see whether the server gave up on it: drain; a reset or EOF means it did.
        s.settimeout(2)
        state = "open"
        try:
            while True:
                chunk = s.recv(1 << 20)
                if not chunk:
                    state = "dropped"
                    break
        except ConnectionResetError:
            state = "dropped"
        except socket.timeout:
            pass
        print(state)
    elif cmd == "slow":
        interval, seconds = float(sys.argv[3]), float(sys.argv[4])
        s = ws_connect(port)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        end = time.monotonic() + seconds
        count, state = 0, "open"
        while time.monotonic() < end:
            time.sleep(interval)  # the point of this client: it reads slower than pushes come
            s.settimeout(5)
            try:
                m = ws_message(s)
            except (EOFError, ConnectionResetError):
                m = None
            except socket.timeout:
                continue
            if m is None:
                state = "dropped"
                break
            count += 1
        print(count, state)
    elif cmd == "flood":
        socks = []
        for _ in range(int(sys.argv[3])):
            try:
                socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            except OSError:
                pass
        for s in socks:
            s.close()
        print(len(socks))
    elif cmd == "raw":
        data = open(sys.argv[3], "rb").read()
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        head = b""
        try:
            while b"\r\n" not in head:
                chunk = s.recv(4096)
                if not chunk:
                    break
                head += chunk
        except ConnectionResetError:
            pass
        line = head.split(b"\r\n")[0].decode(errors="replace")
        print(line.split(" ")[1] if line.startswith("HTTP/") else "none")


if __name__ == "__main__":
    main()
