"""Debian's headless Chromium, driven over the DevTools protocol.

A live page is what the fleet page tests need (a NACK must show while the
page is open), and --dump-dom only shows one moment; so Chromium runs with
--remote-debugging-port and this module speaks the protocol over a
WebSocket written on the standard library (no client library is packaged).
"""

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import urllib.request

from nginx_xds_testing.processes import free_port, kill_group, make_dir, start_process
from nginx_xds_testing.waits import wait_until


class _WebSocket:
    """The client side of RFC 6455, text frames only: enough for DevTools."""

    def __init__(self, url, timeout=10.0):
        assert url.startswith("ws://"), url
        host_port, _, path = url[len("ws://"):].partition("/")
        host, _, port = host_port.partition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET /%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n" % (path, host_port, key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            assert chunk, "DevTools closed the connection during the handshake"
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head
        self.buffer = head.split(b"\r\n\r\n", 1)[1]

    def _read(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            assert chunk, "DevTools closed the connection"
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def send(self, text):
        payload = text.encode()
        header = bytes([0x81])  # FIN, text
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        elif len(payload) < 65536:
            header += bytes([0x80 | 126]) + struct.pack(">H", len(payload))
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", len(payload))
        mask = os.urandom(4)  # clients must mask
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def receive(self):
        message = b""
        while True:
            first, second = self._read(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack(">H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(length)
            opcode = first & 0x0F
            if opcode in (0x1, 0x0):
                message += payload
                if first & 0x80:
                    return message.decode()
            elif opcode == 0x8:
                raise AssertionError("DevTools closed the WebSocket")
            # pings and pongs: nothing to do

    def close(self):
        self.sock.close()


class Chromium:
    """`chromium --headless` with one page open at `url`."""

    def __init__(self, url, width=1280, height=900):
        self.url = url
        self.dir = make_dir("chromium")
        self.port = free_port()
        self.size = (width, height)
        self.process = None
        self.ws = None
        self.next_id = 0

    def start(self):
        log = open(os.path.join(self.dir, "chromium.log"), "wb")
        try:
            self.process = self._launch(log)
        finally:
            log.close()
        page = wait_until(self._page, timeout=30, what="Chromium's DevTools to list the page")
        self.ws = _WebSocket(page["webSocketDebuggerUrl"])
        return self

    def _launch(self, log):
        return start_process(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--user-data-dir=" + os.path.join(self.dir, "profile"),
             "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=%d" % self.port,
             "--window-size=%d,%d" % self.size, self.url],
            stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL)

    def _page(self):
        assert self.process.poll() is None, "chromium exited"
        with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % self.port,
                                    timeout=2) as response:
            pages = [t for t in json.loads(response.read()) if t["type"] == "page"]
        return pages[0] if pages else None

    def call(self, method, **params):
        """One DevTools command; its result (events in between are skipped)."""
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.receive())
            if message.get("id") == self.next_id:
                assert "error" not in message, message
                return message["result"]

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def screenshot(self, path):
        """Writes a PNG of the page as it is now."""
        data = self.call("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def cleanup(self, keep=False):
        if self.ws is not None:
            self.ws.close()
            self.ws = None
        if self.process is not None:
            kill_group(self.process)
            self.process = None
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)
