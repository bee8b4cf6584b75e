#!/usr/bin/env python3
# raw_http.py PORT BYTES [N,SECONDS]: sends BYTES (backslash escapes such as
# \r\n read as in Python) on one connection to 127.0.0.1:PORT and prints
# every answer until the daemon closes it (5 s at most; "NOT CLOSED" then).
# With N,SECONDS the bytes go in writes of N bytes, SECONDS apart (the
# daemon then reads a head in many small pieces); with @K,SECONDS in two
# writes, the first K bytes, then SECONDS later the rest (K < 0: all but
# the last -K bytes first).  With RAW_HALF_CLOSE=1 in the environment it
# shuts down its sending side after the bytes (a half-close).
import os, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
data = sys.argv[2].encode().decode("unicode_escape").encode("latin-1")
try:  # the daemon may refuse and close before all of it is sent
    if len(sys.argv) > 3 and sys.argv[3]:
        piece, pause = sys.argv[3].split(",")
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if piece.startswith("@"):
            cut = int(piece[1:])
            s.sendall(data[:cut])
            time.sleep(float(pause))
            s.sendall(data[cut:])
        else:
            for i in range(0, len(data), int(piece)):
                s.sendall(data[i:i + int(piece)])
                time.sleep(float(pause))
    else:
        s.sendall(data)
    if os.environ.get("RAW_HALF_CLOSE") == "1":
        s.shutdown(socket.SHUT_WR)
except (BrokenPipeError, ConnectionResetError):
    pass
out, deadline = b"", time.monotonic() + 5
try:
    while time.monotonic() < deadline:
        d = s.recv(65536)
        if not d:
            break
        out += d
    else:
        out += b"\nNOT CLOSED"
except socket.timeout:
    out += b"\nNOT CLOSED"
except ConnectionResetError:
    pass
sys.stdout.write(out.decode("latin-1"))
