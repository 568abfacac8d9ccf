"""Replication between cluster hosts (issue 19), the clients' side: steps run by
tests/e2e_replication.rs around changes of the map, each `step key=value…`:

- `deliver n=N [via=V] [prefix=P] [users=alice|both]`: N messages, each to the users (both
  by default), through host V's port 25 (the first's by default) over STARTTLS, subjects `P i` ("replicated" by default);
  every one must be accepted (with sync replication a 250 means the primary and its
  replica have it on disk). Prints `delivered N`.
- `count n=N [prefix=P] [users=alice|both]`: through every host, the users (both by
  default) each see exactly the N messages `deliver` sent with prefix P, and no other of
  that prefix (retrying while the map changes under the hosts: a login may be refused or a
  session ended meanwhile). Prints `counted N`.
- `load seconds=S via=V out=FILE`: for S seconds, one message after another to alice and
  bob through host V's port 25, reconnecting after any failure; the number of each message
  acknowledged (250) goes to FILE, one per line.
- `acked file=FILE [skip=I]`: every message numbered in FILE is in alice's and bob's INBOX
  exactly once, through every host but host I.
- `moved via=V ready=FILE`: alice logs in over IMAPS (INBOX selected, in IDLE) and POP3S on
  host V, which serves her, then creates FILE; when her partition moves to another host the
  IMAP session ends with `* BYE [UNAVAILABLE]` and the POP3 session with `-ERR [SYS/TEMP]`,
  and logging in again through host V works (routed to the new primary). Prints `moved: ok`.

argv: ports cafile hosts-json step key=value…
"""
import imaplib
import json
import poplib
import smtplib
import time

from common import ALICE, BOB, HOST, args, check

ports, ctx, extra = args()
hosts = json.loads(extra[0])
step = extra[1]
opts = dict(a.split("=", 1) for a in extra[2:])
n = int(opts.get("n", "0"))
VIA = int(opts.get("via", "0"))
PREFIX = opts.get("prefix", "replicated")
USERS = (ALICE,) if opts.get("users") == "alice" else (ALICE, BOB)
TIMEOUT = 20


def deliver():
    with smtplib.SMTP(HOST, hosts[VIA]["smtp"], timeout=TIMEOUT) as s:
        s.starttls(context=ctx)
        s.ehlo("client.example.org")
        for i in range(n):
            msg = ("From: sender@example.org\r\nTo: %s\r\n"
                   "Subject: %s %d\r\nMessage-ID: <%s%d@example.org>\r\n\r\n"
                   "copy %d\r\n" % (", ".join(u[0] for u in USERS), PREFIX, i, PREFIX, i,
                                      i)).encode()
            refused = s.sendmail("sender@example.org", [u[0] for u in USERS], msg)
            check(refused == {}, "message %d accepted for every user" % i, refused)
    print("delivered %d" % n)


def subjects(host, who):
    c = imaplib.IMAP4_SSL(HOST, host["imaps"], ssl_context=ctx, timeout=TIMEOUT)
    try:
        c.login(*who)
        typ, data = c.select("INBOX", readonly=True)
        check(typ == "OK", "SELECT", data)
        if int(data[0]) == 0:
            return []
        typ, data = c.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        check(typ == "OK", "FETCH", data)
        found = []
        for item in data:
            if isinstance(item, tuple):
                found.append(item[1].decode().strip())
        c.logout()
        return sorted(found)
    finally:
        try:
            c.shutdown()
        except OSError:
            pass


def load(seconds, via, out):
    acked = []
    i = 0
    end = time.time() + seconds
    while time.time() < end:
        try:
            with smtplib.SMTP(HOST, hosts[via]["smtp"], timeout=TIMEOUT) as s:
                s.starttls(context=ctx)
                s.ehlo("client.example.org")
                while time.time() < end:
                    i += 1
                    msg = ("From: sender@example.org\r\nTo: alice@example.com\r\n"
                           "Subject: load %d\r\nMessage-ID: <l%d@example.org>\r\n\r\n"
                           "load %d\r\n" % (i, i, i)).encode()
                    try:
                        refused = s.sendmail("sender@example.org", [ALICE[0], BOB[0]], msg)
                    except smtplib.SMTPResponseException:
                        continue  # 4xx: not acknowledged, try the next one
                    if refused == {}:
                        acked.append(i)
        except (OSError, smtplib.SMTPException):
            time.sleep(0.2)
    with open(out, "w") as f:
        f.write("".join("%d\n" % n for n in acked))
    check(len(acked) > 0, "some messages acknowledged", i)
    print("load: %d sent, %d acknowledged" % (i, len(acked)))


def load_subjects(host, who):
    return [x for x in subjects(host, who) if x.startswith("Subject: load ")]


def acked(path):
    want = sorted("Subject: load %s" % line.strip() for line in open(path) if line.strip())
    deadline = time.time() + 60
    for i, host in enumerate(hosts):
        if i == int(opts.get("skip", "-1")):
            continue
        for who in (ALICE, BOB):
            while True:
                try:
                    got = load_subjects(host, who)
                    missing = sorted(set(want) - set(got))
                    if not missing:
                        twice = [w for w in want if got.count(w) != 1]
                        check(not twice, "no acknowledged message is there twice", twice[:3])
                        break
                    why = "%d acknowledged messages missing, e.g. %s" % (len(missing), missing[:3])
                except (imaplib.IMAP4.error, OSError, EOFError) as e:
                    why = repr(e)
                if time.time() > deadline:
                    check(False, "%s has every acknowledged message through host %d" % (who[0], i), why)
                time.sleep(0.5)
            print("ok: %s has all %d acknowledged messages through host %d" % (who[0], len(want), i))
    print("acked: ok")


def count():
    want = sorted("Subject: %s %d" % (PREFIX, i) for i in range(n))
    deadline = time.time() + 60
    for i, host in enumerate(hosts):
        for who in USERS:
            while True:
                try:
                    got = [x for x in subjects(host, who)
                           if x.startswith("Subject: %s " % PREFIX)]
                    if got == want:
                        break
                    why = "%d messages" % len(got)
                except (imaplib.IMAP4.error, OSError, EOFError) as e:
                    why = repr(e)
                if time.time() > deadline:
                    check(False, "%s sees the %d messages through host %d" % (who[0], n, i), why)
                time.sleep(0.5)
            print("ok: %s sees the %d messages through host %d" % (who[0], n, i))
    print("counted %d" % n)


def moved(via, ready):
    host = hosts[via]
    c = imaplib.IMAP4_SSL(HOST, host["imaps"], ssl_context=ctx, timeout=90)
    c.login(*ALICE)
    typ, _ = c.select("INBOX")
    check(typ == "OK", "SELECT INBOX", typ)
    p = poplib.POP3_SSL(HOST, host["pop3s"], context=ctx, timeout=90)
    p.user(ALICE[0])
    p.pass_(ALICE[1])
    p.stat()
    c.send(b"i1 IDLE\r\n")
    line = c.readline()
    check(line.startswith(b"+"), "IDLE accepted", line)
    open(ready, "w").close()
    # Notices of the load's deliveries may come first; then the farewell.
    while True:
        line = c.readline()
        check(line != b"", "a farewell before the connection closed", line)
        if line.startswith(b"* BYE"):
            break
    check(b"[UNAVAILABLE]" in line, "IMAP BYE [UNAVAILABLE]", line)
    print("imap: %s" % line.decode().strip())
    try:
        p.noop()
        check(False, "POP3 refused after the move", "NOOP answered +OK")
    except poplib.error_proto as e:
        text = e.args[0] if isinstance(e.args[0], bytes) else str(e.args[0]).encode()
        check(b"[SYS/TEMP]" in text, "POP3 -ERR [SYS/TEMP]", text)
        print("pop3: %s" % text.decode().strip())
    # Back in through the same host: it relays to the host that serves her now.
    deadline = time.time() + 60
    while True:
        try:
            c = imaplib.IMAP4_SSL(HOST, host["imaps"], ssl_context=ctx, timeout=TIMEOUT)
            c.login(*ALICE)
            typ, data = c.select("INBOX")
            check(typ == "OK", "SELECT INBOX after the move", data)
            c.logout()
            break
        except (imaplib.IMAP4.error, OSError, EOFError) as e:
            if time.time() > deadline:
                check(False, "alice logs in again after the move", repr(e))
            time.sleep(0.5)
    print("moved: ok")


if step == "deliver":
    deliver()
elif step == "count":
    count()
elif step == "load":
    load(float(opts["seconds"]), VIA, opts["out"])
elif step == "acked":
    acked(opts["file"])
elif step == "moved":
    moved(VIA, opts["ready"])
else:
    check(False, "unknown step", step)
