"""NOTIFY (RFC 5465) end to end: a raw IMAPS session sets NOTIFY for its selected INBOX
(MessageNew with the UID, MessageExpunge, FlagChange) and for every personal mailbox
(MessageNew, MessageExpunge, MailboxName, SubscriptionChange), then only reads: an SMTP
delivery to INBOX, another session's APPEND to another folder, its flag changes, expunge,
CREATE, SUBSCRIBE, RENAME and DELETE each arrive as the exact untagged lines, without a
command. A flag change in a folder watched without FlagChange says nothing; NOTIFY NONE stops
everything. With `[imap] notify_max_pending = 3`, a RENAME that moves four mailboxes at once
overflows the watch: `* OK [NOTIFICATIONOVERFLOW]`, then NOTIFY can be set again."""
import imaplib
import smtplib
import socket

from common import ALICE, HOST, Raw, args, check, silent

ports, ctx, _ = args()


def hear(r, what, timeout=5.0):
    """The next line the watcher is sent, within `timeout` seconds."""
    r.sock.settimeout(timeout)
    try:
        return r.line()
    except (socket.timeout, TimeoutError):
        check(False, what + ": nothing heard within %.0fs" % timeout)


def status_line(m, name):
    """The STATUS line NOTIFY sends for `name`, from another session's STATUS command."""
    typ, data = m.status(name, "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN)")
    check(typ == "OK", "STATUS " + name, data)
    return "* STATUS %s" % data[0].decode()


a = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
a.login(*ALICE)
check(a.create("Notes")[0] == "OK", "CREATE Notes")

w = Raw(ports["imaps"], ctx, implicit=True)
w.line()
login = w.cmd('w1 LOGIN %s "%s"' % ALICE)
check(" NOTIFY " in login, "NOTIFY advertised", login)
w.send("w2 SELECT INBOX\r\n")
lines = w.until("w2 ")
check(lines[-1].startswith("w2 OK"), "SELECT", lines)
count = int([l for l in lines if l.endswith(" EXISTS")][0].split()[1])

# Refusals first: BADEVENT with the supported events, BAD for the RFC's rules.
w.send("w3 NOTIFY SET (personal (MessageNew MessageExpunge AnnotationChange))\r\n")
line = w.line()
check(line.startswith("w3 NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName "),
      "BADEVENT", line)
w.send("w4 NOTIFY SET (personal (MessageNew))\r\n")
check(w.line().startswith("w4 BAD "), "MessageNew without MessageExpunge is BAD")

# STATUS: the initial figures of every watched mailbox but the selected one.
w.send("w5 NOTIFY SET STATUS (selected (MessageNew (UID) MessageExpunge FlagChange)) "
       "(personal (MessageNew MessageExpunge MailboxName SubscriptionChange))\r\n")
lines = w.until("w5 ")
check(lines[-1] == "w5 OK NOTIFY completed", "NOTIFY SET", lines)
check(status_line(a, "Notes") in lines, "initial STATUS of Notes", lines)
check(not any('"INBOX"' in l for l in lines), "no STATUS for the selected mailbox", lines)

# A delivery to the selected INBOX: EXISTS, then the FETCH MessageNew asked for.
s = smtplib.SMTP(HOST, ports["smtp"])
s.sendmail("x@remote.example", [ALICE[0]], b"Subject: notify\r\n\r\nping\r\n")
s.quit()
count += 1
check(hear(w, "EXISTS") == "* %d EXISTS" % count, "EXISTS of the delivery")
line = hear(w, "FETCH")
if line.endswith(" RECENT"):  # IMAP4rev1: the new message is \Recent here
    line = hear(w, "FETCH")
check(line.startswith("* %d FETCH (UID " % count) and line.endswith(")"), "MessageNew FETCH", line)
uid = int(line.split("UID ")[1].rstrip(")"))

# Another session appends to another folder: its STATUS.
check(a.append("Notes", None, None, b"Subject: n1\r\n\r\nx\r\n")[0] == "OK", "APPEND Notes")
check(hear(w, "STATUS") == status_line(a, "Notes"), "STATUS after an APPEND to Notes")

# Flags and an expunge in the selected mailbox.
check(a.select("INBOX")[0] == "OK", "actor SELECT INBOX")
check(a.uid("STORE", str(uid), "+FLAGS.SILENT", r"(\Seen)")[0] == "OK", "STORE \\Seen")
line = hear(w, "FETCH FLAGS")
check(line.startswith("* %d FETCH (UID %d FLAGS (" % (count, uid)) and "\\Seen" in line,
      "FlagChange in the selected mailbox", line)
check(a.uid("STORE", str(uid), "+FLAGS.SILENT", r"(\Deleted)")[0] == "OK", "STORE \\Deleted")
line = hear(w, "FETCH FLAGS")
check("\\Deleted" in line, "\\Deleted heard", line)
check(a.expunge()[0] == "OK", "EXPUNGE")
check(hear(w, "EXPUNGE") == "* %d EXPUNGE" % count, "EXPUNGE without a command")
count -= 1

# Flags in Notes: PERSONAL has no FlagChange, nothing is said.
check(a.select("Notes")[0] == "OK", "actor SELECT Notes")
check(a.store("1", "+FLAGS.SILENT", r"(\Flagged)")[0] == "OK", "STORE in Notes")
silent(w, "a flag change without FlagChange")

# Mailbox names and subscriptions.
check(a.create("Proj")[0] == "OK", "CREATE Proj")
check(hear(w, "LIST") == '* LIST () "/" "Proj"', "created")
check(a.subscribe("Proj")[0] == "OK", "SUBSCRIBE Proj")
check(hear(w, "LIST") == '* LIST (\\Subscribed) "/" "Proj"', "subscribed")
check(a.unsubscribe("Proj")[0] == "OK", "UNSUBSCRIBE Proj")
check(hear(w, "LIST") == '* LIST () "/" "Proj"', "unsubscribed")
check(a.rename("Proj", "Proj2")[0] == "OK", "RENAME Proj Proj2")
check(hear(w, "LIST") == '* LIST () "/" "Proj2" ("OLDNAME" ("Proj"))', "renamed")
check(a.delete("Proj2")[0] == "OK", "DELETE Proj2")
check(hear(w, "LIST") == '* LIST (\\NonExistent) "/" "Proj2"', "deleted")

# NOTIFY NONE: nothing more, and a NOOP reports no STATUS either.
w.send("w6 NOTIFY NONE\r\n")
check(hear(w, "NOTIFY NONE") == "w6 OK NOTIFY completed", "NOTIFY NONE")
check(a.append("Notes", None, None, b"Subject: n2\r\n\r\nx\r\n")[0] == "OK", "APPEND Notes")
check(a.create("Quiet")[0] == "OK", "CREATE Quiet")
silent(w, "after NOTIFY NONE")
w.send("w7 NOOP\r\n")
check(hear(w, "NOOP") == "w7 OK NOOP completed", "NOOP after NOTIFY NONE")

# Overflow: four mailboxes renamed by one RENAME pass notify_max_pending = 3 at once.
w.send("w8 NOTIFY SET (personal (MailboxName))\r\n")
check(hear(w, "NOTIFY SET") == "w8 OK NOTIFY completed", "NOTIFY SET again")
for name in ("Tree", "Tree/a", "Tree/b", "Tree/c"):
    check(a.create(name)[0] == "OK", "CREATE " + name)
    check(hear(w, "LIST") == '* LIST () "/" "%s"' % name, "created " + name)
check(a.rename("Tree", "Wood")[0] == "OK", "RENAME Tree Wood")
line = hear(w, "overflow")
check(line.startswith("* OK [NOTIFICATIONOVERFLOW] "), "NOTIFICATIONOVERFLOW", line)
check(a.create("Afterwards")[0] == "OK", "CREATE Afterwards")
silent(w, "after an overflow")
w.send("w9 NOTIFY SET (personal (MailboxName))\r\n")
check(hear(w, "NOTIFY SET") == "w9 OK NOTIFY completed", "NOTIFY SET after the overflow")
check(a.delete("Afterwards")[0] == "OK", "DELETE Afterwards")
check(hear(w, "LIST") == '* LIST (\\NonExistent) "/" "Afterwards"', "deleted after re-SET")

w.sock.settimeout(10)
w.send("w10 LOGOUT\r\n")
w.until("w10 ")
a.logout()
print("imap notify passed")
