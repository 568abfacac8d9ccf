"""Requests refused for a configured limit, on each protocol: an over-long IMAP command line,
an over-long POP3 line, and an SMTP message over the size limit."""
from common import ALICE, Raw, args, check

ports, ctx, extra = args()
limit = int(extra[0])

r = Raw(ports["imaps"], ctx, implicit=True)
r.line()
reply = r.cmd("a NOOP " + "x" * (limit + 100))
check("TOOBIG" in reply, "IMAP line too long", reply)
r.close()

r = Raw(ports["pop3s"], ctx, implicit=True)
r.line()
reply = r.cmd("NOOP " + "x" * (limit + 100))
check(reply.startswith("-ERR"), "POP3 line too long", reply)
r.close()

r = Raw(ports["smtp"])
r.line()
r.send("EHLO client.example.org\r\n")
r.until("250 ")
reply = r.cmd("MAIL FROM:<x@remote.example> SIZE=%d" % (10**9))
check(reply.startswith("552"), "SMTP message too big", reply)
r.close()
print("limits passed")
