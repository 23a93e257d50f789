"""A local stand-in for Ultralytics' release server, for the tests of fetching weights (the engine's, the app's):
plain HTTP on 127.0.0.1 serving checkpoints Ultralytics wrote, and misbehaving on purpose."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from yolo_explorer.model.pretrained import Release

DATA = Path(__file__).parent / "data"
CHECKPOINT = (DATA / "synthetic_yolo11n.pt").read_bytes()  # a full-size YOLO11n with 4 classes, saved by Ultralytics
DIGEST = hashlib.sha256(CHECKPOINT).hexdigest()
# the test's stand-in for Ultralytics' yolo11n.pt: the same file name and architecture, this file's digest
STAND_IN = Release("yolo11n", "yolo11n", "detect", len(CHECKPOINT), DIGEST)


class Handler(http.server.BaseHTTPRequestHandler):
    """/<behaviour>/<file>: how the server answers is the first part of the path."""

    requests: list[str] = []

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):  # noqa: N802 (http.server's name)
        Handler.requests.append(self.path)
        if self.path.startswith("http://"):  # asked as a proxy (an absolute URL): it forbids the destination
            self.send(403, b"Forbidden by policy", "text/plain")
            return
        behaviour = self.path.strip("/").split("/")[0]
        if behaviour == "ok":
            self.send(200, CHECKPOINT)
        elif behaviour == "slow":  # long enough for a second caller to arrive and wait
            self.send(200, CHECKPOINT, pause=0.02)
        elif behaviour == "missing":
            self.send(404, b"Not Found", "text/plain")
        elif behaviour == "portal":
            self.send(200, b"<!DOCTYPE html><html><body>Please log in to the guest network</body></html>", "text/html")
        elif behaviour == "disguised":  # a web page, labelled as a binary file
            self.send(200, b"\n<html><body>Sign in</body></html>" + b" " * 1000)
        elif behaviour == "truncated":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(CHECKPOINT)))
            self.end_headers()
            self.wfile.write(CHECKPOINT[: len(CHECKPOINT) // 3])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        elif behaviour == "tiny":  # an Ultralytics checkpoint of another architecture
            self.send(200, (DATA / "ultralytics_tiny_checkpoint.pt").read_bytes())
        elif behaviour == "noise":
            self.send(200, os.urandom(4096))
        elif behaviour == "chunked":  # no Content-Length: the limit is enforced while reading
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(CHECKPOINT), 65536):
                part = CHECKPOINT[start : start + 65536]
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif behaviour == "silent":
            time.sleep(3)

    def send(self, status: int, body: bytes, content_type: str = "application/octet-stream", pause: float = 0.0):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for start in range(0, len(body), 256 * 1024):
            self.wfile.write(body[start : start + 256 * 1024])
            time.sleep(pause)


class Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):  # a client that hangs up on purpose (a limit) is no news
        pass


@contextlib.contextmanager
def release_server() -> Iterator[str]:
    """The server, running in a thread while the block runs; yields its base URL (add /<behaviour>)."""
    httpd = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
