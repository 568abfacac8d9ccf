"""OBJECTID (RFC 8474), SAVEDATE (RFC 8514) and METADATA (RFC 5464) with imaplib, in two runs
around a restart.

`first`: CREATE tells a MAILBOXID that STATUS repeats and RENAME keeps; a message appended
with a 2001 internal date gets today's SAVEDATE; its COPY keeps the internal date and the
EMAILID with a save date of its own, its MOVE keeps the EMAILID; SEARCH EMAILID finds both; a
reply appended later shares the THREADID.
Annotations set with SETMETADATA come back with GETMETADATA, move
with RENAME and go with DELETE; too many or too long ones are refused.
Prints the ids. `again MAILBOXID EMAILID`: after the restart, the same ids and annotations
come back."""
import re
import sys

import imaplib

from common import ALICE, HOST, args, check

ports, ctx, rest = args()
m = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
m.login(*ALICE)
imaplib.Commands["GETMETADATA"] = ("AUTH", "SELECTED")
imaplib.Commands["SETMETADATA"] = ("AUTH", "SELECTED")


def getmetadata(mailbox, *entries):
    typ, data = m._simple_command("GETMETADATA", mailbox, "(%s)" % " ".join(entries))
    check(typ == "OK", "GETMETADATA", data)
    typ, data = m._untagged_response(typ, data, "METADATA")
    # A literal value comes as a (head, value) tuple followed by the rest of the line.
    return b"".join(p if isinstance(p, bytes) else p[0] + p[1] for p in data if p)


def setmetadata(mailbox, entries):
    return m._simple_command("SETMETADATA", mailbox, "(%s)" % entries)


def mailbox_id(name):
    typ, data = m.status(name, "(MAILBOXID)")
    check(typ == "OK", "STATUS MAILBOXID", data)
    return re.search(rb"MAILBOXID \(([A-Za-z0-9_-]+)\)", data[0]).group(1).decode()


def fetch(uid, items):
    typ, data = m.uid("FETCH", uid, items)
    check(typ == "OK" and data[0] is not None, "FETCH " + items, data)
    return data[0].decode()


def field(text, name):
    got = re.search(name + r' (\([A-Za-z0-9_-]+\)|"[^"]*"|NIL)', text)
    check(got is not None, name + " in the FETCH response", text)
    return got.group(1).strip('()"')


if rest[0] == "first":
    typ, data = m.capability()
    for cap in (b"SAVEDATE", b"OBJECTID"):
        check(cap in data[0].split(), cap.decode() + " advertised", data)
    typ, data = m.create("Objects-A")
    check(typ == "OK", "CREATE", data)
    made = re.search(rb"\[MAILBOXID \(([A-Za-z0-9_-]+)\)\]", data[0])
    check(made is not None, "CREATE tells the MAILBOXID", data)
    made = made.group(1).decode()
    check(mailbox_id("Objects-A") == made, "STATUS gives CREATE's MAILBOXID", made)
    check(mailbox_id("INBOX") != made, "another mailbox, another MAILBOXID", made)
    typ, data = setmetadata("Objects-A", '/shared/comment "before the rename"')
    check(typ == "OK", "SETMETADATA of a mailbox", data)
    typ, data = m.rename("Objects-A", "Objects-B")
    check(typ == "OK", "RENAME", data)
    check(mailbox_id("Objects-B") == made, "RENAME keeps the MAILBOXID", made)
    typ, data = m.select("Objects-B")
    check(typ == "OK", "SELECT", data)
    typ, data = m.response("MAILBOXID")
    check(data and data[0] is not None and made.encode() in data[0], "SELECT's MAILBOXID", data)

    typ, data = m.append("INBOX", None, imaplib.Time2Internaldate(978307200),
                         b"Message-ID: <objects@example.com>\r\nSubject: objects\r\n\r\n"
                         b"ids and dates\r\n")
    check(typ == "OK", "APPEND with a 2001 date", data)
    uid = data[0].split(b"APPENDUID ")[1].split()[1].rstrip(b"]").decode()
    m.select("INBOX")
    first = fetch(uid, "(INTERNALDATE SAVEDATE EMAILID THREADID)")
    email_id = field(first, "EMAILID")
    check(re.fullmatch(r"[A-Za-z0-9_-]{1,255}", email_id) is not None, "an EMAILID", first)
    check("2001" in field(first, "INTERNALDATE"), "the internal date given", first)
    check(field(first, "SAVEDATE") not in ("NIL", field(first, "INTERNALDATE")),
          "APPEND's save date is now, not the internal date", first)
    thread_id = field(first, "THREADID")
    typ, data = m.append("INBOX", None, None,
                         b"Message-ID: <reply@example.com>\r\nIn-Reply-To: <objects@example.com>\r\n"
                         b"References: <objects@example.com>\r\nSubject: Re: objects\r\n\r\nyes\r\n")
    check(typ == "OK", "APPEND of a reply", data)
    reply_uid = data[0].split(b"APPENDUID ")[1].split()[1].rstrip(b"]").decode()
    m.select("INBOX")
    reply = fetch(reply_uid, "(EMAILID THREADID)")
    check(field(reply, "THREADID") == thread_id, "a reply shares its thread's THREADID", reply)
    check(field(reply, "EMAILID") != email_id, "another message, another EMAILID", reply)
    typ, data = m.uid("SEARCH", "THREADID", thread_id)
    check(data[0].split() == [uid.encode(), reply_uid.encode()], "SEARCH THREADID", data)

    typ, data = m.uid("COPY", uid, "Objects-B")
    check(typ == "OK", "COPY", data)
    typ, data = m.uid("MOVE", uid, "Objects-B")
    check(typ == "OK", "MOVE", data)
    m.select("Objects-B")
    typ, data = m.uid("SEARCH", "EMAILID", email_id)
    check(typ == "OK" and len(data[0].split()) == 2, "COPY and MOVE keep the EMAILID", data)
    typ, thread = m.uid("SEARCH", "THREADID", thread_id)
    check(thread == data, "and the THREADID", thread)
    for got in data[0].split():
        text = fetch(got.decode(), "(INTERNALDATE SAVEDATE EMAILID)")
        check(field(text, "EMAILID") == email_id, "the same EMAILID", text)
        check("2001" in field(text, "INTERNALDATE"), "COPY/MOVE keep the internal date", text)
        check(field(text, "SAVEDATE") not in ("NIL", field(text, "INTERNALDATE")),
              "a save date of its own", text)
    got = getmetadata("Objects-B", "/shared/comment", "/private/comment")
    check(b'/shared/comment "before the rename"' in got, "RENAME keeps annotations", got)
    check(b"/private/comment NIL" in got, "an entry never set is NIL", got)
    # imaplib puts a literal last, where SETMETADATA needs its ")": quoted values only.
    typ, data = setmetadata("INBOX", '/private/comment "mine" /shared/x "y" /shared/x NIL')
    check(typ == "OK", "SETMETADATA of several entries", data)
    typ, data = setmetadata('""', '/private/vendor/ringpost-test/theme "dark"')
    check(typ == "OK", "SETMETADATA of the server", data)
    typ, data = setmetadata('""', '/shared/comment "mine"')
    check(typ == "NO" and b"NOPERM" in data[0], "the server's shared entries are refused", data)
    many = " ".join('/private/e%d "x"' % i for i in range(101))
    typ, data = setmetadata("INBOX", many)
    check(typ == "NO" and b"[METADATA TOOMANY]" in data[0], "TOOMANY", data)
    typ, data = setmetadata("INBOX", '/private/big "%s"' % ("x" * 16385))
    check(typ == "NO" and b"[METADATA MAXSIZE 16384]" in data[0], "MAXSIZE", data)
    m.create("Objects-C")
    setmetadata("Objects-C", '/private/comment "doomed"')
    m.delete("Objects-C")
    m.create("Objects-C")
    got = getmetadata("Objects-C", "/private/comment")
    check(b"/private/comment NIL" in got, "DELETE takes the annotations along", got)
    typ, data = m.uid("SEARCH", "SAVEDBEFORE", "1-Jan-2002")
    check(typ == "OK" and data[0] == b"", "nothing saved before 2002", data)
    typ, data = m.uid("SEARCH", "BEFORE", "1-Jan-2002")
    check(typ == "OK" and len(data[0].split()) == 2, "both dated 2001", data)
    m.logout()
    print("ids:", made, email_id)
    print("objects first passed")
else:
    made, email_id = rest[1], rest[2]
    check(mailbox_id("Objects-B") == made, "the MAILBOXID after a restart", made)
    m.select("Objects-B")
    typ, data = m.uid("SEARCH", "EMAILID", email_id)
    check(typ == "OK" and len(data[0].split()) == 2, "the EMAILID after a restart", data)
    text = fetch(data[0].split()[0].decode(), "(SAVEDATE)")
    check(field(text, "SAVEDATE") != "NIL", "the save date after a restart", text)
    got = getmetadata("Objects-B", "/shared/comment")
    check(b'"before the rename"' in got, "mailbox annotations after a restart", got)
    got = getmetadata("INBOX", "/private/comment", "/shared/x")
    check(b'/private/comment "mine"' in got and b"/shared/x NIL" in got,
          "INBOX's annotations after a restart (the last value of an entry wins)", got)
    got = getmetadata('""', "/private/vendor/ringpost-test/theme")
    check(b'"dark"' in got, "server annotations after a restart", got)
    m.logout()
    print("objects again passed")
