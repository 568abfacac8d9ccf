"""QRESYNC (RFC 7162 §3.2) end to end. Session A (raw lines, exact bytes) enables QRESYNC,
selects INBOX and remembers HIGHESTMODSEQ; session B (imaplib) expunges, moves and flags;
A re-selects with (QRESYNC (uidvalidity modseq)) and must hear exactly what vanished and
what changed.

argv: ports cafile phase [uidvalidity modseq]
- phase "before": set up, resync, print "state UIDVALIDITY MODSEQ" for the restart check;
- phase "after": after a server restart, the same resync from the same modseq.
"""
import imaplib
import re

from common import ALICE, HOST, Raw, args, check

ports, ctx, extra = args()
phase = extra[0]


def login(a):
    a.send('a1 LOGIN "%s" "%s"\r\n' % ALICE)
    lines = a.until("a1 ")
    check(lines[-1].startswith("a1 OK"), "A logs in", lines)
    check(" QRESYNC " in lines[-1], "QRESYNC advertised after login", lines)
    a.send("a2 ENABLE QRESYNC\r\n")
    lines = a.until("a2 ")
    check(lines == ["* ENABLED QRESYNC", "a2 OK ENABLE completed"], "ENABLE QRESYNC", lines)


def code(lines, name):
    for l in lines:
        m = re.match(r"\* OK \[%s (\d+)\]" % name, l)
        if m:
            return int(m.group(1))
    raise AssertionError("no %s in %r" % (name, lines))


def resync(a, tag, uidvalidity, modseq):
    a.send("%s SELECT INBOX (QRESYNC (%d %d))\r\n" % (tag, uidvalidity, modseq))
    lines = a.until(tag + " ")
    check(lines[-1] == tag + " OK [READ-WRITE] SELECT completed", "QRESYNC SELECT", lines)
    return lines


def check_resync(lines, hms):
    # Left in INBOX: UIDs 1, 4 and 6. 2 and 3 were expunged, 5 moved away, 4 flagged last.
    vanished = [l for l in lines if l.startswith("* VANISHED")]
    check(vanished == ["* VANISHED (EARLIER) 2:3,5"], "VANISHED (EARLIER)", lines)
    fetches = [l for l in lines if " FETCH " in l]
    check(
        fetches == ["* 2 FETCH (UID 4 FLAGS (\\Flagged) MODSEQ (%d))" % hms],
        "one FETCH for the flag change, with the last modseq",
        lines,
    )
    check("* 3 EXISTS" in lines, "EXISTS counts what is left", lines)
    # VANISHED and FETCH come after the SELECT data, before the tagged OK.
    check(lines.index(vanished[0]) < lines.index(fetches[0]) < len(lines) - 1, "order", lines)


a = Raw(ports["imaps"], ctx, implicit=True)
a.line()
login(a)

if phase == "before":
    b = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
    b.login(*ALICE)
    for i in range(6):
        typ, data = b.append("INBOX", None, None, ("Subject: q%d\r\n\r\nbody %d\r\n" % (i, i)).encode())
        check(typ == "OK", "B appends", data)
    a.send("a3 SELECT INBOX\r\n")
    lines = a.until("a3 ")
    check(lines[-1] == "a3 OK [READ-WRITE] SELECT completed", "A selects", lines)
    uidvalidity, hms0 = code(lines, "UIDVALIDITY"), code(lines, "HIGHESTMODSEQ")

    b.select("INBOX")
    typ, data = b.status("INBOX", "(HIGHESTMODSEQ)")
    before = int(re.search(rb"HIGHESTMODSEQ (\d+)", data[0]).group(1))
    typ, data = b.uid("STORE", "2:3", "+FLAGS.SILENT", "(\\Deleted)")
    check(typ == "OK", "B flags 2:3 deleted", data)
    typ, data = b.status("INBOX", "(HIGHESTMODSEQ)")
    flagged = int(re.search(rb"HIGHESTMODSEQ (\d+)", data[0]).group(1))
    typ, data = b.expunge()
    check(typ == "OK", "B expunges", data)
    typ, data = b.status("INBOX", "(HIGHESTMODSEQ)")
    expunged = int(re.search(rb"HIGHESTMODSEQ (\d+)", data[0]).group(1))
    check(before < flagged < expunged, "HIGHESTMODSEQ moves on an expunge alone", (before, flagged, expunged))
    typ, data = b.uid("MOVE", "5", "Archive")
    check(typ == "OK", "B moves 5", data)
    typ, data = b.uid("STORE", "4", "+FLAGS.SILENT", "(\\Flagged)")
    check(typ == "OK", "B flags 4", data)
    typ, data = b.status("INBOX", "(HIGHESTMODSEQ)")
    hms = int(re.search(rb"HIGHESTMODSEQ (\d+)", data[0]).group(1))
    b.logout()

    # A re-selects on the same connection: the old mailbox is closed first (§3.2.11).
    lines = resync(a, "a4", uidvalidity, hms0)
    check(lines[0] == "* OK [CLOSED] Previous mailbox closed", "CLOSED first", lines)
    check(code(lines, "HIGHESTMODSEQ") == hms, "HIGHESTMODSEQ of the new SELECT", lines)
    check_resync(lines, hms)

    # From the current modseq nothing is reported; from a wrong UIDVALIDITY neither.
    for tag, v, m in (("a5", uidvalidity, hms), ("a6", uidvalidity + 1, hms0)):
        lines = resync(a, tag, v, m)
        check(not any(l.startswith("* VANISHED") or " FETCH " in l for l in lines), "nothing to report", lines)

    # UID FETCH … (CHANGEDSINCE m VANISHED): VANISHED (EARLIER) first.
    a.send("a7 UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)\r\n" % hms0)
    lines = a.until("a7 ")
    check(
        lines[:2] == ["* VANISHED (EARLIER) 2:3,5", "* 2 FETCH (UID 4 FLAGS (\\Flagged) MODSEQ (%d))" % hms],
        "UID FETCH VANISHED",
        lines,
    )
    check(lines[-1] == "a7 OK FETCH completed", "UID FETCH VANISHED completes", lines)

    # An expunge by A itself is a VANISHED line, not EXPUNGE.
    a.send("a8 UID STORE 6 +FLAGS.SILENT (\\Deleted)\r\n")
    check(a.until("a8 ")[-1].startswith("a8 OK"), "A flags 6", None)
    a.send("a9 UID EXPUNGE 6\r\n")
    lines = a.until("a9 ")
    check(lines[:-1] == ["* VANISHED 6"], "UID EXPUNGE answers VANISHED", lines)
    # Its tagged OK carries the mailbox's new HIGHESTMODSEQ (as Dovecot's does), past the
    # modseq of everything this session has seen.
    m = re.fullmatch(r"a9 OK \[HIGHESTMODSEQ (\d+)\] EXPUNGE completed", lines[-1])
    check(m is not None and int(m.group(1)) > hms, "UID EXPUNGE reports HIGHESTMODSEQ", lines)
    a.send("a10 LOGOUT\r\n")
    a.until("a10 ")
    print("state %d %d %d" % (uidvalidity, hms0, hms))
else:
    uidvalidity, hms0, hms = (int(x) for x in extra[1:4])
    # After the restart: UID 6 is gone too (expunged by A at hms + 1).
    lines = resync(a, "a3", uidvalidity, hms0)
    vanished = [l for l in lines if l.startswith("* VANISHED")]
    check(vanished == ["* VANISHED (EARLIER) 2:3,5:6"], "VANISHED (EARLIER) after a restart", lines)
    fetches = [l for l in lines if " FETCH " in l]
    check(fetches == ["* 2 FETCH (UID 4 FLAGS (\\Flagged) MODSEQ (%d))" % hms], "FETCH after a restart", lines)
    check(code(lines, "HIGHESTMODSEQ") == hms + 2, "HIGHESTMODSEQ after a restart", lines)
    lines = resync(a, "a4", uidvalidity, hms)
    vanished = [l for l in lines if l.startswith("* VANISHED")]
    check(vanished == ["* VANISHED (EARLIER) 6"], "only the later expunge", lines)
    a.send("a5 LOGOUT\r\n")
    a.until("a5 ")
print("qresync %s passed" % phase)
