"""A 5 MiB APPEND (streamed to the store as it arrives) comes back byte for byte; an upload
cut off in the middle, or a command that turns out malformed after its literal, leaves no
message, and the server goes on serving."""
import imaplib
import random

from common import ALICE, HOST, Raw, args, check

ports, ctx, _ = args()


def login():
    m = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
    m.login(*ALICE)
    return m


def messages(m):
    typ, data = m.status("INBOX", "(MESSAGES)")
    check(typ == "OK", "STATUS", data)
    return int(data[0].split(b"MESSAGES ")[1].rstrip(b")"))


def raw_login():
    r = Raw(ports["imaps"], ctx, implicit=True)
    r.line()
    check(r.cmd("l LOGIN %s %s" % ALICE).startswith("l OK"), "raw login")
    return r


rng = random.Random(5)
lines = [b"From: alice@example.com", b"To: bob@example.com", b"Subject: large", b""]
size = 0
while size < 5 << 20:
    line = bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz0123456789 ") for _ in range(76))
    lines.append(line)
    size += 78
message = b"\r\n".join(lines) + b"\r\n"

m = login()
before = messages(m)
typ, data = m.append("INBOX", "(\\Seen)", None, message)
check(typ == "OK" and b"APPENDUID" in data[0], "5 MiB APPEND", data)
uid = data[0].split()[2].rstrip(b"]")
m.select("INBOX")
typ, data = m.uid("FETCH", uid, "(RFC822.SIZE FLAGS BODY.PEEK[])")
check(typ == "OK", "FETCH the large message", typ)
check(b"RFC822.SIZE %d" % len(message) in data[0][0], "its size", data[0][0])
check(b"\\Seen" in data[0][0], "its flags", data[0][0])
check(data[0][1] == message, "byte-identical on FETCH", len(data[0][1]))
typ, data = m.uid("FETCH", uid, "(BODY.PEEK[TEXT]<100.50>)")
check(data[0][1] == message[message.index(b"\r\n\r\n") + 4 :][100:150], "a partial of it")
after_good = messages(m)
check(after_good == before + 1, "one message added", after_good)

# Cut off in the middle of a synchronizing literal, then of a non-synchronizing one.
for marker in (b"{5000000}", b"{5000000+}"):
    r = raw_login()
    r.send(b"a APPEND INBOX " + marker + b"\r\n")
    if not marker.endswith(b"+}"):
        check(r.line().startswith("+"), "continuation for the large literal")
    r.send(b"x" * (1 << 20))
    r.close()
    check(messages(m) == after_good, "nothing appended by a dropped upload " + marker.decode())

# A streamed literal whose command turns out malformed after it: BAD, nothing appended.
r = raw_login()
r.send(b"b APPEND INBOX {400000}\r\n")
check(r.line().startswith("+"), "continuation")
r.send(b"y" * 400000 + b" not-a-literal\r\n")
reply = r.line()
check(reply.startswith("b BAD"), "malformed after the literal", reply)
check(r.cmd("c NOOP").startswith("c OK"), "the session goes on")
r.close()
check(messages(m) == after_good, "nothing appended by the malformed command")

# MULTIAPPEND (RFC 3502) of a small message and a streamed one: both, under one tagged OK.
r = raw_login()
r.send(b"d APPEND INBOX {5}\r\n")
check(r.line().startswith("+"), "continuation for the small message")
r.send(b"small (\\Flagged) {400000}\r\n")
check(r.line().startswith("+"), "continuation for the large message")
r.send(b"z" * 400000 + b"\r\n")
reply = r.line()
check(reply.startswith("d OK [APPENDUID"), "MULTIAPPEND with a streamed message", reply)
r.close()
check(messages(m) == after_good + 2, "two messages added")
m.logout()

# RFC 3516 §4.3: a literal8 is stored exactly — a bare LF stays, a NUL too — and BINARY[]
# gives the bytes back as a literal8 (issue 18, defect 1). A normal literal's bare LF
# becomes CRLF, as Dovecot stores it.
exact = b"Subject: binary\r\n\r\nline one\nNUL:\x00 end\r\n"
r = raw_login()
r.send(b"e APPEND INBOX ~{%d}\r\n" % len(exact))
check(r.line().startswith("+"), "continuation for the literal8")
r.send(exact + b"\r\n")
reply = r.line()
check(reply.startswith("e OK [APPENDUID"), "APPEND of a literal8", reply)
uid = reply.split()[4].rstrip("]")
r.send(b"f EXAMINE INBOX\r\n")
r.until("f ")
r.send(b"g UID FETCH %s BINARY.PEEK[]\r\n" % uid.encode())
head = r.line()
check(head.endswith("BINARY[] ~{%d}" % len(exact)), "a literal8 comes back", head)
while len(r.buf) < len(exact):
    r.buf += r.sock.recv(65536)
check(r.buf[: len(exact)] == exact, "byte for byte", r.buf[: len(exact)])
r.buf = r.buf[len(exact):]
check(r.line() == ")", "end of the FETCH")
check(r.line().startswith("g OK"), "FETCH completed")
r.close()

m = login()
check(messages(m) == after_good + 3, "the server still serves")
m.logout()
print("large append passed")
