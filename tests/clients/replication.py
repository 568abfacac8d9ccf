"""Replication between cluster hosts (issue 19), the clients' side. Two steps, run by
tests/e2e_replication.rs around a change of the map:

- `deliver N`: N messages, each to alice and bob, through the first host's port 25 over
  STARTTLS; every one must be accepted (with sync replication a 250 means the primary and
  its replica have it on disk). Prints `delivered N`.
- `count N`: through every host, alice and bob each see exactly N messages with the
  subjects sent (retrying while the map changes under the hosts: a login may be refused
  or a session ended meanwhile). Prints `counted N`.

argv: ports cafile hosts-json step N
"""
import imaplib
import json
import smtplib
import time

from common import ALICE, BOB, HOST, args, check

ports, ctx, extra = args()
hosts = json.loads(extra[0])
step, n = extra[1], int(extra[2])
TIMEOUT = 20


def deliver():
    with smtplib.SMTP(HOST, hosts[0]["smtp"], timeout=TIMEOUT) as s:
        s.starttls(context=ctx)
        s.ehlo("client.example.org")
        for i in range(n):
            msg = ("From: sender@example.org\r\nTo: alice@example.com, bob@example.com\r\n"
                   "Subject: replicated %d\r\nMessage-ID: <r%d@example.org>\r\n\r\n"
                   "copy %d\r\n" % (i, i, i)).encode()
            refused = s.sendmail("sender@example.org", [ALICE[0], BOB[0]], msg)
            check(refused == {}, "message %d accepted for both" % i, refused)
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


def count():
    want = sorted("Subject: replicated %d" % i for i in range(n))
    deadline = time.time() + 60
    for i, host in enumerate(hosts):
        for who in (ALICE, BOB):
            while True:
                try:
                    got = subjects(host, who)
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


if step == "deliver":
    deliver()
elif step == "count":
    count()
else:
    check(False, "unknown step", step)
