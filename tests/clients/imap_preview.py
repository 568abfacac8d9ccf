"""RFC 8970 PREVIEW with imaplib: a message appended with a quoted-printable UTF-8 body, then
FETCH (PREVIEW) and (PREVIEW (LAZY)) give its text decoded, white space collapsed, and the
message stays unseen."""
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
m.logout()
print("preview passed")
