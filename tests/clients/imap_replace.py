"""REPLACE (RFC 8508) with imaplib: a draft saved three times, each save replacing the one
before, the last one large enough to be streamed to the store; the Drafts mailbox then holds
only the last version, with its flags, and the replaced UIDs are gone."""
import imaplib

from common import ALICE, HOST, args, check

imaplib.Commands.setdefault("REPLACE", ("SELECTED",))
ports, ctx, _ = args()
m = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
m.login(*ALICE)
typ, data = m.capability()
check(b"REPLACE" in data[0].split(), "REPLACE advertised", data)
typ, data = m.append("Drafts", "(\\Draft)", None, b"Subject: draft 1\r\n\r\nfirst\r\n")
check(typ == "OK", "APPEND the first draft", data)
uid = data[0].split(b"APPENDUID ")[1].split()[1].rstrip(b"]")
m.select("Drafts")
versions = [b"Subject: draft 2\r\n\r\nsecond\r\n",
            b"Subject: draft 3\r\n\r\n" + b"long line of the third draft\r\n" * 20000]
for body in versions:
    m.literal = body
    typ, data = m.uid("REPLACE", uid, "Drafts", "(\\Draft \\Seen)")
    check(typ == "OK", "UID REPLACE", (typ, data))
    untagged = m.untagged_responses.get("OK", [])
    new = [r for r in untagged if b"APPENDUID" in r]
    check(new, "the replacement's APPENDUID", untagged)
    old, uid = uid, new[-1].split(b"APPENDUID ")[1].split()[1].rstrip(b"]")
    check(old != uid, "a new UID", (old, uid))
typ, data = m.uid("SEARCH", "ALL")
check(data[0].split() == [uid], "only the last version is left", data)
typ, data = m.uid("FETCH", uid, "(FLAGS BODY.PEEK[])")
check(data[0][1] == versions[-1], "the last version's bytes, exactly")
check(b"\\Draft" in data[0][0] and b"\\Seen" in data[0][0], "its flags", data[0][0])
m.logout()
print("replace passed")
