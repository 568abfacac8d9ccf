"""IMAP authenticated and selected states with Python's imaplib against the real server: mail
arrives by SMTP, then LIST, SELECT, FETCH (flags, envelope, bodystructure, BODY.PEEK[],
partial, header fields), STORE, SEARCH, COPY/MOVE, EXPUNGE, APPEND, CREATE/RENAME/DELETE,
STATUS, EXAMINE read-only, CLOSE, and a second session that sees the first one's changes."""
import imaplib
import re
import smtplib

from common import ALICE, BOB, HOST, args, check

ports, ctx, extra = args()


def deliver(to, subject, body, extra_headers=""):
    msg = ("From: Sender Name <sender@remote.example>\r\nTo: %s\r\nSubject: %s\r\n"
           "Message-ID: <%s@test>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n%s\r\n%s"
           % (to, subject, subject.replace(" ", "-"), extra_headers, body))
    s = smtplib.SMTP(HOST, ports["smtp"])
    s.sendmail("sender@remote.example", [to], msg.encode())
    s.quit()


def login(who):
    m = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
    typ, _ = m.login(*who)
    check(typ == "OK", "login %s" % who[0])
    return m


def ok(result, what):
    typ, data = result
    check(typ == "OK", what, (typ, data))
    return data


deliver(ALICE[0], "first message", "Hello Alice.\r\nSecond line.\r\n")
multipart = ("--XYZ\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nthe text part\r\n"
             "--XYZ\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
             "AAECAw==\r\n--XYZ--\r\n")
deliver(ALICE[0], "second multipart", multipart,
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="XYZ"\r\n')
deliver(ALICE[0], "third needle", "a haystack with a Needle inside\r\n")

m = login(ALICE)
caps = ok(m.capability(), "CAPABILITY")[0].decode().split()
for cap in ("IDLE", "MOVE", "UIDPLUS", "NAMESPACE", "UNSELECT", "CHILDREN", "SPECIAL-USE"):
    check(cap in caps, "capability %s" % cap, caps)

# LIST, with the default special-use mailboxes.
data = ok(m.list(), "LIST")
names = [l.decode() for l in data]
check(any(l.endswith('"INBOX"') for l in names), "INBOX listed", names)
check(any("\\Sent" in l and l.endswith('"Sent"') for l in names), "Sent has \\Sent", names)
check(any("\\Trash" in l for l in names), "Trash has \\Trash", names)
ok(m.namespace(), "NAMESPACE")

# CREATE / RENAME / DELETE / STATUS.
ok(m.create("Projects"), "CREATE Projects")
ok(m.create("Projects/2024"), "CREATE Projects/2024")
data = ok(m.list('""', "Projects*"), "LIST Projects*")
check(any(b"\\HasChildren" in l and l.endswith(b'"Projects"') for l in data), "Projects has children", data)
ok(m.rename("Projects/2024", "Projects/Old"), "RENAME")
typ, _ = m.create("Projects")
check(typ == "NO", "CREATE of an existing mailbox is refused")
ok(m.delete("Projects/Old"), "DELETE")
data = ok(m.status("INBOX", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN SIZE)"), "STATUS INBOX")
check(b"MESSAGES 3" in data[0] and b"UNSEEN 3" in data[0] and b"UIDNEXT 4" in data[0], "STATUS counts", data)
ok(m.subscribe("Projects"), "SUBSCRIBE")
data = ok(m.lsub('""', "*"), "LSUB")
check(any(l.endswith(b'"Projects"') for l in data), "Projects subscribed", data)
ok(m.unsubscribe("Projects"), "UNSUBSCRIBE")

# SELECT and FETCH.
data = ok(m.select("INBOX"), "SELECT INBOX")
check(data == [b"3"], "3 messages", data)
check(m.untagged_responses.get("UIDVALIDITY") is not None, "UIDVALIDITY reported")
data = ok(m.fetch("1:3", "(UID FLAGS RFC822.SIZE INTERNALDATE)"), "FETCH metadata")
# Delivered while no session had INBOX open: \Recent to this, the first SELECT (RFC 3501 §2.3.2).
check(len(data) == 3 and b"UID 1 " in data[0] and b"FLAGS (\\Recent)" in data[0], "metadata of 3 messages", data)
data = ok(m.fetch("1", "(ENVELOPE)"), "FETCH ENVELOPE")
check(b'"first message"' in data[0] and b'("Sender Name" NIL "sender" "remote.example")' in data[0],
      "envelope subject and from", data)
data = ok(m.fetch("2", "(BODYSTRUCTURE)"), "FETCH BODYSTRUCTURE")
check(b'"mixed"' in data[0] and b'"application" "octet-stream"' in data[0] and b'"base64" 8' in data[0] and b'("boundary" "XYZ")' in data[0],
      "bodystructure of the multipart", data)
data = ok(m.fetch("1", "(BODY.PEEK[])"), "FETCH BODY.PEEK[]")
raw = data[0][1]
check(raw.startswith(b"Return-Path:") and raw.endswith(b"Hello Alice.\r\nSecond line.\r\n"), "whole message", raw)
data = ok(m.fetch("1", "(BODY.PEEK[TEXT]<6.5>)"), "FETCH partial")
check(data[0][1] == b"Alice" and b"BODY[TEXT]<6>" in data[0][0], "partial text", data)
data = ok(m.fetch("2", "(BODY.PEEK[1] BODY.PEEK[2.MIME] BINARY.PEEK[2])"), "FETCH parts")
flat = b"".join(x if isinstance(x, bytes) else b"".join(x) for x in data)
check(b"the text part" in flat and b"Content-Transfer-Encoding: base64" in flat and b"\x00\x01\x02\x03" in flat,
      "part 1, part 2 MIME header and decoded binary", data)
data = ok(m.fetch("3", "(BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)])"), "FETCH HEADER.FIELDS")
check(data[0][1] == b"From: Sender Name <sender@remote.example>\r\nSubject: third needle\r\n\r\n", "header fields", data)
data = ok(m.fetch("1", "(FLAGS)"), "peek did not set \\Seen")
check(b"\\Seen" not in data[0], "still unseen", data)
data = ok(m.fetch("1", "(BODY[TEXT])"), "FETCH BODY[TEXT] sets \\Seen")
check(b"\\Seen" in data[0][0], "FLAGS with \\Seen reported", data)

# STORE and SEARCH.
data = ok(m.store("2", "+FLAGS", "(\\Flagged $Important)"), "STORE +FLAGS")
check(b"\\Flagged" in data[0] and b"$Important" in data[0], "new flags", data)
data = ok(m.search(None, "FLAGGED"), "SEARCH FLAGGED")
check(data == [b"2"], "flagged", data)
data = ok(m.search(None, "UNSEEN"), "SEARCH UNSEEN")
check(data == [b"2 3"], "unseen", data)
data = ok(m.search(None, "BODY", "needle"), "SEARCH BODY")
check(data == [b"3"], "body text, any case", data)
data = ok(m.search(None, "SUBJECT", "MULTIPART"), "SEARCH SUBJECT")
check(data == [b"2"], "subject", data)
data = ok(m.search(None, "OR", "FROM", "sender", "LARGER", "100000"), "SEARCH OR FROM")
check(data == [b"1 2 3"], "from", data)
data = ok(m.uid("SEARCH", None, "NOT", "SEEN"), "UID SEARCH NOT SEEN")
check(data == [b"2 3"], "uid search", data)
data = ok(m.search(None, "SINCE", "1-Jan-2020", "SENTON", "1-Jan-2024", "KEYWORD", "$Important"), "SEARCH dates")
check(data == [b"2"], "dates and keyword", data)

# A second session of the same account sees this one's changes at its next command.
m2 = login(ALICE)
ok(m2.select("INBOX"), "second SELECT")
ok(m.store("3", "+FLAGS", "(\\Answered)"), "STORE in the first session")
typ, data = m2.noop()
check(typ == "OK", "NOOP in the second session")
fetches = m2.untagged_responses.get("FETCH", [])
check(any(b"\\Answered" in f for f in fetches), "second session saw FLAGS", (fetches, m2.untagged_responses))

# COPY, MOVE (UIDPLUS codes), EXPUNGE.
typ, data = m.copy("1", "Archive")
check(typ == "OK", "COPY", data)
check(re.search(rb"COPYUID \d+ 1 1", m.untagged_responses.get("COPYUID", [b""])[0] if "COPYUID" in m.untagged_responses else data[0]) is not None
      or b"COPYUID" in data[0], "COPYUID", data)
typ, data = m.copy("1", "Nowhere")
check(typ == "NO" and b"TRYCREATE" in data[0], "COPY to a missing mailbox: TRYCREATE", data)
typ, data = m._simple_command("MOVE", "3", "Archive")
check(typ == "OK", "MOVE", data)
check(m.untagged_responses.get("EXPUNGE") == [b"3"], "MOVE expunged message 3", m.untagged_responses)
m.untagged_responses.clear()
ok(m.store("1", "+FLAGS", "(\\Deleted)"), "flag 1 deleted")
data = ok(m.expunge(), "EXPUNGE")
check(data == [b"1"], "EXPUNGE reported message 1", data)
data = ok(m.status("Archive", "(MESSAGES)"), "STATUS Archive")
check(b"MESSAGES 2" in data[0], "two messages in Archive", data)
# The second session hears about the expunges at its next NOOP.
m2.untagged_responses.clear()
ok(m2.noop(), "NOOP after expunges")
check(sorted(m2.untagged_responses.get("EXPUNGE", [])) == [b"1", b"3"] or
      m2.untagged_responses.get("EXPUNGE") in ([b"3", b"1"], [b"1", b"2"]),
      "second session saw two EXPUNGEs", m2.untagged_responses)
m2.logout()

# APPEND with APPENDUID, then EXAMINE is read-only.
typ, data = m.append("Drafts", "(\\Draft)", imaplib.Time2Internaldate(1700000000),
                     b"From: alice@example.com\r\nSubject: draft\r\n\r\nunfinished\r\n")
check(typ == "OK" and b"APPENDUID" in data[0], "APPEND with APPENDUID", data)
typ, data = m.append("Nope", None, None, b"Subject: x\r\n\r\ny\r\n")
check(typ == "NO" and b"TRYCREATE" in data[0], "APPEND to a missing mailbox: TRYCREATE", data)
ok(m.select("Drafts", readonly=True), "EXAMINE Drafts")
check("READ-ONLY" in m.untagged_responses, "EXAMINE is [READ-ONLY]", m.untagged_responses)
data = ok(m.fetch("1", "(FLAGS INTERNALDATE BODY.PEEK[TEXT])"), "FETCH appended")
check(b"\\Draft" in data[0][0] and b"14-Nov-2023" in data[0][0] and data[0][1] == b"unfinished\r\n", "appended message", data)
try:
    typ, data = m.store("1", "+FLAGS", "(\\Seen)")
except imaplib.IMAP4.error as e:
    typ, data = "NO", [str(e).encode()]
check(typ == "NO", "STORE on EXAMINE is refused", data)
# An APPEND to the selected mailbox announces the new message before its tagged OK
# (RFC 9051 §6.3.12), as Dovecot does: imaplib keeps the untagged EXISTS it saw.
ok(m.select("Drafts"), "SELECT Drafts")
m.untagged_responses.pop("EXISTS", None)
typ, data = m.append("Drafts", None, None, b"Subject: second draft\r\n\r\nmore\r\n")
check(typ == "OK" and m.untagged_responses.get("EXISTS") == [b"2"],
      "APPEND to the selected mailbox reports EXISTS at once", m.untagged_responses)
ok(m.unselect() if hasattr(m, "unselect") else m._simple_command("UNSELECT"), "UNSELECT")

# A message APPENDed with bare LFs (imaplib itself would add the CRs, so the bytes go out
# raw) is stored with CRLF, as Dovecot stores it: RFC822.SIZE and the body agree.
lf = b"Subject: lf only\nTo: a@example.org\n\nbody\n"
tag = m._new_tag()
m.send(tag + b" APPEND Drafts {%d+}\r\n" % len(lf) + lf + b"\r\n")
while True:
    line = m.readline()
    if line.startswith(tag):
        break
uid = re.search(rb"APPENDUID \d+ (\d+)", line)
check(b" OK " in line and uid is not None, "raw APPEND with bare LFs", line)
ok(m.select("Drafts", readonly=True), "EXAMINE Drafts again")
data = ok(m.uid("FETCH", uid.group(1).decode(), "(RFC822.SIZE BODY.PEEK[])"), "FETCH the LF message")
crlf = lf.replace(b"\n", b"\r\n")
check(b"RFC822.SIZE %d" % len(crlf) in data[0][0] and data[0][1] == crlf,
      "bare LFs stored as CRLF", data)
ok(m.unselect() if hasattr(m, "unselect") else m._simple_command("UNSELECT"), "UNSELECT")

# CLOSE expunges silently.
ok(m.select("Archive"), "SELECT Archive")
ok(m.store("1:*", "+FLAGS", "(\\Deleted)"), "flag all deleted")
ok(m.close(), "CLOSE")
data = ok(m.status("Archive", "(MESSAGES)"), "STATUS after CLOSE")
check(b"MESSAGES 0" in data[0], "CLOSE expunged", data)
m.logout()
print("imap mailbox passed")
