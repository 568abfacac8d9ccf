"""RFC 8970 PREVIEW with imaplib: a message appended with a quoted-printable UTF-8 body, then
FETCH (PREVIEW) and (PREVIEW (LAZY)) give its text decoded, white space collapsed, and the
message stays unseen. RFC 5032 WITHIN: the message appended now is YOUNGER than an hour,
and one appended with an internal date of 2001 is OLDER."""
import imaplib

from common import ALICE, HOST, args, check

ports, ctx, _ = args()
m = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
m.login(*ALICE)
typ, data = m.capability()
check(b"PREVIEW" in data[0], "PREVIEW advertised", data)
body = (b"Subject: preview\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"Gr=C3=BC=C3=9Fe,\r\n\r\n   das Treffen ist am Freitag.\r\n")
typ, data = m.append("INBOX", None, None, body)
check(typ == "OK", "APPEND", data)
uid = data[0].split(b"APPENDUID ")[1].split()[1].rstrip(b"]")
m.select("INBOX")
for item in ("(PREVIEW)", "(PREVIEW (LAZY))"):
    typ, data = m.uid("FETCH", uid, item)
    check(typ == "OK", "FETCH " + item, data)
    # A non-ASCII preview comes as a literal: imaplib gives (head, text) tuples.
    text = data[0][1].decode("utf-8") if isinstance(data[0], tuple) else data[0].decode()
    check("Grüße, das Treffen ist am Freitag." in text, "the decoded preview " + item, data)
typ, data = m.uid("FETCH", uid, "(FLAGS)")
check(b"\\Seen" not in data[0], "PREVIEW leaves the message unseen", data)
typ, data = m.append("INBOX", None, imaplib.Time2Internaldate(978307200), b"Subject: 2001\r\n\r\nold\r\n")
check(typ == "OK", "APPEND with a 2001 date", data)
old_uid = data[0].split(b"APPENDUID ")[1].split()[1].rstrip(b"]")
m.select("INBOX")
typ, data = m.uid("SEARCH", "YOUNGER", "3600")
check(uid in data[0].split() and old_uid not in data[0].split(), "YOUNGER 3600", data)
typ, data = m.uid("SEARCH", "OLDER", "3600")
check(old_uid in data[0].split() and uid not in data[0].split(), "OLDER 3600", data)
m.logout()
print("preview passed")
