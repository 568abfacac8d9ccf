"""Any host takes any client (issue 19): three ringpost hosts share one cluster map; alice
and bob each live on one of them. Through every host, with Python's own clients over TLS:

- IMAP: log in (LOGIN, and AUTHENTICATE PLAIN with a command pipelined behind it), APPEND,
  and see every message appended through every other host;
- SMTP: one message to alice and bob through one host's port 25 arrives once for each,
  whichever hosts they live on;
- POP3: the maildrop counts what IMAP sees;
- DAV: PROPFIND on alice's calendar home answers 207 with her calendar.

argv: ports cafile hosts-json (a list of every host's ports, and for a host off loopback its
address as `host`)
"""
import base64
import http.client
import imaplib
import json
import poplib
import smtplib
import socket
import time

from common import ALICE, BOB, HOST, args, check

ports, ctx, extra = args()
hosts = json.loads(extra[0])
CONN_TIMEOUT = 20


def addr(host):
    """The address host's listeners are on: loopback unless the test put it elsewhere."""
    return host.get("host", HOST)


def imap(host):
    c = imaplib.IMAP4_SSL(addr(host), host["imaps"], ssl_context=ctx, timeout=CONN_TIMEOUT)
    return c


def count(host, who):
    c = imap(host)
    c.login(*who)
    typ, data = c.select("INBOX")
    check(typ == "OK", "SELECT through port %d" % host["imaps"], data)
    n = int(data[0])
    c.logout()
    return n


# IMAP: each host appends one message for alice; every host then sees all of them.
before = count(hosts[0], ALICE)
for i, host in enumerate(hosts):
    c = imap(host)
    typ, data = c.login(*ALICE)
    check(typ == "OK", "LOGIN through host %d" % i, data)
    # The capabilities after login come from the host that serves alice.
    check(b"IDLE" in data[0] or "IDLE" in c.capabilities, "authenticated capabilities", data)
    msg = ("From: x@example.org\r\nTo: alice@example.com\r\nSubject: via host %d\r\n"
           "Message-ID: <via-%d-%f@example.org>\r\n\r\nbody %d\r\n" % (i, i, time.time(), i)).encode()
    typ, data = c.append("INBOX", None, None, msg)
    check(typ == "OK", "APPEND through host %d" % i, data)
    c.logout()
for i, host in enumerate(hosts):
    n = count(host, ALICE)
    check(n == before + len(hosts), "host %d sees every APPEND" % i,
          "%d messages, %d expected" % (n, before + len(hosts)))

# AUTHENTICATE PLAIN with a command pipelined behind it: the host that serves alice answers
# both, in order.
for i, host in enumerate(hosts):
    s = ctx.wrap_socket(socket.create_connection((addr(host), host["imaps"]), timeout=CONN_TIMEOUT),
                        server_hostname="localhost")
    f = s.makefile("rb")
    f.readline()  # greeting
    ir = base64.b64encode(b"\0" + ALICE[0].encode() + b"\0" + ALICE[1].encode()).decode()
    s.sendall(("a1 AUTHENTICATE PLAIN %s\r\na2 STATUS INBOX (MESSAGES)\r\na3 LOGOUT\r\n" % ir).encode())
    lines = []
    while True:
        line = f.readline().decode()
        check(line != "", "host %d closed early: %r" % (i, lines))
        lines.append(line)
        if line.startswith("a3 "):
            break
    text = "".join(lines)
    check(lines[0].startswith("a1 OK"), "pipelined login through host %d" % i, text)
    check("* STATUS \"INBOX\" (MESSAGES %d)" % (before + len(hosts)) in text,
          "pipelined STATUS through host %d" % i, text)
    s.close()

# A wrong password is refused by whichever host is reached, and nothing is relayed.
for i, host in enumerate(hosts):
    c = imap(host)
    try:
        c.login(ALICE[0], "wrong-password")
        check(False, "a wrong password through host %d" % i)
    except imaplib.IMAP4.error:
        pass
    c.logout()

# SMTP: one message to alice and bob through the first host's port 25.
a_before = count(hosts[0], ALICE)
b_before = count(hosts[0], BOB)
with smtplib.SMTP(addr(hosts[0]), hosts[0]["smtp"], timeout=CONN_TIMEOUT) as s:
    s.starttls(context=ctx)
    s.ehlo("client.example.org")
    refused = s.sendmail("sender@example.org", [ALICE[0], BOB[0]],
                        b"From: sender@example.org\r\nTo: alice@example.com, bob@example.com\r\n"
                        b"Subject: to both\r\n\r\nonce each\r\n")
    check(refused == {}, "both recipients accepted", refused)
for i, host in enumerate(hosts):
    check(count(host, ALICE) == a_before + 1, "alice has the message once (host %d)" % i)
    check(count(host, BOB) == b_before + 1, "bob has the message once (host %d)" % i)

# POP3 through every host counts what IMAP sees.
expected = count(hosts[0], ALICE)
for i, host in enumerate(hosts):
    p = poplib.POP3_SSL(addr(host), host["pop3s"], context=ctx, timeout=CONN_TIMEOUT)
    p.user(ALICE[0])
    p.pass_(ALICE[1])
    n, _size = p.stat()
    check(n == expected, "POP3 STAT through host %d" % i, "%d, %d expected" % (n, expected))
    p.quit()

# DAV: alice's calendar home through every host.
auth = "Basic " + base64.b64encode(("%s:%s" % ALICE).encode()).decode()
for i, host in enumerate(hosts):
    h = http.client.HTTPSConnection(addr(host), host["https"], context=ctx, timeout=CONN_TIMEOUT)
    body = ('<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/>'
            '</d:prop></d:propfind>')
    h.request("PROPFIND", "/SOGo/dav/alice@example.com/Calendar/",
              body=body, headers={"Authorization": auth, "Depth": "1",
                                  "Content-Type": "application/xml"})
    r = h.getresponse()
    text = r.read().decode()
    check(r.status == 207, "PROPFIND through host %d" % i, "%d %s" % (r.status, text[:300]))
    check("/SOGo/dav/alice@example.com/Calendar/personal/" in text,
          "alice's calendar through host %d" % i, text[:600])
    # A second request on the same connection (keep-alive) is served too.
    h.request("PROPFIND", "/SOGo/dav/alice@example.com/Calendar/personal/",
              body=body, headers={"Authorization": auth, "Depth": "0",
                                  "Content-Type": "application/xml"})
    r = h.getresponse()
    r.read()
    check(r.status == 207, "a second PROPFIND on the connection (host %d)" % i, r.status)
    h.close()

print("cluster: ok")
