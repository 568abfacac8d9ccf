"""NOTIFY (RFC 5465) of shared mailboxes (RFC 4314) end to end: an owner grants alice `lr`
on "Team" and nothing on "Private"; alice's raw IMAPS session sets NOTIFY for the owner's
subtree of the shared namespace and then only reads.

argv extra: `OWNER PASSWORD TAG LATE OPEN` — the owner's account (the test runs this once
with an owner on the other shard than alice's, so the owner's watch runs there and its
notices cross the sharing mesh, and once with an owner on alice's own shard), a word that
keeps the mailbox names of the two runs apart, and two accounts (same password; `-`: not
this run) that share nothing with alice before she sets NOTIFY: LATE then grants her `lr`,
OPEN grants `anyone` `lr`.

Checked: the initial STATUS of Team only; the owner's APPEND and flag change in Team each
arrive as the exact `* STATUS` line another session's STATUS command answers; nothing of
Private (no rights) nor of a mailbox created without rights; a child of Team created by the
owner (it inherits alice's rights) as `* LIST ()`; a grant of `lr` on Private as
`* LIST ()`, its revocation on Team as `* LIST (\\NonExistent)` and then nothing more of
Team; NOTIFY NONE stops everything; MAILBOXES names exactly one shared mailbox; a selected
shared mailbox gets its EXISTS (SELECTED) and no STATUS while SUBTREE "Shared" reports the
owner's other mailboxes, and the mailboxes of owners who start sharing with alice (or with
anyone) once NOTIFY is set."""
import imaplib
import socket

from common import ALICE, HOST, Raw, args, check, silent

ports, ctx, rest = args()
OWNER = (rest[0], rest[1])
TAG = rest[2]
LATE, OPEN = rest[3], rest[4]
SHARED = "Shared/%s" % OWNER[0]
TEAM, PRIVATE, HIDDEN = TAG + "Team", TAG + "Private", TAG + "Hidden"
EVENTS = "(MessageNew MessageExpunge FlagChange MailboxName)"
for name in ("SETACL", "DELETEACL"):
    imaplib.Commands[name] = ("AUTH", "SELECTED")


def login(who):
    m = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
    m.login(*who)
    return m


def hear(r, what, timeout=5.0):
    """The next line the watcher is sent, within `timeout` seconds (IMAP4rev1's RECENT of
    the selected mailbox aside)."""
    r.sock.settimeout(timeout)
    try:
        line = r.line()
        while line.endswith(" RECENT"):
            line = r.line()
        return line
    except (socket.timeout, TimeoutError):
        check(False, what + ": nothing heard within %.0fs" % timeout)


def status_line(m, name):
    """The STATUS line NOTIFY sends for `name`, from another session's STATUS command."""
    typ, data = m.status('"%s"' % name, "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN)")
    check(typ == "OK", "STATUS " + name, data)
    return "* STATUS %s" % data[0].decode()


def ok(typ_data, what):
    check(typ_data[0] == "OK", what, typ_data)


def setacl(m, mailbox, who, rights):
    ok(m._simple_command("SETACL", mailbox, who, rights), "SETACL %s %s %s" % (mailbox, who, rights))


def message(subject):
    return b"From: %s\r\nSubject: %s\r\n\r\nbody\r\n" % (OWNER[0].encode(), subject.encode())


owner = login(OWNER)
for name in (TEAM, PRIVATE):
    ok(owner.create(name), "CREATE " + name)
setacl(owner, TEAM, ALICE[0], "lr")
ok(owner.append(TEAM, None, None, message("first")), "APPEND to Team")

# alice's other session, for the STATUS lines NOTIFY should send.
a = login(ALICE)
team, private = SHARED + "/" + TEAM, SHARED + "/" + PRIVATE

w = Raw(ports["imaps"], ctx, implicit=True)
w.line()
w.cmd('w1 LOGIN %s "%s"' % ALICE)
w.send('w2 NOTIFY SET STATUS (subtree "%s" %s)\r\n' % (SHARED, EVENTS))
lines = w.until("w2 ")
check(lines[-1] == "w2 OK NOTIFY completed", "NOTIFY SET", lines)
check(lines[:-1] == [status_line(a, team)], "the initial STATUS of Team only", lines)

# New mail and a flag change in Team: its STATUS each time.
ok(owner.append(TEAM, None, None, message("second")), "APPEND to Team")
check(hear(w, "STATUS") == status_line(a, team), "STATUS after the owner's APPEND")
ok(owner.select(TEAM), "owner SELECT Team")
ok(owner.store("1", "+FLAGS.SILENT", r"(\Seen)"), "STORE \\Seen in Team")
line = hear(w, "STATUS")
check(line == status_line(a, team) and "UNSEEN 1)" in line, "STATUS after a flag change", line)

# Isolation: nothing of a mailbox alice has no rights on, nor of one created without any.
ok(owner.append(PRIVATE, None, None, message("private")), "APPEND to Private")
ok(owner.create(HIDDEN), "CREATE Hidden")
silent(w, "a mailbox not shared with alice")

# A child of Team inherits alice's rights: created for her.
ok(owner.create(TEAM + "/Sub"), "CREATE Team/Sub")
check(hear(w, "LIST") == '* LIST () "/" "%s/Sub"' % team, "a child of Team created")

# Rights: a grant is a creation to alice, a revocation a deletion, and then silence.
setacl(owner, PRIVATE, ALICE[0], "lr")
check(hear(w, "LIST") == '* LIST () "/" "%s"' % private, "Private granted")
ok(owner.append(PRIVATE, None, None, message("private 2")), "APPEND to Private")
check(hear(w, "STATUS") == status_line(a, private), "STATUS of Private once granted")
ok(owner._simple_command("DELETEACL", TEAM, ALICE[0]), "DELETEACL Team alice")
check(hear(w, "LIST") == '* LIST (\\NonExistent) "/" "%s"' % team, "Team revoked")
ok(owner.append(TEAM, None, None, message("after revoke")), "APPEND to Team after revoking")
ok(owner.store("1", "-FLAGS.SILENT", r"(\Seen)"), "STORE in Team after revoking")
silent(w, "Team after its revocation")

# NOTIFY NONE: nothing more.
w.send("w3 NOTIFY NONE\r\n")
check(hear(w, "NOTIFY NONE") == "w3 OK NOTIFY completed", "NOTIFY NONE")
ok(owner.append(PRIVATE, None, None, message("unheard")), "APPEND to Private")
silent(w, "after NOTIFY NONE")

# MAILBOXES names one shared mailbox exactly: Private, not Team/Sub.
w.send('w4 NOTIFY SET (mailboxes "%s" (MessageNew MessageExpunge))\r\n' % private)
check(hear(w, "NOTIFY SET") == "w4 OK NOTIFY completed", "NOTIFY SET MAILBOXES")
ok(owner.append(TEAM + "/Sub", None, None, message("sub")), "APPEND to Team/Sub")
silent(w, "a shared mailbox MAILBOXES does not name")
ok(owner.append(PRIVATE, None, None, message("named")), "APPEND to Private")
check(hear(w, "STATUS") == status_line(a, private), "STATUS of the mailbox named")

# A selected shared mailbox: EXISTS through the select watch, no STATUS for it; SUBTREE
# "Shared" reports the owner's other mailboxes alice may read.
w.send('w5 SELECT "%s"\r\n' % private)
lines = w.until("w5 ")
check(lines[-1].startswith("w5 OK [READ-ONLY]"), "SELECT Private", lines)
count = int([l for l in lines if l.endswith(" EXISTS")][0].split()[1])
w.send('w6 NOTIFY SET STATUS (selected (MessageNew MessageExpunge)) (subtree "Shared" %s)\r\n'
       % EVENTS)
lines = w.until("w6 ")
check(lines[-1] == "w6 OK NOTIFY completed", "NOTIFY SET SELECTED and Shared", lines)
check(status_line(a, team + "/Sub") in lines, "the initial STATUS of Team/Sub", lines)
check(not any(('"%s"' % private) in l for l in lines), "no STATUS of the selected mailbox",
      lines)
ok(owner.append(PRIVATE, None, None, message("selected")), "APPEND to the selected Private")
check(hear(w, "EXISTS") == "* %d EXISTS" % (count + 1), "EXISTS of the selected mailbox")
ok(owner.append(TEAM + "/Sub", None, None, message("sub 2")), "APPEND to Team/Sub")
check(hear(w, "STATUS") == status_line(a, team + "/Sub"), "STATUS of Team/Sub")
silent(w, "no STATUS of the selected mailbox")

# Owners who start sharing once NOTIFY is set, with alice or with anyone: SUBTREE "Shared"
# starts watching them, their mailboxes are created for alice, and then reported.
for who, grantee in ((LATE, ALICE[0]), (OPEN, "anyone")):
    if who == "-":
        continue
    late = login((who, OWNER[1]))
    name = TAG + "Late"
    shared = "Shared/%s/%s" % (who, name)
    ok(late.create(name), "CREATE Late")
    silent(w, "a mailbox of an owner not sharing yet")
    setacl(late, name, grantee, "lr")
    check(hear(w, "LIST") == '* LIST () "/" "%s"' % shared, "granted by a new sharer")
    ok(late.append(name, None, None, message("late")), "APPEND to Late")
    check(hear(w, "STATUS") == status_line(a, shared), "STATUS from a new sharer")
    late.logout()

w.sock.settimeout(10)
w.send("w7 LOGOUT\r\n")
w.until("w7 ")
a.logout()
owner.logout()
print("notify shared %s passed" % TAG)
