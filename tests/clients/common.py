"""Shared helpers for the interop scripts: argument parsing, TLS context, raw line clients."""
import base64
import json
import os
import shutil
import socket
import ssl
import sys

ALICE = ("alice@example.com", "alice-pass-1")
BOB = ("bob@example.com", "bob-pass-1")
HOST = "127.0.0.1"


def args():
    """argv: ports-json cafile [extra...]"""
    ports = json.loads(sys.argv[1])
    ctx = ssl.create_default_context(cafile=sys.argv[2])
    ctx.check_hostname = True
    return ports, ctx, sys.argv[3:]


def b64(s):
    if isinstance(s, str):
        s = s.encode()
    return base64.b64encode(s).decode()


def plain_ir(user, password):
    return b64(b"\0" + user.encode() + b"\0" + password.encode())


class Raw:
    """A line-oriented client over plaintext or TLS, for byte-level checks."""

    def __init__(self, port, ctx=None, implicit=False):
        self.sock = socket.create_connection((HOST, port), timeout=10)
        self.ctx = ctx
        if implicit:
            self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; buffered: %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def cmd(self, data):
        self.send(data + "\r\n")
        return self.line()

    def until(self, prefix):
        """Read lines until one starts with prefix; return all of them."""
        lines = []
        while True:
            l = self.line()
            lines.append(l)
            if l.startswith(prefix):
                return lines

    def starttls(self):
        assert self.buf == b"", "unread plaintext before TLS: %r" % self.buf
        self.sock = self.ctx.wrap_socket(self.sock, server_hostname="localhost")

    def closed(self):
        """True when the server closed the connection (EOF or reset)."""
        try:
            self.sock.settimeout(5)
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except (ConnectionResetError, ssl.SSLError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


def check(cond, what, detail=""):
    if not cond:
        raise AssertionError("%s: %s" % (what, detail))
    print("ok:", what)


def silent(r, what, wait=1.0):
    """Nothing arrives on the Raw connection `r` for `wait` seconds."""
    r.sock.settimeout(wait)
    try:
        line = r.line()
    except (socket.timeout, TimeoutError):
        return
    check(False, what + ": heard something", line)


def have(tool, package):
    """Whether the client `tool` (Debian package `package`) is installed. If not, the caller
    skips its part: one `SKIPPED:` line the Rust test shows on the terminal, or, where
    RINGPOST_REQUIRE_CLIENTS is set (CI), a failure."""
    if shutil.which(tool):
        return True
    why = "needs %s: apt-get install %s" % (tool, package)
    if os.environ.get("RINGPOST_REQUIRE_CLIENTS"):
        raise AssertionError("RINGPOST_REQUIRE_CLIENTS is set, and " + why)
    print("SKIPPED: " + why, flush=True)
    return False
