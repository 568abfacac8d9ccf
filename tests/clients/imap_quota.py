"""QUOTA (RFC 9208) end to end, with imaplib and smtplib. The Rust test gave alice 20 KiB
and 5 messages (`ringpost user quota`); bob has no limit. APPEND and COPY over a limit get
NO [OVERQUOTA]; SMTP refuses a full mailbox at RCPT (452 4.2.2) and a message that fits in
no recipient's quota after DATA (552 5.2.2); with another recipient that has room, the
message is accepted for it and the sender gets a bounce for the full one."""
import imaplib
import re
import smtplib
import time

from common import ALICE, BOB, HOST, args, check

ports, ctx, _ = args()


def small(n):
    return b"Subject: small %d\r\n\r\n" % n + b"x" * 900 + b"\r\n"


BIG = b"Subject: big\r\n\r\n" + (b"y" * 76 + b"\r\n") * 400  # ~31 KiB


def quota(m):
    typ, data = m.getquotaroot("INBOX")
    check(typ == "OK", "GETQUOTAROOT", data)
    roots, quotas = data
    check(roots == [b'"INBOX" ""'], "one quota root, \"\"", data)
    found = re.match(rb'"" \(STORAGE (\d+) (\d+) MESSAGE (\d+) (\d+)\)', quotas[0])
    check(found is not None, "the QUOTA response", data)
    return tuple(int(x) for x in found.groups())


m = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
m.login(*ALICE)
typ, data = m.capability()
for cap in (b"QUOTA", b"QUOTA=RES-STORAGE", b"QUOTA=RES-MESSAGE"):
    check(cap in data[0].split(), cap.decode() + " advertised", data)
check(quota(m) == (0, 20, 0, 5), "an empty account's usage and limits", quota(m))
typ, data = m.setquota('""', "(STORAGE 100000)")
check(typ == "NO" and b"[NOPERM]" in data[0], "SETQUOTA is the administrator's", data)

for n in range(3):
    typ, data = m.append("INBOX", None, None, small(n))
    check(typ == "OK", "APPEND %d within the quota" % n, data)
used_kib, _, count, _ = quota(m)
check(count == 3 and 2 <= used_kib <= 4, "three messages counted", quota(m))

# Too big for what is left of 20 KiB.
typ, data = m.append("INBOX", None, None, BIG)
check(typ == "NO" and b"[OVERQUOTA]" in data[0], "APPEND over the storage limit", data)
m.select("INBOX")
# Three more would make six messages: over MESSAGE 5.
typ, data = m.copy("1:3", "INBOX")
check(typ == "NO" and b"[OVERQUOTA]" in data[0], "COPY over the message limit", data)
# A MOVE does not change the account's usage.
m.create("Kept")
typ, data = m._simple_command("MOVE", "3", "Kept")
check(typ == "OK", "MOVE within the account", data)
check(quota(m)[2] == 3, "MOVE left the usage alone", quota(m))

# Inbound SMTP: the message fits in no recipient's quota → 552 5.2.2 after DATA.
s = smtplib.SMTP(HOST, ports["smtp"])
s.ehlo("mx.remote.example")
s.mail("someone@remote.example")
code, msg = s.rcpt(ALICE[0])
check(code == 250, "RCPT of an account with room", (code, msg))
code, msg = s.data(BIG)
check(code == 552 and msg.startswith(b"5.2.2"), "552 5.2.2 after DATA", (code, msg))

# Submission from bob to alice and bob: bob gets it, alice does not, and bob (the sender)
# gets a bounce naming alice.
sub = smtplib.SMTP_SSL(HOST, ports["smtps"], context=ctx)
sub.login(*BOB)
refused = sub.sendmail(BOB[0], [ALICE[0], BOB[0]], b"From: bob@example.com\r\nTo: alice@example.com\r\n" + BIG)
check(refused == {}, "accepted for the recipient with room", refused)
sub.quit()
check(quota(m)[2] == 3, "nothing for alice", quota(m))
b = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
b.login(*BOB)
bounce = None
for _ in range(100):
    b.select("INBOX")
    typ, data = b.search(None, "HEADER", "Content-Type", "delivery-status")
    if data[0]:
        typ, data = b.fetch(data[0].split()[0], "(BODY.PEEK[])")
        bounce = data[0][1]
        break
    time.sleep(0.1)
check(bounce is not None, "a bounce reached the sender")
check(b"Status: 5.2.2" in bounce and b"Final-Recipient: rfc822; alice@example.com" in bounce,
      "the bounce names alice and 5.2.2", bounce[:2000])
typ, data = b.search(None, "SUBJECT", "big")
check(len(data[0].split()) == 1, "bob got the message", data)
b.logout()

# Two more make five messages: alice is full, and inbound RCPT hears 452 4.2.2.
for n in (3, 4):
    typ, data = m.append("INBOX", None, None, small(n))
    check(typ == "OK", "APPEND up to the message limit", data)
check(quota(m)[2:] == (5, 5), "at the message limit", quota(m))
s.rset()
s.mail("someone@remote.example")
code, msg = s.rcpt(ALICE[0])
check(code == 452 and msg.startswith(b"4.2.2"), "452 4.2.2 at RCPT for a full mailbox", (code, msg))
s.quit()
typ, data = m.append("INBOX", None, None, small(5))
check(typ == "NO" and b"[OVERQUOTA]" in data[0], "APPEND at the message limit", data)

# DELETED-STORAGE: what an EXPUNGE gives back; then there is room again.
m.select("INBOX")
typ, data = m.fetch("1", "(RFC822.SIZE)")
size = int(re.search(rb"RFC822.SIZE (\d+)", data[0]).group(1))
m.store("1", "+FLAGS", "\\Deleted")
typ, data = m.status("INBOX", "(DELETED DELETED-STORAGE)")
check(typ == "OK" and (b"DELETED 1 DELETED-STORAGE %d" % size) in data[0], "STATUS DELETED-STORAGE", data)
m.expunge()
typ, data = m.append("INBOX", None, None, small(6))
check(typ == "OK", "APPEND after an EXPUNGE made room", data)
m.logout()
print("quota passed")
