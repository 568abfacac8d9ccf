"""POP3 and IMAP share the INBOX: an IMAP session idling on it sees the expunges of a POP3
QUIT at once, and is never blocked by the POP3 lock."""
import poplib
import smtplib

from common import ALICE, HOST, Raw, args, check

ports, ctx, _ = args()
user, pw = ALICE
s = smtplib.SMTP(HOST, ports["smtp"])
for i in range(3):
    s.sendmail("a@remote.example", [user], b"Subject: m%d\r\n\r\nbody\r\n" % i)
s.quit()

p = poplib.POP3_SSL(HOST, ports["pop3s"], context=ctx)
p.user(user)
p.pass_(pw)
# IMAP logs in and selects while POP3 holds the maildrop lock.
r = Raw(ports["imaps"], ctx, implicit=True)
r.line()
check(r.cmd('a1 LOGIN %s "%s"' % (user, pw)).startswith("a1 OK"), "IMAP login while POP3 holds the lock")
r.send("a2 SELECT INBOX\r\n")
lines = r.until("a2 ")
check("* 3 EXISTS" in lines and lines[-1].startswith("a2 OK"), "IMAP selects the INBOX", lines)
check(r.cmd("a3 IDLE").startswith("+ "), "IMAP idles")
p.dele(1)
p.dele(3)
check(p.quit().startswith(b"+OK"), "POP3 QUIT expunges 2 messages")
got = sorted([r.line(), r.line()])
check(got == ["* 1 EXPUNGE", "* 2 EXPUNGE"], "IMAP saw both expunges during IDLE", got)
check(r.cmd("DONE").startswith("a3 OK"), "DONE")
r.send("a4 FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n")
lines = r.until("a4 ")
check(any("m1" in l for l in lines), "the message left is the middle one", lines)
print("pop3 imap expunge passed")
