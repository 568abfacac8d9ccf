"""IDLE keep-alive: a silent client in IDLE hears `* OK Still here` every keep-alive interval,
and DONE still ends the IDLE."""
import time

from common import ALICE, Raw, args, check

ports, ctx, _ = args()
r = Raw(ports["imaps"], ctx, implicit=True)
r.line()
check(r.cmd('a1 LOGIN %s "%s"' % ALICE).startswith("a1 OK"), "login")
r.send("a2 SELECT INBOX\r\n")
check(r.until("a2 ")[-1].startswith("a2 OK"), "select")
reply = r.cmd("a3 IDLE")
check(reply.startswith("+ "), "IDLE continuation", reply)
t0 = time.time()
lines = [r.line(), r.line()]
check(lines == ["* OK Still here", "* OK Still here"], "two keep-alives while idling", lines)
check(time.time() - t0 >= 1.5, "keep-alives are spaced by the interval", time.time() - t0)
reply = r.cmd("DONE")
check(reply.startswith("a3 OK"), "DONE ends IDLE", reply)
check(r.cmd("a4 NOOP").startswith("a4 OK"), "session goes on")
print("keepalive passed")
