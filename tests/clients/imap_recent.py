"""\\Recent (RFC 3501 §2.3.2) and keyword announcements with Python's imaplib against the real
server. Mail delivered by SMTP while nobody has INBOX open is recent to the first session
that SELECTs it (STATUS and EXAMINE see it without taking it) and to no later one; mail
APPENDed by another session while one has INBOX selected is that session's. A keyword
another session sets reaches the selected session as a new FLAGS response."""
import imaplib
import re
import smtplib

from common import ALICE, HOST, args, check

ports, ctx, extra = args()


def login():
    m = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
    typ, _ = m.login(*ALICE)
    check(typ == "OK", "login")
    return m


def ok(result, what):
    typ, data = result
    check(typ == "OK", what, (typ, data))
    return data


def recent(m):
    """The `* n RECENT` of the last SELECT/EXAMINE/NOOP."""
    return m.response("RECENT")[1]


def flags_of(m, seq):
    data = ok(m.fetch(seq, "(FLAGS)"), "FETCH %s FLAGS" % seq)
    return data[0].decode()


def noop_until(m, name):
    """NOOP until an untagged `name` response arrives: the change travels from the store to
    the session's connection on its own, so it may come a NOOP later than the command that
    made it (counted in NOOPs, not seconds)."""
    for _ in range(100):
        ok(m.noop(), "NOOP")
        got = m.response(name)[1]
        if got != [None]:
            return got
    raise AssertionError("no %s after 100 NOOPs" % name)


s = smtplib.SMTP(HOST, ports["smtp"])
s.sendmail("x@remote.example", [ALICE[0]], b"Subject: new\r\n\r\nfor mutt\r\n")
s.quit()

# STATUS and EXAMINE see the delivery as recent without claiming it.
watcher = login()
data = ok(watcher.status("INBOX", "(MESSAGES RECENT)"), "STATUS")
check("MESSAGES 1 RECENT 1" in data[0].decode(), "STATUS RECENT 1 before any SELECT", data)
ok(watcher.select("INBOX", readonly=True), "EXAMINE INBOX")
check(recent(watcher) == [b"1"], "EXAMINE: * 1 RECENT")
check("\\Recent" in flags_of(watcher, "1"), "EXAMINE: FETCH FLAGS has \\Recent")
ok(watcher.close(), "CLOSE")
watcher.logout()

# The first SELECT claims it.
first = login()
ok(first.select("INBOX"), "SELECT INBOX (first)")
check(recent(first) == [b"1"], "first SELECT: * 1 RECENT")
check("\\Recent" in flags_of(first, "1"), "first session: \\Recent")
data = ok(first.search(None, "RECENT"), "SEARCH RECENT")
check(data == [b"1"], "SEARCH RECENT finds it", data)

# The second does not see it again.
second = login()
ok(second.select("INBOX"), "SELECT INBOX (second)")
check(recent(second) == [b"0"], "second SELECT: * 0 RECENT")
check("\\Recent" not in flags_of(second, "1"), "second session: no \\Recent")
data = ok(second.status("INBOX", "(RECENT)"), "STATUS")
check("RECENT 0" in data[0].decode(), "STATUS RECENT 0 once claimed", data)
second.logout()

# Mail APPENDed by another session while `first` has INBOX open is first's.
other = login()
ok(other.append("INBOX", None, None, b"Subject: appended\r\n\r\nby another session\r\n"),
   "APPEND")
noop_until(first, "EXISTS")
check("\\Recent" in flags_of(first, "2"), "first session: the arrival is \\Recent")
third = login()
ok(third.select("INBOX"), "SELECT INBOX (third)")
check(recent(third) == [b"0"], "third SELECT: * 0 RECENT")

# A keyword set by another session: the selected session gets the new FLAGS.
ok(third.store("2", "+FLAGS", "($Label1)"), "STORE +FLAGS ($Label1)")
flags = noop_until(first, "FLAGS")
check(any(f is not None and b"$Label1" in f for f in flags), "new FLAGS lists $Label1", flags)
check("$Label1" in flags_of(first, "2"), "FETCH shows $Label1")
typ, data = third.select("INBOX")
flags = third.response("FLAGS")[1]
check(flags == [b"(\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1)"],
      "SELECT lists $Label1 in FLAGS", flags)
permanent = [r for r in third.response("OK")[1] if r and b"PERMANENTFLAGS" in r]
check(permanent and b"$Label1 \\*)" in permanent[0], "PERMANENTFLAGS lists $Label1", permanent)
for m in (first, third, other):
    m.logout()
print("imap recent passed")
