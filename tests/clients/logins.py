"""One successful login and one failed login on each protocol (IMAP, POP3, submission), for
the log-line tests."""
from common import ALICE, Raw, args, check, plain_ir

ports, ctx, extra = args()

r = Raw(ports["imaps"], ctx, implicit=True)
r.line()
check(r.cmd('a LOGIN %s "%s"' % ALICE).startswith("a OK"), "IMAP login")
r.close()
r = Raw(ports["imaps"], ctx, implicit=True)
r.line()
check(r.cmd("b LOGIN other@example.com wrong").startswith("b NO"), "IMAP failure")
# A user name that tries to plant another address in the log line.
injected = r.cmd('c LOGIN "x\\" client_ip=192.0.2.66 client_port=1 y@example.com" wrong')
check(injected.startswith("c NO"), "IMAP failure with a planted address", injected)
r.close()

r = Raw(ports["pop3s"], ctx, implicit=True)
r.line()
r.cmd("USER " + ALICE[0])
check(r.cmd("PASS wrong").startswith("-ERR"), "POP3 failure")
r.close()

r = Raw(ports["smtps"], ctx, implicit=True)
r.line()
r.send("EHLO client.example.org\r\n")
r.until("250 ")
check(r.cmd("AUTH PLAIN " + plain_ir("nobody@example.com", "wrong")).startswith("535"), "SMTP failure")
r.close()
print("logins passed")
