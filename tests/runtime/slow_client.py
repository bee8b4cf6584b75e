#!/usr/bin/env python3
"""Slow HTTP clients for the runtime tests (a "slowloris"): N connections,
each sending its request one byte at a time, reconnecting when the server
closes it, for a fixed time.  Half trickle the headers, half send the
headers at once and trickle a body.

usage: slow_client.py PORT CONNECTIONS SECONDS BYTE_INTERVAL_S OUT_JSON

OUT_JSON gets {"connections": how many were opened, "closed_by_server": how
many the server closed, "max_lifetime_s": the longest time one connection
was open before the server closed it (connected to closed, the accept queue
included), "still_open_at_end": connections open when the time was up,
"max_age_s": the longest any connection was open, closed or not,
"answered_408": how many were answered 408 before the close}."""
import json
import select
import socket
import sys
import threading
import time

port, count, seconds, interval, out = (int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]),
                                       float(sys.argv[4]), sys.argv[5])
end = time.monotonic() + seconds
lock = threading.Lock()
stats = {"connections": 0, "closed_by_server": 0, "max_lifetime_s": 0.0, "still_open_at_end": 0, "max_age_s": 0.0,
         "answered_408": 0}


def requests(k):
    body = b"{\"name\":\"slow.client\",\"data\":\"" + b"x" * 200 + b"\"}"
    head = (b"POST /api/events/trigger HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body))
    if k % 2 == 0:
        return b"", head + body  # trickle from the first byte
    return head, body            # headers at once, then a slow body


def closed(s):
    """Wait one interval; True when the server closed the connection (its
    408 answer, which comes with the close, counted)."""
    r, _, _ = select.select([s], [], [], interval)
    if not r:
        return False
    try:
        data = s.recv(4096)
    except OSError:
        return True
    if not data:
        return True
    # an answer to an unfinished request: the close must follow it
    s.settimeout(2)
    try:
        while s.recv(4096):
            pass
    except socket.timeout:
        return False  # answered, not closed: not counted as closed
    except OSError:
        pass
    if data.startswith(b"HTTP/1.1 408 "):
        with lock:
            stats["answered_408"] += 1
    return True


def client(k):
    while time.monotonic() < end:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            time.sleep(interval)
            continue
        start = time.monotonic()
        with lock:
            stats["connections"] += 1
        now_part, slow_part = requests(k)
        gone = False
        try:
            if now_part:
                s.sendall(now_part)
            for i in range(len(slow_part)):
                if time.monotonic() >= end:
                    break
                s.send(slow_part[i:i + 1])
                if closed(s):
                    gone = True
                    break
        except OSError:
            gone = True
        with lock:
            stats["max_age_s"] = max(stats["max_age_s"], time.monotonic() - start)
            if gone:
                stats["closed_by_server"] += 1
                stats["max_lifetime_s"] = max(stats["max_lifetime_s"], time.monotonic() - start)
            else:
                stats["still_open_at_end"] += 1
        s.close()


threads = [threading.Thread(target=client, args=(k,)) for k in range(count)]
for t in threads:
    t.start()
for t in threads:
    t.join()
with open(out, "w") as f:
    json.dump(stats, f)
