"""RFC 5267 CONTEXT=SEARCH and CONTEXT=SORT with imaplib and a raw IDLE client: one session
keeps a UID SEARCH RETURN (UPDATE) and a UID SORT RETURN (UPDATE) while another session
appends, flags and expunges; the updates arrive as ESEARCH ADDTO and REMOVEFROM on NOOP and,
on a raw connection, during IDLE right after the EXISTS; CANCELUPDATE stops them."""
import imaplib
import re
import time

from common import ALICE, HOST, Raw, args, check

ports, ctx, _ = args()


def connect():
    m = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
    m.login(*ALICE)
    return m


def message(subject):
    return ("From: x@example.org\r\nTo: alice@example.com\r\nSubject: %s\r\n\r\nbody\r\n"
            % subject).encode()


def append(m, subject, flags=None):
    typ, data = m.append("Ctx", flags, None, message(subject))
    check(typ == "OK", "APPEND " + subject, data)
    return int(data[0].split(b"APPENDUID ")[1].split()[1].rstrip(b"]"))


def esearch(m):
    """The ESEARCH responses imaplib kept since the last call, as text."""
    return [d.decode() for d in m.untagged_responses.pop("ESEARCH", [])]


def noop_until(m, want, what):
    """NOOP until the ESEARCH responses heard include every line of `want` (the change of
    another session reaches this one's feed a moment after that session's OK)."""
    heard = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        typ, _ = m.noop()
        check(typ == "OK", "NOOP")
        heard += esearch(m)
        if all(w in heard for w in want):
            check(heard == want, what, heard)
            return
        time.sleep(0.05)
    check(False, what, heard)


a = connect()
typ, data = a.capability()
for cap in (b"CONTEXT=SEARCH", b"CONTEXT=SORT", b"ESORT"):
    check(cap in data[0].split(), cap.decode() + " advertised", data)
check(a.create("Ctx")[0] == "OK", "CREATE Ctx")
u1 = append(a, "bravo")
u2 = append(a, "delta", r"(\Seen)")
u3 = append(a, "alpha")
check(a.select("Ctx")[0] == "OK", "SELECT Ctx")

# The unseen messages, kept (RFC 5267 §4.3): UPDATE alone answers ALL.
typ, _ = a.uid("SEARCH", "RETURN (UPDATE)", "UNSEEN")
check(typ == "OK", "UID SEARCH RETURN (UPDATE)")
lines = esearch(a)
check(len(lines) == 1 and lines[0].endswith("UID ALL %d,%d" % (u1, u3)), "initial result", lines)
search_tag = re.match(r'\(TAG "([^"]+)"\)', lines[0]).group(1)
# All of them by subject, kept in sort order: alpha, bravo, delta.
typ, _ = a.uid("SORT", "RETURN (UPDATE)", "(SUBJECT)", "UTF-8", "ALL")
check(typ == "OK", "UID SORT RETURN (UPDATE)")
lines = esearch(a)
check(len(lines) == 1 and lines[0].endswith("UID ALL %d,%d:%d" % (u3, u1, u2)), "sorted", lines)
sort_tag = re.match(r'\(TAG "([^"]+)"\)', lines[0]).group(1)

b = connect()
check(b.select("Ctx")[0] == "OK", "SELECT Ctx (other session)")

# Another session appends "charlie" (unseen): in both, third by subject.
u4 = append(b, "charlie")
noop_until(a, ['(TAG "%s") UID ADDTO (0 %d)' % (search_tag, u4),
               '(TAG "%s") UID ADDTO (3 %d)' % (sort_tag, u4)], "ADDTO after an APPEND")
# It reads bravo: out of the unseen search only.
check(b.uid("STORE", str(u1), "+FLAGS.SILENT", r"(\Seen)")[0] == "OK", "STORE \\Seen")
noop_until(a, ['(TAG "%s") UID REMOVEFROM (0 %d)' % (search_tag, u1)], "REMOVEFROM on \\Seen")
# It expunges alpha: out of both (first by subject).
check(b.uid("STORE", str(u3), "+FLAGS.SILENT", r"(\Deleted)")[0] == "OK", "STORE \\Deleted")
check(b.expunge()[0] == "OK", "EXPUNGE")
noop_until(a, ['(TAG "%s") UID REMOVEFROM (0 %d)' % (search_tag, u3),
               '(TAG "%s") UID REMOVEFROM (1 %d)' % (sort_tag, u3)], "REMOVEFROM on EXPUNGE")

# CANCELUPDATE (§4.3.5): no more updates for the search; the sort is still kept.
typ, data = a.xatom("CANCELUPDATE", '"%s"' % search_tag)
check(typ == "OK", "CANCELUPDATE", data)
typ, data = a.xatom("CANCELUPDATE", '"%s"' % search_tag)
check(typ == "NO" and b"NONEXISTENT" in data[0], "CANCELUPDATE of a cancelled context", data)
u5 = append(b, "echo")
noop_until(a, ['(TAG "%s") UID ADDTO (4 %d)' % (sort_tag, u5)], "only the sort is updated")

# During IDLE the update follows the EXISTS at once (raw client: the order is checked).
r = Raw(ports["imaps"], ctx, implicit=True)
r.line()
r.cmd('r1 LOGIN %s "%s"' % ALICE)
r.send("r2 SELECT Ctx\r\n")
lines = r.until("r2 ")
check(lines[-1].startswith("r2 OK"), "raw SELECT", lines)
count = int([l for l in lines if l.endswith(" EXISTS")][0].split()[1])
r.send("r3 UID SEARCH RETURN (UPDATE COUNT) UNSEEN\r\n")
lines = r.until("r3 ")
check(lines == ['* ESEARCH (TAG "r3") UID COUNT 2', "r3 OK SEARCH completed"], "COUNT", lines)
r.send("r3 UID SEARCH RETURN (UPDATE) ALL\r\n")
check(r.line() == "r3 BAD Tag reuse: a search context has this tag", "tag reuse is BAD")
r.send("r4 IDLE\r\n")
check(r.line() == "+ idling", "IDLE")
u6 = append(b, "foxtrot")
r.sock.settimeout(5)
check(r.line() == "* %d EXISTS" % (count + 1), "EXISTS during IDLE")
line = r.line()
if line.endswith(" RECENT"):  # IMAP4rev1: the new message is \Recent here
    line = r.line()
check(line == '* ESEARCH (TAG "r3") UID ADDTO (0 %d)' % u6, "ADDTO during IDLE", line)
check(b.uid("STORE", str(u6), "+FLAGS.SILENT", r"(\Seen)")[0] == "OK", "STORE \\Seen (IDLE)")
line = r.line()
check(line.startswith("* %d FETCH (UID %d FLAGS (" % (count + 1, u6)), "FETCH during IDLE", line)
line = r.line()
check(line == '* ESEARCH (TAG "r3") UID REMOVEFROM (0 %d)' % u6, "REMOVEFROM during IDLE", line)
r.send("DONE\r\n")
check(r.line() == "r4 OK IDLE terminated", "DONE")
r.send('r5 CANCELUPDATE "r3"\r\n')
check(r.line() == "r5 OK CANCELUPDATE completed", "raw CANCELUPDATE")
r.send("r6 LOGOUT\r\n")
r.until("r6 ")

for m in (a, b):
    m.logout()
print("context passed")
