#!/usr/bin/env python3
"""A client that sends without reading its answers, for read_ahead.sh.

usage: unread_answers.py PORT DAEMON_PID SECONDS CAP_MB OUT_JSON FIRST_HEX FIRST_COUNT THEN_HEX REPEAT_HEX

Sends FIRST (hex) FIRST_COUNT times, THEN (hex) once, then REPEAT (hex)
again and again, for SECONDS or
until CAP_MB are sent, never reading; its receive buffer is small, so the
daemon's answers back up.  Writes to OUT_JSON what was sent, the daemon's
RSS growth (kB) and whether /health answered on another connection, then
keeps the connection open (unread) until the daemon closes it or 30 s pass,
and adds how long that took.
"""
import json
import socket
import sys
import time

port, pid, seconds, cap_mb, out = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
head = bytes.fromhex(sys.argv[6]) * int(sys.argv[7]) + bytes.fromhex(sys.argv[8])
repeat = bytes.fromhex(sys.argv[9])


def rss_kb():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def health_answers():
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as h:
            h.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            return h.recv(12) == b"HTTP/1.1 200"
    except OSError:
        return False


s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", port))
rss0 = rss_kb()
s.setblocking(False)
chunk = repeat * max(1, 65536 // len(repeat))
pending = head
sent = 0
started = time.monotonic()
blocked_since = None
while time.monotonic() - started < seconds and sent < cap_mb << 20:
    if not pending:
        pending = chunk
    try:
        n = s.send(pending)
        sent += n
        pending = pending[n:]
        blocked_since = None
    except BlockingIOError:
        if blocked_since is None:
            blocked_since = time.monotonic()
        time.sleep(0.01)
    except OSError:
        break
result = {
    "sent_bytes": sent,
    "held_back": blocked_since is not None,  # the daemon stopped reading at the end
    "rss_growth_kb": rss_kb() - rss0,
    "health": health_answers(),
}
# The daemon cuts a client that does not read its answers: poll until the
# socket reports the close (sending fails or the peer's FIN arrives).
deadline = time.monotonic() + 30
closed_after = None
while time.monotonic() < deadline:
    try:
        s.send(b"x")
    except BlockingIOError:
        pass
    except OSError:
        closed_after = time.monotonic() - started
        break
    time.sleep(0.05)
result["closed_after_s"] = closed_after
with open(out, "w") as f:
    json.dump(result, f)
