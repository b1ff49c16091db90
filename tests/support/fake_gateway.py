#!/usr/bin/python3
"""A stand-in for `cohort serve -c FILE` that only does what the harness's
Gateway class depends on, so the harness can be tested before (and
independently of) the real gateway: it prints the start-up log lines of the
real one, answers HTTP on its listeners, reloads on SIGHUP, exits 0 on
SIGTERM, and counts its starts in a file in its working directory."""

import http.server
import json
import os
import signal
import sys
import threading


def log(**fields):
    sys.stderr.write(json.dumps(fields) + "\n")
    sys.stderr.flush()


def serve(name, address):
    host, _, port = address.rpartition(":")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"listener": name, "path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((host, int(port)), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"{host}:{server.server_address[1]}"


def main():
    if sys.argv[1:3] != ["serve", "-c"] or len(sys.argv) < 4:
        print("usage: fake_gateway.py serve -c FILE", file=sys.stderr)
        return 2
    path = sys.argv[3]
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    # Handlers first: the harness may signal as soon as the ports are announced.
    stop = threading.Event()

    def on_hup(signum, frame):
        with open(path, encoding="utf-8") as f:
            new = json.load(f)
        log(level="info", msg="config reloaded", marker=new.get("marker"))

    signal.signal(signal.SIGHUP, on_hup)
    signal.signal(signal.SIGTERM, lambda s, f: stop.set())
    starts = 1
    if os.path.exists("starts"):
        with open("starts", encoding="utf-8") as f:
            starts = int(f.read()) + 1
    with open("starts", "w", encoding="utf-8") as f:
        f.write(str(starts))
    log(level="info", msg="starting", starts=starts)
    print("not a log line: stdout")
    sys.stdout.flush()
    for listener in config.get("gateway", {}).get("listeners", []):
        address = serve(listener["name"], listener["address"])
        log(level="info", msg="listening", listener=listener["name"], address=address)
    address = serve("admin", config["admin"]["address"])
    log(level="info", msg="admin listening", address=address)
    sys.stderr.write("plain text, not JSON\n")
    sys.stderr.flush()

    while not stop.wait(0.05):
        pass
    log(level="info", msg="drained")
    return int(config.get("exit_code", 0))


if __name__ == "__main__":
    sys.exit(main())
