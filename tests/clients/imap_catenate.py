"""CATENATE (RFC 4469) over IMAPS: a forwarded message put together from a stored message's
header, literal text and one of its body parts by URL, read back byte for byte; a stale
UIDVALIDITY is NO [BADURL] and leaves nothing behind."""
import imaplib

from common import ALICE, HOST, args, check

ports, ctx, _ = args()
m = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
m.login(*ALICE)
typ, data = m.capability()
check(b"CATENATE" in data[0].split(), "CATENATE advertised", data)
original = (b"Subject: the original\r\nContent-Type: multipart/mixed; boundary=xx\r\n\r\n"
            b"--xx\r\nContent-Type: text/plain\r\n\r\nthe first part\r\n"
            b"--xx\r\nContent-Type: application/octet-stream\r\n\r\nAAAABBBB\r\n--xx--\r\n")
typ, data = m.append("INBOX", None, None, original)
validity, uid = data[0].split(b"APPENDUID ")[1].split(b"]")[0].split()
validity, uid = validity.decode(), uid.decode()


def raw(line, literal=None):
    """One command, its literal sent after the server's +; the tagged reply."""
    tag = m._new_tag()
    if literal is None:
        m.send(tag + b" " + line + b"\r\n")
    else:
        m.send(tag + b" " + line + b" {%d}\r\n" % len(literal))
        cont = m._get_line()
        check(cont.startswith(b"+"), "continuation", cont)
        m.send(literal)
    while True:
        resp = m._get_line()
        if resp.startswith(tag + b" "):
            return resp


text = b"--- forwarded, with its second part ---\r\n"
url = "/INBOX;UIDVALIDITY=%s/;UID=%s" % (validity, uid)
first = ('APPEND Drafts (\\Draft) CATENATE (URL "%s/;SECTION=HEADER" TEXT' % url).encode()
tag = m._new_tag()
m.send(tag + b" " + first + b" {%d}\r\n" % len(text))
check(m._get_line().startswith(b"+"), "continuation for the TEXT part")
m.send(text + (' URL "%s/;SECTION=2")\r\n' % url).encode())
while True:
    resp = m._get_line()
    if resp.startswith(tag + b" "):
        break
check(b" OK [APPENDUID " in resp, "CATENATE APPEND", resp)
new_uid = resp.split(b"APPENDUID ")[1].split()[1].rstrip(b"]").decode()
m.select("Drafts")
typ, data = m.uid("FETCH", new_uid, "(BODY.PEEK[])")
header = original[: original.index(b"\r\n\r\n") + 4]
check(data[0][1] == header + text + b"AAAABBBB", "the put-together message, exactly", data[0][1])
resp = raw(('APPEND Drafts CATENATE (URL "/INBOX;UIDVALIDITY=1/;UID=%s")' % uid).encode())
check(b"NO [BADURL /INBOX;UIDVALIDITY=1/;UID=" in resp, "stale UIDVALIDITY: BADURL", resp)
typ, data = m.uid("SEARCH", "ALL")
check(data[0].split() == [new_uid.encode()], "nothing else in Drafts", data)
m.logout()
print("catenate passed")
