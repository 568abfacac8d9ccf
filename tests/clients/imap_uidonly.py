"""UIDONLY (RFC 9586) and PARTIAL (RFC 9394) with imaplib: after ENABLE UIDONLY, sequence numbers are refused with
[UIDREQUIRED], UID FETCH answers with `* uid UIDFETCH`, and an expunge is `* VANISHED`."""
import imaplib

from common import ALICE, HOST, args, check

imaplib.Commands.setdefault("ENABLE", ("AUTH",))
ports, ctx, _ = args()
m = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
m.login(*ALICE)
typ, data = m.capability()
check(b"UIDONLY" in data[0].split(), "UIDONLY advertised", data)
for n in range(2):
    m.append("INBOX", None, None, b"Subject: uidonly %d\r\n\r\nbody\r\n" % n)
typ, data = m._simple_command("ENABLE", "UIDONLY")
check(typ == "OK" and m.untagged_responses.get("ENABLED") == [b"UIDONLY"], "ENABLE UIDONLY",
      m.untagged_responses)
m.select("INBOX")
try:
    m.fetch("1", "(FLAGS)")
    check(False, "FETCH by sequence number refused")
except imaplib.IMAP4.error as e:
    check("UIDREQUIRED" in str(e), "BAD [UIDREQUIRED]", e)
typ, data = m.uid("SEARCH", "ALL")
uids = data[0].split()
check(len(uids) >= 2, "UID SEARCH", data)
# PARTIAL (RFC 9394): the last page of one message.
m.untagged_responses.pop("ESEARCH", None)
typ, data = m.uid("SEARCH", "RETURN", "(PARTIAL -1:-1 COUNT)", "ALL")
esearch = m.untagged_responses.pop("ESEARCH", [b""])[0]
check(typ == "OK" and esearch.endswith(b"PARTIAL (-1:-1 " + uids[-1] + b")"), "SEARCH RETURN (PARTIAL)", esearch)
m.untagged_responses.pop("UIDFETCH", None)
typ, data = m.uid("FETCH", b",".join(uids).decode(), "(FLAGS)")
check(typ == "OK", "UID FETCH", data)
lines = m.untagged_responses.pop("UIDFETCH", [])
check(sorted(l.split()[0] for l in lines) == sorted(uids) and all(b"FLAGS" in l for l in lines),
      "one UIDFETCH per message, named by UID", lines)
typ, data = m.uid("STORE", uids[0].decode(), "+FLAGS.SILENT", "(\\Deleted)")
typ, data = m._simple_command("UID", "EXPUNGE", uids[0].decode())
check(typ == "OK" and m.untagged_responses.get("VANISHED") == [uids[0]], "VANISHED, not EXPUNGE",
      m.untagged_responses)
m.logout()
print("uidonly passed")
