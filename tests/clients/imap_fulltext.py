"""SEARCH BODY and TEXT with imaplib over IMAPS, answered through the full-text index:
messages in every encoding a client sends (plain, quoted-printable Latin-1, base64 UTF-8,
HTML, a binary attachment, a forwarded message), then one-word, several-word, substring,
case-insensitive and non-ASCII (CHARSET UTF-8) searches, mixed with flag keys, under NOT and
OR, after new mail and after an expunge, each checked against the set the messages were
made to have.

argv: ports cafile phase
- phase "before": set up and search;
- phase "after": after a server restart, the same searches (the index is read back).
"""
import base64
import imaplib

from common import ALICE, HOST, args, check

ports, ctx, extra = args()
phase = extra[0]
N = 90


def message(i):
    """Message i: 'zebra' in its text when i % 3 == 0, 'yak' when i % 4 == 0, in an
    encoding chosen by i % 6; i % 6 == 4 carries 'zebra' only in a binary attachment."""
    words = ["note", "number", str(i)]
    if i % 3 == 0:
        words.append("Zebra")
    if i % 4 == 0:
        words.append("yak")
    text = " ".join(words) + " Grüße, danke."
    head = "From: sender%d@example.org\r\nTo: alice@example.com\r\nSubject: note %d\r\n" % (i, i)
    head += "Message-ID: <m%d@example.org>\r\nMIME-Version: 1.0\r\n" % i
    kind = i % 6
    if kind == 0:
        return (head + "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                + text + "\r\n").encode()
    if kind == 1:
        qp = text.encode("latin-1").decode("latin-1").replace("ü", "=FC").replace("ß", "=DF")
        return (head + "Content-Type: text/plain; charset=iso-8859-1\r\n"
                "Content-Transfer-Encoding: quoted-printable\r\n\r\n" + qp + "\r\n").encode()
    if kind == 2:
        b = base64.b64encode(text.encode()).decode()
        return (head + "Content-Type: text/plain; charset=utf-8\r\n"
                "Content-Transfer-Encoding: base64\r\n\r\n" + b + "\r\n").encode()
    if kind == 3:
        html = "<html><body><p>" + text.replace(" ", " <b></b>", 1) + "</p></body></html>"
        return (head + "Content-Type: text/html; charset=utf-8\r\n\r\n" + html + "\r\n").encode()
    if kind == 4:
        plain = text.replace("Zebra", "").replace("yak", "yak")
        blob = base64.b64encode(b"Zebra " * 20).decode()
        return (head + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
                "Content-Type: text/plain; charset=utf-8\r\n\r\n" + plain + "\r\n--b\r\n"
                "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                + blob + "\r\n--b--\r\n").encode()
    inner = "From: inner@example.org\r\nSubject: forwarded\r\n\r\n" + text + "\r\n"
    return (head + 'Content-Type: multipart/mixed; boundary="f"\r\n\r\n--f\r\n'
            "Content-Type: text/plain\r\n\r\nSee below.\r\n--f\r\nContent-Type: message/rfc822\r\n\r\n"
            + inner + "--f--\r\n").encode()


def has_zebra(i):
    return i % 3 == 0 and i % 6 != 4


def search(m, *keys, charset=None):
    typ, data = m.uid("SEARCH", *(("CHARSET", charset) if charset else ()), *keys)
    check(typ == "OK", "UID SEARCH %r" % (keys,), data)
    return sorted(int(u) for u in data[0].split())


m = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
m.login(*ALICE)
if phase == "before":
    check(m.create("Findings")[0] == "OK", "CREATE Findings")
    for i in range(N):
        typ, data = m.append("Findings", None, None, message(i))
        check(typ == "OK", "APPEND %d" % i, data)
m.select("Findings")
typ, data = m.uid("SEARCH", "ALL")
uids = sorted(int(u) for u in data[0].split())
first = 1  # a new mailbox: message i has UID i + 1
live = {u - first for u in uids}  # message numbers still there

expect = lambda f: sorted(first + i for i in live if f(i))
got = search(m, "BODY", "zebra")
check(got == expect(has_zebra), "BODY zebra (binary parts not searched)",
      (got, expect(has_zebra)))
check(search(m, "TEXT", "ZEBRA") == expect(has_zebra), "TEXT is case-insensitive")
check(search(m, "BODY", "ebr") == expect(has_zebra), "a substring of a word")
check(search(m, "BODY", "yak") == expect(lambda i: i % 4 == 0), "BODY yak")
check(search(m, "BODY", '"zebra yak"') == expect(lambda i: has_zebra(i) and i % 4 == 0),
      "two words in a row")
check(search(m, "BODY", '"yak zebra"') == [], "two words in the other order")
check(search(m, "TEXT", "sender7@") == expect(lambda i: i == 7), "TEXT covers the header")
check(search(m, "BODY", "sender7@") == [], "BODY does not")
check(search(m, "BODY", "forwarded") == expect(lambda i: i % 6 == 5),
      "an attached message's header is searched")
m.literal = "grüße".encode()
check(search(m, "BODY", charset="UTF-8") == expect(lambda i: True),
      "decoded Latin-1, base64 and HTML text, searched in UTF-8")
check(search(m, "BODY", "zebra", "NOT", "BODY", "yak")
      == expect(lambda i: has_zebra(i) and i % 4 != 0), "NOT BODY")
check(search(m, "OR", "BODY", "zebra", "BODY", "yak")
      == expect(lambda i: has_zebra(i) or i % 4 == 0), "OR BODY")
check(search(m, "SUBJECT", '"note 1"', "BODY", "number")
      == expect(lambda i: str(i).startswith("1")), "with a header key")
check(search(m, "BODY", "absentword") == [], "a word no message has")

if phase == "before":
    # New mail is found by the next search; expunged mail is not.
    typ, data = m.append("Findings", None, None, message(N))
    check(typ == "OK", "APPEND after the index was built", data)
    live.add(N)
    check(search(m, "BODY", "zebra") == expect(has_zebra), "new mail searched")
    gone = [first + i for i in sorted(live) if i % 9 == 0][:5]
    m.uid("STORE", ",".join(map(str, gone)), "+FLAGS.SILENT", "(\\Deleted)")
    m.expunge()
    live -= {u - first for u in gone}
    check(search(m, "BODY", "zebra") == expect(has_zebra), "expunged mail not named")
    m.uid("STORE", str(first + 3), "+FLAGS.SILENT", "(\\Seen)")
    check(search(m, "SEEN", "BODY", "zebra") == [first + 3], "with a flag key")
m.logout()
print("fulltext %s passed" % phase)
