"""IDLE: a session idling on INBOX sees EXISTS within a second of an SMTP delivery. Bob's
session idles while the message is delivered over SMTP (possibly accepted on another shard
and carried over the cross-shard channel to bob's home shard), then sees another session's
FLAGS change and EXPUNGE at once."""
import smtplib
import time

from common import BOB, HOST, Raw, args, check

ports, ctx, extra = args()
rounds = int(extra[0]) if extra else 3

r = Raw(ports["imaps"], ctx, implicit=True)
r.line()
r.cmd('a1 LOGIN %s "%s"' % BOB)
r.send("a2 SELECT INBOX\r\n")
lines = r.until("a2 ")
check(lines[-1].startswith("a2 OK"), "SELECT", lines)
exists = [l for l in lines if l.endswith(" EXISTS")][0]
count = int(exists.split()[1])
r.send("a3 IDLE\r\n")
check(r.line() == "+ idling", "IDLE continuation")
for i in range(rounds):
    s = smtplib.SMTP(HOST, ports["smtp"])
    start = time.monotonic()
    s.sendmail("x@remote.example", [BOB[0]], b"Subject: idle %d\r\n\r\nping\r\n" % i)
    s.quit()
    r.sock.settimeout(1.0)
    line = r.line()
    elapsed = time.monotonic() - start
    count += 1
    check(line == "* %d EXISTS" % count, "EXISTS %d during IDLE" % count, line)
    check(elapsed < 1.0, "EXISTS within a second (%.3fs)" % elapsed)
    line = r.line()
    check(line == "* %d RECENT" % (i + 1), "RECENT for rev1", line)
# Another session of the same account changes flags and expunges: the idler hears at once.
other = Raw(ports["imaps"], ctx, implicit=True)
other.line()
other.cmd('b1 LOGIN %s "%s"' % BOB)
other.send("b2 SELECT INBOX\r\n")
other.until("b2 ")
other.send("b3 STORE %d +FLAGS.SILENT (\\Flagged \\Deleted)\r\n" % count)
other.until("b3 ")
line = r.line()
check(line.startswith("* %d FETCH (UID " % count) and "\\Flagged" in line and "\\Deleted" in line,
      "FLAGS from another session during IDLE", line)
other.send("b4 EXPUNGE\r\n")
other.until("b4 ")
line = r.line()
check(line == "* %d EXPUNGE" % count, "EXPUNGE from another session during IDLE", line)
count -= 1
other.send("b5 LOGOUT\r\n")
other.until("b5 ")
r.sock.settimeout(10)
r.send("DONE\r\n")
check(r.line() == "a3 OK IDLE terminated", "DONE ends IDLE")
r.send("a4 FETCH %d (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n" % count)
lines = r.until("a4 ")
check(lines[-1] == "a4 OK FETCH completed" and "\\Recent" in lines[0], "FETCH of the new message", lines)
r.send("a5 LOGOUT\r\n")
r.until("a5 ")
print("imap idle passed")
