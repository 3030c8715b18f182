"""A fault-injecting HTTP proxy on 127.0.0.1 in front of fake-gcs-server.

Uploads (`/upload/...`) are the faulted requests: `faults` lists what the next faulted attempts
get, in order ("429", "503", "reset" = the connection is cut without a response); every other
upload attempt passes, so each fault is followed by a retry that reaches the server. `refuse`
makes every upload whose body contains that text fail with 403 (a permanent failure).
`latency_s` delays every request (a slow or distant GCS endpoint).
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import urlparse

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "host", "content-length", "proxy-connection"}


class FaultProxy:
    def __init__(self, upstream: str, faults: list[str] | None = None, refuse: str = "", latency_s: float = 0.0):
        self.upstream = urlparse(upstream)
        self.latency_s = latency_s
        self.faults = list(faults or [])
        self.refuse = refuse.encode()
        self.injected: list[str] = []
        self.upload_attempts = 0
        self.refused = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _decide(self, path: str, body: bytes) -> str | None:
        if not path.startswith("/upload/"):
            return None
        with self._lock:
            self.upload_attempts += 1
            if self.refuse and self.refuse in body:
                self.refused += 1
                return "403"
            if self.faults and self.upload_attempts % 2 == 1:
                fault = self.faults.pop(0)
                self.injected.append(fault)
                return fault
        return None

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().strip().split(b";")[0], 16)
                        if size == 0:
                            self.rfile.readline()
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _handle(self) -> None:
                body = self._body()
                time.sleep(proxy.latency_s)
                fault = proxy._decide(self.path, body)
                if fault == "reset":
                    # SO_LINGER 0: close sends RST, the client sees "connection reset by peer".
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return
                if fault is not None:
                    payload = f'{{"error": {{"code": {fault}, "message": "injected {fault}"}}}}'.encode()
                    self.send_response(int(fault))
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                upstream = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                upstream.request(self.command, self.path, body=body or None, headers=headers)
                response = upstream.getresponse()
                payload = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in HOP_HEADERS:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                upstream.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        return Handler
