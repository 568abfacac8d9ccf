"""POP3 against the real server with real clients: poplib on both listeners, curl, fetchmail.

phase `fill`:  deliver three messages over SMTP, check STAT/LIST/UIDL/RETR/TOP byte for byte,
               write the UIDLs to a file.
phase `after-restart`: the UIDLs are unchanged; the lock; DELE/RSET/QUIT; a dropped session
               deletes nothing; pipelining; curl; fetchmail downloads and deletes everything."""
import json
import os
import poplib
import smtplib
import subprocess
import tempfile
import time

from common import have, ALICE, BOB, HOST, Raw, args, check

ports, ctx, extra = args()
phase, state_file, cafile = extra[0], extra[1], extra[2]
user, pw = ALICE


def pop(implicit=True):
    if implicit:
        p = poplib.POP3_SSL(HOST, ports["pop3s"], context=ctx)
    else:
        p = poplib.POP3(HOST, ports["pop3"])
        p.stls(context=ctx)
    p.user(user)
    p.pass_(pw)
    return p


def retr(p, n):
    resp, lines, octets = p.retr(n)
    return b"\r\n".join(lines) + b"\r\n", octets


SENT = [
    b"From: a@remote.example\r\nSubject: one\r\n\r\nFirst.\r\n",
    b"From: a@remote.example\r\nSubject: dots\r\n\r\n.starts with a dot\r\n..two dots\r\n.\r\nend\r\n",
    b"From: a@remote.example\r\nSubject: big\r\n\r\n" + b"".join(b"%07d " % i + b"x" * 70 + b"\r\n" for i in range(40000)),
]

if phase == "fill":
    s = smtplib.SMTP(HOST, ports["smtp"])
    for m in SENT:
        s.sendmail("a@remote.example", [user], m)
    s.quit()
    for implicit in (True, False):
        p = pop(implicit)
        count, size = p.stat()
        check(count == 3, "STAT counts 3 messages (%s)" % ("995" if implicit else "110+STLS"), (count, size))
        listing = [l.split() for l in p.list()[1]]
        uidls = [l.split()[1].decode() for l in p.uidl()[1]]
        check(len(set(uidls)) == 3 and all(len(u) == 16 for u in uidls), "UIDLs unique, Dovecot format", uidls)
        total = 0
        for i, sent in enumerate(SENT, start=1):
            got, octets = retr(p, i)
            check(got.startswith(b"Return-Path: <a@remote.example>\r\nReceived: from ") and got.endswith(b"\r\n\r\n" + sent.split(b"\r\n\r\n", 1)[1]),
                  "RETR %d byte-identical (%d bytes)" % (i, len(got)), got[:200])
            check(int(listing[i - 1][1]) == len(got), "LIST size of %d matches the bytes sent" % i, (listing[i - 1], len(got)))
            total += len(got)
        check(size == total, "STAT size is the sum", (size, total))
        resp, lines, _ = p.top(2, 0)
        check(lines[-1] == b"" and any(l.startswith(b"Subject: dots") for l in lines), "TOP 2 0: headers only", lines)
        resp, lines, _ = p.top(2, 2)
        check(lines[-2:] == [b".starts with a dot", b"..two dots"], "TOP 2 2: two body lines, as sent", lines[-3:])
        p.quit()
    with open(state_file, "w") as f:
        json.dump(uidls, f)
    print("pop3 fill passed")

elif phase == "after-restart":
    with open(state_file) as f:
        before = json.load(f)
    p = pop()
    uidls = [l.split()[1].decode() for l in p.uidl()[1]]
    check(uidls == before, "UIDLs stable across a restart", (before, uidls))
    # A second POP3 session on the same account is refused with [IN-USE].
    q = poplib.POP3_SSL(HOST, ports["pop3s"], context=ctx)
    q.user(user)
    try:
        q.pass_(pw)
        check(False, "second session refused")
    except poplib.error_proto as e:
        check(b"[IN-USE]" in e.args[0], "second POP3 session gets -ERR [IN-USE]", e)
    q.quit()
    # DELE marks, RSET restores, QUIT expunges.
    p.dele(1)
    check(p.stat()[0] == 2, "DELE hides the message")
    p.rset()
    check(p.stat()[0] == 3, "RSET restores it")
    p.dele(1)
    check(p.quit().startswith(b"+OK"), "QUIT expunges")
    p = pop()
    check(p.stat()[0] == 2, "the deleted message is gone for good")
    # A dropped connection deletes nothing.
    p.dele(1)
    # Drop the connection without QUIT (poplib's file object would keep the socket open).
    p.sock.shutdown(2)
    p.file.close()
    p.sock.close()
    # The lock is released once the server sees the connection close: retry briefly.
    deadline = time.time() + 10
    while True:
        try:
            p = pop()
            break
        except poplib.error_proto as e:
            if b"[IN-USE]" not in e.args[0] or time.time() > deadline:
                raise
            time.sleep(0.05)
    check(p.stat()[0] == 2, "a dropped session deleted nothing")
    p.quit()
    # Pipelining (RFC 2449): several commands in one write, answered in order.
    r = Raw(ports["pop3s"], ctx, implicit=True)
    r.line()
    r.send("USER %s\r\nPASS %s\r\nSTAT\r\nUIDL 1\r\nNOOP\r\nQUIT\r\n" % (user, pw))
    replies = [r.line() for _ in range(6)]
    check([x.split()[0] for x in replies] == ["+OK"] * 6 and replies[2].startswith("+OK 2 "), "pipelined commands", replies)
    r.close()
    # curl: LIST and RETR over pop3s.
    if have("curl", "curl"):
        out = subprocess.run(["curl", "-s", "--cacert", cafile, "-u", "%s:%s" % (user, pw), "pop3s://localhost:%d/" % ports["pop3s"]],
                             capture_output=True, timeout=30)
        check(out.returncode == 0 and len(out.stdout.strip().split(b"\r\n")) == 2, "curl pop3s LIST", out)
        out = subprocess.run(["curl", "-s", "--cacert", cafile, "-u", "%s:%s" % (user, pw), "pop3s://localhost:%d/1" % ports["pop3s"]],
                             capture_output=True, timeout=30)
        check(out.returncode == 0 and b"Subject: dots" in out.stdout and b"\r\n.starts with a dot\r\n" in out.stdout, "curl pop3s RETR", out.stdout[:200])
    # fetchmail downloads and deletes the whole mailbox (without it, poplib deletes it).
    if not have("fetchmail", "fetchmail"):
        p = pop()
        for i in range(p.stat()[0]):
            p.dele(i + 1)
        p.quit()
    else:
        with tempfile.TemporaryDirectory() as d:
            mbox = os.path.join(d, "mbox")
            rc = os.path.join(d, "fetchmailrc")
            with open(rc, "w") as f:
                f.write('poll localhost protocol pop3 port %d\n  user "%s" password "%s"\n  ssl sslcertck sslcertfile "%s"\n  mda "cat >> %s"\n  nokeep\n'
                        % (ports["pop3s"], user, pw, cafile, mbox))
            os.chmod(rc, 0o600)
            out = subprocess.run(["fetchmail", "-f", rc, "-N", "--nosyslog", "-v"], capture_output=True, timeout=60,
                                 env=dict(os.environ, HOME=d))
            check(out.returncode == 0, "fetchmail ran", out.stdout.decode(errors="replace")[-2000:] + out.stderr.decode(errors="replace")[-2000:])
            data = open(mbox, "rb").read()
            check(b"Subject: dots" in data and b"Subject: big" in data and b"0039999 " in data, "fetchmail delivered both messages", len(data))
    p = pop()
    check(p.stat()[0] == 0, "fetchmail deleted them on the server")
    p.quit()
    print("pop3 after restart passed")
