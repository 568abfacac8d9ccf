"""Many logins of two accounts whose home shards differ: whichever shard accepts the
connection, the session must carry on seamlessly after authentication (it moves, live TLS
and all, to the account's home shard)."""
import imaplib
import poplib

from common import ALICE, BOB, HOST, Raw, args, check

ports, ctx, extra = args()
rounds = int(extra[0])
for i in range(rounds):
    for user, pw in (ALICE, BOB):
        m = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
        typ, _ = m.login(user, pw)
        assert typ == "OK"
        typ, _ = m.noop()
        assert typ == "OK", typ
        m.logout()
        # Pipelined behind the login: the NOOP is answered after the move.
        r = Raw(ports["imaps"], ctx, implicit=True)
        r.line()
        r.send('a1 LOGIN %s "%s"\r\na2 NOOP\r\na3 CAPABILITY\r\n' % (user, pw))
        lines = r.until("a3 ")
        assert lines[0].startswith("a1 OK"), lines
        assert any(l.startswith("a2 OK") for l in lines), lines
        assert lines[-1].startswith("a3 OK"), lines
        r.close()
        p = poplib.POP3_SSL(HOST, ports["pop3s"], context=ctx)
        p.user(user)
        assert p.pass_(pw).startswith(b"+OK")
        assert p.noop().startswith(b"+OK")
        p.quit()
check(True, "%d rounds of IMAP and POP3 logins for two accounts" % rounds)
print("home shard passed")
