"""Hostile and sloppy input: pipelined plaintext behind STARTTLS, over-long lines, oversized
literals, too many authentication failures. The server must answer with protocol errors and
stay up; plaintext sent behind STARTTLS must never be executed."""
import sys

from common import ALICE, Raw, args, check, plain_ir

ports, ctx, extra = args()
user, pw = ALICE
max_line = int(extra[0])
max_literal = int(extra[1])

# ---- STARTTLS with pipelined plaintext credentials: never executed.
r = Raw(ports["imap"], ctx)
r.line()
r.send('a1 STARTTLS\r\na2 LOGIN %s "%s"\r\n' % (user, pw))
reply = r.line()
check(reply.startswith("a1 OK"), "imap STARTTLS answered", reply)
r.starttls()
reply = r.cmd("a3 CAPABILITY")
check(reply.startswith("* CAPABILITY") and "AUTH=PLAIN" in reply, "imap: pipelined LOGIN not executed (still unauthenticated)", reply)
check(r.line().startswith("a3 OK"), "imap: first reply after TLS is for the new command")
reply = r.cmd("a4 LOGIN %s \"%s\"" % (user, pw))
check(reply.startswith("a4 OK"), "imap: LOGIN after TLS works", reply)
r.close()

r = Raw(ports["pop3"], ctx)
r.line()
r.send("STLS\r\nUSER %s\r\nPASS %s\r\n" % (user, pw))
check(r.line().startswith("+OK"), "pop3 STLS answered")
r.starttls()
reply = r.cmd("PASS " + pw)
check(reply.startswith("-ERR"), "pop3: pipelined USER not executed (PASS without USER)", reply)
r.close()

r = Raw(ports["submission"], ctx)
r.line()
r.send("EHLO client.example.org\r\n")
r.until("250 ")
r.send("STARTTLS\r\nAUTH PLAIN %s\r\n" % plain_ir(user, pw))
check(r.line().startswith("220"), "submission STARTTLS answered")
r.starttls()
r.send("EHLO client.example.org\r\n")
r.until("250 ")
reply = r.cmd("MAIL FROM:<%s>" % user)
check(reply.startswith("530"), "submission: pipelined AUTH not executed (MAIL still needs AUTH)", reply)
r.close()

# ---- Over-long lines: an error, nothing executed, the session goes on.
long_arg = "x" * (max_line + 10)
r = Raw(ports["imaps"], ctx, implicit=True)
r.line()
reply = r.cmd("t1 LOGIN %s %s" % (user, long_arg))
check(reply.startswith("t1 BAD") or reply.startswith("* BAD"), "imap over-long line refused", reply[:80])
reply = r.cmd("t2 NOOP")
check(reply.startswith("t2 OK"), "imap session goes on after an over-long line", reply)
# A synchronizing literal over the limit: refused without a continuation request.
reply = r.cmd("t3 LOGIN {%d}" % (max_literal + 1))
check(reply.startswith("t3 NO") or reply.startswith("t3 BAD"), "imap oversized literal refused", reply)
reply = r.cmd("t4 NOOP")
check(reply.startswith("t4 OK"), "imap session goes on after an oversized literal", reply)
# A non-synchronizing literal over the limit: its bytes are swallowed, never executed.
r.send("t5 LOGIN {%d+}\r\n" % (max_literal + 1) + "t6 NOOP\r\n" + "z" * (max_literal + 1 - len("t6 NOOP\r\n")) + "\r\n")
reply = r.line()
check(reply.startswith("t5 BAD") or reply.startswith("t5 NO"), "imap oversized LITERAL+ refused", reply)
reply = r.cmd("t7 NOOP")
check(reply.startswith("t7 OK"), "imap: bytes of the oversized literal were not executed", reply)
r.close()

r = Raw(ports["pop3s"], ctx, implicit=True)
r.line()
reply = r.cmd("USER " + long_arg)
check(reply.startswith("-ERR"), "pop3 over-long line refused", reply)
check(r.cmd("CAPA").startswith("+OK"), "pop3 session goes on")
r.close()

r = Raw(ports["smtp"], ctx)
r.line()
reply = r.cmd("EHLO " + long_arg)
check(reply.startswith("500"), "smtp over-long line refused", reply)
reply = r.cmd("NOOP")
check(reply.startswith("250"), "smtp session goes on", reply)
r.close()

# ---- Too many authentication failures: the session is closed.
r = Raw(ports["imaps"], ctx, implicit=True)
r.line()
replies = [r.cmd('f%d LOGIN %s "wrong"' % (i, user)) for i in range(3)]
check(all(x.startswith("f%d NO" % i) for i, x in enumerate(replies)) or r.closed(), "imap failures answered NO", replies)
check(r.closed(), "imap: closed after max_failures")

r = Raw(ports["smtps"], ctx, implicit=True)
r.line()
r.send("EHLO c\r\n")
r.until("250 ")
replies = [r.cmd("AUTH PLAIN " + plain_ir(user, "wrong")) for _ in range(3)]
check(replies[0].startswith("535") and (replies[2].startswith("421") or replies[2].startswith("535")), "smtp failures", replies)
check(r.closed(), "smtp: closed after max_failures")

# ---- TLS 1.2 and 1.3 only.
import socket
import ssl

for version, ok in [(ssl.TLSVersion.TLSv1_3, True), (ssl.TLSVersion.TLSv1_2, True), (ssl.TLSVersion.TLSv1_1, False)]:
    c = ssl.create_default_context(cafile=sys.argv[2])
    if version == ssl.TLSVersion.TLSv1_1:
        c.set_ciphers("DEFAULT:@SECLEVEL=0")
    c.minimum_version = version
    c.maximum_version = version
    try:
        with c.wrap_socket(socket.create_connection(("127.0.0.1", ports["imaps"]), timeout=10), server_hostname="localhost") as t:
            got = t.version()
        check(ok and got == {ssl.TLSVersion.TLSv1_3: "TLSv1.3", ssl.TLSVersion.TLSv1_2: "TLSv1.2"}[version], "TLS %s accepted" % version.name, got)
    except (ssl.SSLError, ConnectionResetError) as e:
        check(not ok, "TLS %s refused" % version.name, e)

# ---- A new connection still works after all of the above.
r = Raw(ports["imaps"], ctx, implicit=True)
r.line()
check(r.cmd('z1 LOGIN %s "%s"' % (user, pw)).startswith("z1 OK"), "server still serves logins")
r.close()
print("robustness passed")
