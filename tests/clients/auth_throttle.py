"""Failed logins across connections: once one address has failed `ip_max_failures` times
(here 6, spread over IMAP, POP3 and submission connections), even the right password gets the
protocol's temporary failure from that address, on every protocol; nothing is checked."""
from common import ALICE, BOB, HOST, Raw, args, b64, check, plain_ir

ports, ctx, extra = args()


def imap_login(user, pw):
    r = Raw(ports["imaps"], ctx, implicit=True)
    r.line()
    reply = r.cmd('a1 LOGIN %s "%s"' % (user, pw))
    r.close()
    return reply


def pop3_login(user, pw):
    r = Raw(ports["pop3s"], ctx, implicit=True)
    r.line()
    r.cmd("USER " + user)
    reply = r.cmd("PASS " + pw)
    r.close()
    return reply


def smtp_login(user, pw):
    r = Raw(ports["smtps"], ctx, implicit=True)
    r.line()
    r.send("EHLO client.example.org\r\n")
    r.until("250 ")
    reply = r.cmd("AUTH PLAIN " + plain_ir(user, pw))
    r.close()
    return reply


# Six failures over six connections, guessing at two accounts.
for login in (imap_login, pop3_login, smtp_login):
    for user in (ALICE[0], BOB[0]):
        reply = login(user, "wrong-guess")
        assert not reply.startswith(("a1 OK", "+OK", "235")), reply

# Now the right passwords are refused from this address, with each protocol's temporary reply.
reply = imap_login(*ALICE)
check(reply.startswith("a1 NO [UNAVAILABLE]"), reply)
reply = pop3_login(*ALICE)
check(reply.startswith("-ERR [SYS/TEMP]"), reply)
reply = smtp_login(*BOB)
check(reply.startswith("454 4.7.0"), reply)

