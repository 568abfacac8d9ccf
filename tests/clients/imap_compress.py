"""RFC 4978 COMPRESS=DEFLATE over implicit TLS, with Python's zlib as the other end (imaplib
knows no COMPRESS): raw DEFLATE both ways (wbits=-15), the client sync-flushing each write.

- a command pipelined right behind COMPRESS, already compressed, is answered;
- a 1 MiB APPEND and a FETCH of it come back byte for byte; the compressed and plain sizes of
  that FETCH are printed (`measure:` lines);
- a line of 4 MiB that deflates to a few KiB is refused like any over-long line, and the
  session goes on;
- IDLE hears an SMTP delivery: the pushed EXISTS is flushed, not left in the compressor;
- UNAUTHENTICATE, then bob's login moves the connection to bob's home shard (alice and bob
  live on different shards) with compression on: the session goes on compressed there, and
  COMPRESS is NO [COMPRESSIONACTIVE];
- a client that sends garbage after COMPRESS is disconnected, and the server serves the
  next connection."""
import smtplib
import socket
import ssl
import zlib

from common import ALICE, BOB, HOST, Raw, args, check

ports, ctx, _ = args()


class Deflated:
    """The connection after COMPRESS: everything sent is deflated, everything read inflated."""

    def __init__(self, raw, pending=b""):
        self.raw = raw
        self.out = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        self.inflate = zlib.decompressobj(-15)
        self.buf = b""
        # Compressed bytes read from the socket (the IMAP layer's size on the wire).
        self.wire_in = 0
        if pending:
            self.wire_in += len(pending)
            self.buf += self.inflate.decompress(pending)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.raw.sock.sendall(self.out.compress(data) + self.out.flush(zlib.Z_SYNC_FLUSH))

    def fill(self):
        chunk = self.raw.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed; buffered: %r" % self.buf[:200])
        self.wire_in += len(chunk)
        self.buf += self.inflate.decompress(chunk)

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def exact(self, n):
        while len(self.buf) < n:
            self.fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def until(self, prefix):
        lines = []
        while True:
            l = self.line()
            lines.append(l)
            if l.startswith(prefix):
                return lines


def login_and_compress(user, pipelined=None):
    r = Raw(ports["imaps"], ctx, implicit=True)
    r.line()
    check(r.cmd('a1 LOGIN %s "%s"' % user).startswith("a1 OK"), "LOGIN " + user[0])
    # The client compresses from right after the COMPRESS line's CRLF; what it pipelines
    # there comes compressed in the same write.
    z_out = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    after = b""
    if pipelined is not None:
        after = z_out.compress(pipelined) + z_out.flush(zlib.Z_SYNC_FLUSH)
    r.send(b"a2 COMPRESS DEFLATE\r\n" + after)
    check(r.line() == "a2 OK DEFLATE active", "COMPRESS DEFLATE answered OK, uncompressed")
    z = Deflated(r, pending=r.buf)
    r.buf = b""
    z.out = z_out
    return z


def body_of(size):
    lines = [b"Subject: compress\r\nFrom: a@example.org\r\n\r\n"]
    total = len(lines[0])
    i = 0
    while total < size:
        l = b"Line %d of the big message: the quick brown fox jumps over %d lazy dogs.\r\n" % (i, i * 7919 % 1013)
        lines.append(l)
        total += len(l)
        i += 1
    return b"".join(lines)


z = login_and_compress(ALICE, pipelined=b"a3 NOOP\r\n")
check(z.line() == "a3 OK NOOP completed", "a command pipelined behind COMPRESS, compressed")
z.send("a4 CAPABILITY\r\n")
lines = z.until("a4 ")
check("COMPRESS=DEFLATE" in lines[0] and lines[-1] == "a4 OK CAPABILITY completed",
      "CAPABILITY over the compressed stream", lines)
z.send("a5 COMPRESS DEFLATE\r\n")
line = z.line()
check(line == "a5 NO [COMPRESSIONACTIVE] DEFLATE active via COMPRESS", "second COMPRESS", line)

# A 1 MiB message, appended (streamed: over 256 KiB) and fetched back.
body = body_of(1 << 20)
z.send("a6 APPEND INBOX {%d}\r\n" % len(body))
check(z.line().startswith("+ "), "APPEND continuation")
z.send(body + b"\r\n")
line = z.line()
check(line.startswith("a6 OK [APPENDUID "), "APPEND of 1 MiB", line)
uid = int(line.split()[4].rstrip("]"))
z.send("a7 SELECT INBOX\r\n")
lines = z.until("a7 ")
check(lines[-1].startswith("a7 OK"), "SELECT", lines)
count = int([l for l in lines if l.endswith(" EXISTS")][0].split()[1])
before = z.wire_in
z.send("a8 UID FETCH %d BODY.PEEK[]\r\n" % uid)
head = z.line()
check(head.endswith("{%d}" % len(body)), "FETCH literal header", head)
got = z.exact(len(body))
check(got == body, "the 1 MiB message comes back byte for byte")
rest = z.until("a8 ")
check(rest[-1] == "a8 OK FETCH completed", "FETCH completed", rest)
compressed = z.wire_in - before

# The same FETCH without compression: the plaintext the IMAP layer sends.
plain = Raw(ports["imaps"], ctx, implicit=True)
plain.line()
plain.cmd('p1 LOGIN %s "%s"' % ALICE)
plain.send("p2 SELECT INBOX\r\n")
plain.until("p2 ")
plain.send("p3 UID FETCH %d BODY.PEEK[]\r\n" % uid)
plain_bytes = 0
while True:
    # Count every byte up to the tagged OK.
    chunk = plain.sock.recv(65536)
    check(chunk != b"", "plain FETCH not cut short")
    plain_bytes += len(chunk)
    plain.buf += chunk
    if b"\r\np3 OK FETCH completed\r\n" in plain.buf[-64:]:
        break
plain.buf = b""
plain.send("p4 LOGOUT\r\n")
plain.until("p4 ")
print("measure: FETCH of a %d-byte text message: %d bytes plain, %d bytes compressed (%.1f%%)"
      % (len(body), plain_bytes, compressed, 100.0 * compressed / plain_bytes), flush=True)
check(compressed * 3 < plain_bytes, "the FETCH is compressed", (compressed, plain_bytes))

# A bomb of a line: 4 MiB that deflate to a few KiB. The line limit applies to what it
# inflates to: refused, and the session goes on.
bomb = b"a9 NOOP " + b"x" * (4 << 20) + b"\r\n"
z.send(bomb)
line = z.line()
check(" BAD [TOOBIG]" in line, "an over-long inflated line is refused", line)
z.send("b1 NOOP\r\n")
line = z.line()
check(line == "b1 OK NOOP completed", "the session goes on after the refusal", line)

# IDLE: a delivery's EXISTS is pushed and flushed while the client only waits.
z.send("b2 IDLE\r\n")
check(z.line() == "+ idling", "IDLE continuation, flushed")
s = smtplib.SMTP(HOST, ports["smtp"])
s.sendmail("x@remote.example", [ALICE[0]], b"Subject: idle\r\n\r\nping\r\n")
s.quit()
z.raw.sock.settimeout(10)
line = z.line()
check(line == "* %d EXISTS" % (count + 1), "EXISTS pushed during IDLE arrives", line)
z.send("DONE\r\n")
lines = z.until("b2 ")
check(lines[-1] == "b2 OK IDLE terminated", "DONE", lines)

# Another account on the same connection: it moves to bob's home shard, still compressed.
z.send("b3 UNAUTHENTICATE\r\n")
check(z.line() == "b3 OK UNAUTHENTICATE completed", "UNAUTHENTICATE")
z.send('b4 LOGIN %s "%s"\r\n' % BOB)
line = z.line()
check(line.startswith("b4 OK"), "bob's login, compressed", line)
z.send("b5 COMPRESS DEFLATE\r\n")
line = z.line()
check(line == "b5 NO [COMPRESSIONACTIVE] DEFLATE active via COMPRESS",
      "compression survives UNAUTHENTICATE and the move", line)
z.send("b6 SELECT INBOX\r\n")
lines = z.until("b6 ")
check(lines[-1].startswith("b6 OK"), "SELECT as bob on his shard", lines)
z.send("b7 UID FETCH 1:* (UID RFC822.SIZE)\r\n")
lines = z.until("b7 ")
check(lines[-1] == "b7 OK FETCH completed" and all(str(len(body)) not in l for l in lines),
      "bob sees his mailbox, not alice's", lines)
z.send("b8 LOGOUT\r\n")
lines = z.until("b8 ")
check(lines[0].startswith("* BYE") and lines[-1] == "b8 OK LOGOUT completed", "LOGOUT", lines)

# Garbage after COMPRESS: not valid DEFLATE. The connection is closed, the server stays up.
g = login_and_compress(ALICE)
g.raw.sock.sendall(b"\xff\xff\xff\xff this is not deflate\r\n")
check(g.raw.closed(), "a client sending invalid DEFLATE is disconnected")
r = Raw(ports["imaps"], ctx, implicit=True)
check(r.line().startswith("* OK"), "the server still greets")
check(r.cmd('c1 LOGIN %s "%s"' % ALICE).startswith("c1 OK"), "and logs in")
r.send("c2 LOGOUT\r\n")
r.until("c2 ")
print("compress passed")
