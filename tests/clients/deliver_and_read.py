"""Deliver one message to alice over inbound SMTP and read it back over IMAP: the store is
written and read."""
from common import ALICE, Raw, args, check

ports, ctx, extra = args()

r = Raw(ports["smtp"])
r.line()
r.send("EHLO client.example.org\r\n")
r.until("250 ")
check(r.cmd("MAIL FROM:<x@remote.example>").startswith("250"), "MAIL")
check(r.cmd("RCPT TO:<%s>" % ALICE[0]).startswith("250"), "RCPT")
check(r.cmd("DATA").startswith("354"), "DATA")
check(r.cmd("Subject: stored\r\n\r\nbody\r\n.").startswith("250"), "delivered")
r.close()

r = Raw(ports["imaps"], ctx, implicit=True)
r.line()
check(r.cmd('a LOGIN %s "%s"' % ALICE).startswith("a OK"), "login")
r.send("b SELECT INBOX\r\n")
check(r.until("b ")[-1].startswith("b OK"), "SELECT")
r.send("c FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n")
lines = r.until("c ")
check(any("Subject: stored" in l for l in lines), "read back", lines)
print("deliver and read passed")
