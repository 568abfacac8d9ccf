"""ringpost behind haproxy (PROXY protocol): clients from 127.0.0.2 through haproxy, and
hand-made headers straight to the PROXY listeners, trusted (127.0.0.1) or not (127.0.0.3).

argv: ports-json cafile haproxy-ports-json max-connections-per-ip
"""
import json
import smtplib
import socket
import ssl
import struct

from common import ALICE, HOST, check

import common

ports, ctx, extra = common.args()
balancer = json.loads(extra[0])
per_ip = int(extra[1])

CLIENT = ("127.0.0.2", 0)  # the client haproxy sees; haproxy itself is 127.0.0.1
UNTRUSTED = ("127.0.0.3", 0)
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_ipv4(src, sport, dst="127.0.0.1", dport=993):
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack(">HH", sport, dport)
    return V2_SIGNATURE + bytes([0x21, 0x11]) + struct.pack(">H", len(body)) + body


V2_LOCAL = V2_SIGNATURE + bytes([0x20, 0x00, 0x00, 0x00])


def v1(src, sport, dport=143):
    return ("PROXY TCP4 %s 127.0.0.1 %d %d\r\n" % (src, sport, dport)).encode()


class Plain(common.Raw):
    """common.Raw from a chosen source address, optionally sending `first` at once."""

    def __init__(self, port, source, first=b"", implicit=False):
        self.sock = socket.create_connection((HOST, port), timeout=10, source_address=source)
        self.ctx = ctx
        self.buf = b""
        if first:
            self.sock.sendall(first)
        if implicit:
            self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")


class TlsAfterHeader:
    """Implicit TLS whose ClientHello goes out in the same send as a PROXY header: the
    server must hand the bytes after the header to its TLS handshake untouched."""

    def __init__(self, port, header):
        self.sock = socket.create_connection((HOST, port), timeout=10)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")
        try:
            self.tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        self.sock.sendall(header + self.outgoing.read())
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.flush()
                self.fill()
        self.flush()
        self.buf = b""

    def flush(self):
        data = self.outgoing.read()
        if data:
            self.sock.sendall(data)

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("closed during TLS")
        self.incoming.write(data)

    def line(self):
        while b"\r\n" not in self.buf:
            try:
                self.buf += self.tls.read(65536)
            except ssl.SSLWantReadError:
                self.fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode()

    def cmd(self, text):
        self.tls.write((text + "\r\n").encode())
        self.flush()
        return self.line()

    def close(self):
        self.sock.close()


def closed_without_a_byte(conn):
    """The server closes at once and says nothing (no greeting, no TLS)."""
    conn.sock.settimeout(10)
    try:
        data = conn.sock.recv(65536)
    except ConnectionResetError:
        data = b""
    except socket.timeout:
        return False
    return data == b""


# Through haproxy (send-proxy-v2), implicit TLS terminated by ringpost: the login and the
# failed login are logged with the client's address.
r = Plain(balancer["imaps"], CLIENT, implicit=True)
check(r.line().startswith("* OK"), "IMAPS greeting through haproxy")
check(r.cmd('a LOGIN %s "%s"' % ALICE).startswith("a OK"), "IMAPS login through haproxy")
check(r.cmd("b LOGOUT").startswith("* BYE"), "IMAPS logout through haproxy")
r.close()
r = Plain(balancer["imaps"], CLIENT, implicit=True)
r.line()
check(r.cmd("c LOGIN %s wrong" % ALICE[0]).startswith("c NO"), "failed login through haproxy")
r.close()

# Through haproxy (send-proxy, v1), inbound SMTP with STARTTLS: a message for alice.
smtp = smtplib.SMTP(HOST, balancer["smtp"], source_address=CLIENT, timeout=10)
smtp.ehlo("client.example.org")
smtp.starttls(context=ctx)
smtp.ehlo("client.example.org")
message = b"From: carol@remote.example\r\nTo: alice@example.com\r\nSubject: via haproxy\r\n\r\nhello\r\n"
refused = smtp.sendmail("carol@remote.example", [ALICE[0]], message)
check(refused == {}, "SMTP delivery through haproxy", refused)
smtp.quit()

# Straight to a PROXY listener from an untrusted address: closed, not greeted.
check(closed_without_a_byte(Plain(ports["imap"], UNTRUSTED)), "untrusted source closed")
check(
    closed_without_a_byte(Plain(ports["imap"], UNTRUSTED, first=v1("192.0.2.1", 1))),
    "untrusted source with a header closed",
)
# From the trusted address without a header, or a broken one: closed, not greeted.
check(
    closed_without_a_byte(Plain(ports["imap"], None, first=b"a CAPABILITY\r\n")),
    "no header closed",
)
check(
    closed_without_a_byte(
        Plain(ports["imap"], None, first=b"PROXY TCP4 192.0.2.1 127.0.0.1 99999 143\r\n")
    ),
    "malformed v1 header closed",
)
check(
    closed_without_a_byte(Plain(ports["imaps"], None, first=V2_SIGNATURE + b"\x21\x11\xff\xff")),
    "oversized v2 header closed",
)
# Half a header, then nothing: closed when timeouts.tls_handshake_secs run out.
check(
    closed_without_a_byte(Plain(ports["imap"], None, first=b"PROXY TCP4 192.0.2")),
    "incomplete header closed after the timeout",
)

# A v1 header and the client's first command in one send: the command is not lost.
r = Plain(ports["imap"], None, first=v1("192.0.2.9", 4242) + b"a NOOP\r\n")
check(r.line().startswith("* OK"), "greeting after a v1 header")
check(r.line().startswith("a OK"), "the command sent with the header answered")
check(r.cmd("b LOGOUT").startswith("* BYE"), "logout after a v1 header")
r.close()

# A v2 header and the TLS ClientHello in one send, on the implicit-TLS listener.
t = TlsAfterHeader(ports["imaps"], v2_ipv4("192.0.2.10", 5555))
check(t.line().startswith("* OK"), "TLS greeting after a v2 header")
check(t.cmd('a LOGIN %s "%s"' % ALICE).startswith("a OK"), "login after a v2 header")
t.close()

# v2 LOCAL (a health check): served as the proxy's own connection.
r = Plain(ports["imap"], None, first=V2_LOCAL)
check(r.line().startswith("* OK"), "greeting after LOCAL")
check(r.cmd("a LOGOUT").startswith("* BYE"), "logout after LOCAL")
r.close()

# Connections are limited per client address, not per proxy: `per_ip` from one client are
# admitted, one more is refused in IMAP's words, and another client still gets in.
held = []
for i in range(per_ip):
    c = Plain(ports["imap"], None, first=v1("192.0.2.20", 6000 + i))
    check(c.line().startswith("* OK"), "connection %d of 192.0.2.20" % (i + 1))
    held.append(c)
c = Plain(ports["imap"], None, first=v1("192.0.2.20", 6999))
over = c.line()
check(over.startswith("* BYE"), "one more from 192.0.2.20 refused", over)
c.close()
c = Plain(ports["imap"], None, first=v1("192.0.2.21", 7000))
check(c.line().startswith("* OK"), "another client admitted")
held.append(c)
for c in held:
    c.close()

print("proxy passed")
