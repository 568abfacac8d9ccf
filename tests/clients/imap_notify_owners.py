"""NOTIFY (RFC 5465) past `[imap] notify_max_owners = 1`: two owners share a mailbox with
alice; NOTIFY SET for the whole shared namespace watches one of them, and says so with an
untagged `* NO [LIMIT]` before its OK; the mailbox of the owner watched is still reported.

argv extra: `OWNER1 OWNER2 PASSWORD`."""
import imaplib
import socket

from common import ALICE, HOST, Raw, args, check

ports, ctx, rest = args()
OWNERS, PASSWORD = rest[0:2], rest[2]
imaplib.Commands["SETACL"] = ("AUTH", "SELECTED")


def login(who):
    m = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
    m.login(*who)
    return m


owners = []
for address in OWNERS:
    m = login((address, PASSWORD))
    check(m.create("Team")[0] == "OK", "CREATE Team of " + address)
    typ, data = m._simple_command("SETACL", "Team", ALICE[0], "lr")
    check(typ == "OK", "SETACL Team alice lr", data)
    owners.append(m)

w = Raw(ports["imaps"], ctx, implicit=True)
w.line()
w.cmd('w1 LOGIN %s "%s"' % ALICE)
w.send('w2 NOTIFY SET (subtree "Shared" (MessageNew MessageExpunge))\r\n')
lines = w.until("w2 ")
check(lines[-1] == "w2 OK NOTIFY completed", "NOTIFY SET", lines)
check(lines[:-1] == ["* NO [LIMIT] Too many owners: some other users' shared mailboxes "
                     "are not watched"], "the LIMIT warning", lines)

# Owners are watched in sorted order: the first one's mailbox is reported, not the second's.
heard = []
for m in owners:
    check(m.append("Team", None, None, b"Subject: x\r\n\r\ny\r\n")[0] == "OK", "APPEND")
w.sock.settimeout(3)
try:
    while True:
        heard.append(w.line())
except (socket.timeout, TimeoutError):
    pass
first = sorted(OWNERS)[0]
check(len(heard) == 1 and heard[0].startswith('* STATUS "Shared/%s/Team" (' % first),
      "only the watched owner's STATUS", heard)
w.sock.settimeout(10)
w.send("w3 LOGOUT\r\n")
w.until("w3 ")
for m in owners:
    m.logout()
print("notify owners passed")
