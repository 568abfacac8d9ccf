"""RFC 8437 UNAUTHENTICATE with imaplib: alice logs in, appends and selects; UNAUTHENTICATE
brings the connection back to the not-authenticated state (mailbox commands refused, the
pre-login capabilities again); bob logs in on the same connection (alice and bob live on
different shards, so the connection moves again) and sees his own mailbox, not alice's."""
import imaplib

from common import ALICE, BOB, HOST, args, check

ports, ctx, _ = args()
# imaplib knows no UNAUTHENTICATE: teach it the states it is valid in.
imaplib.Commands["UNAUTHENTICATE"] = ("AUTH", "SELECTED")

m = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
m.login(*ALICE)
typ, data = m.capability()
check(b"UNAUTHENTICATE" in data[0], "UNAUTHENTICATE advertised once logged in", data)
marker = b"Subject: only alice's\r\n\r\nsecret of alice\r\n"
typ, _ = m.append("INBOX", None, None, marker)
check(typ == "OK", "APPEND as alice")
typ, data = m.select("INBOX")
check(typ == "OK", "SELECT as alice", data)
alice_count = int(data[0])

typ, data = m._simple_command("UNAUTHENTICATE")
check(typ == "OK", "UNAUTHENTICATE", data)
m.state = "NONAUTH"
typ, data = m.capability()
check(b"AUTH=PLAIN" in data[0] and b"IDLE" not in data[0], "pre-login capabilities again", data)
# Make imaplib send it anyway: the server must refuse it.
m.state = "AUTH"
try:
    m.select("INBOX")
    check(False, "SELECT refused before a new login")
except imaplib.IMAP4.error as e:
    check("Log in first" in str(e), "SELECT refused by the server before a new login", e)
m.state = "NONAUTH"

m.login(*BOB)
typ, data = m.select("INBOX")
check(typ == "OK", "SELECT as bob", data)
typ, data = m.search(None, "BODY", '"secret of alice"')
check(typ == "OK" and data[0] == b"", "bob does not see alice's message", data)
typ, data = m.status("INBOX", "(MESSAGES)")
check(typ == "OK", "STATUS as bob", data)
m.logout()

m = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
m.login(*ALICE)
typ, data = m.select("INBOX")
check(int(data[0]) == alice_count, "alice's mailbox as she left it", data)
m.logout()
print("unauthenticate passed")
