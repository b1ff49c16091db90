#!/usr/bin/env python3
"""Open many idle keep-alive HTTP/1.1 connections to a proxy and hold them.

Each connection sends one small GET (with an X-User-Id, so it is routed like
real traffic), reads the whole response, and then stays open and idle.  Used by
proxy_bench.py to measure the proxy's resident memory per idle connection; it
can also be run by hand:

    bench/proxy/idle_conns.py 127.0.0.1 8080 10000 --hold 30
"""

import argparse
import resource
import socket
import sys
import time


def raise_fd_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft


def read_response(sock):
    """Reads one response with a Content-Length body; returns its status."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed before the response head")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed inside the response body")
        body += chunk
    return status


def open_idle(host, port, count):
    """Returns the list of open sockets; raises if any connection fails."""
    socks = []
    for i in range(count):
        s = socket.create_connection((host, port), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(
            b"GET /profile HTTP/1.1\r\nHost: bench\r\nX-User-Id: idle-%d\r\n\r\n" % i
        )
        status = read_response(s)
        if status != 200:
            raise RuntimeError("connection %d got status %d" % (i, status))
        socks.append(s)
    return socks


def still_open(socks):
    """Counts connections the server has not closed (no EOF pending)."""
    alive = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1, socket.MSG_PEEK) == b"":
                continue
        except BlockingIOError:
            pass
        except OSError:
            continue
        alive += 1
    return alive


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("count", type=int)
    ap.add_argument("--hold", type=float, default=30.0, help="seconds to keep them")
    args = ap.parse_args()
    limit = raise_fd_limit(args.count + 64)
    if limit < args.count + 64:
        sys.exit("ulimit -n is %d, too low for %d connections" % (limit, args.count))
    socks = open_idle(args.host, args.port, args.count)
    print("opened %d idle connections; holding %.0f s" % (len(socks), args.hold), flush=True)
    time.sleep(args.hold)
    print("still open: %d" % still_open(socks))


if __name__ == "__main__":
    main()
