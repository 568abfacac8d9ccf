"""ACL (RFC 4314), LIST-MYRIGHTS (RFC 8440) and the shared namespace with imaplib: alice
shares mailboxes with bob and with anyone; bob and carol see exactly what they were given.

argv extra: `first BOB PASSWORD` (the whole exchange; the test picks for "bob" an account
that lives on another shard than alice's, so every shared-mailbox request of his crosses to
alice's shard), then `again BOB PASSWORD` after a restart: the ACLs and what they give are
still there.

Isolation: with no rights, bob sees nothing of alice's mailboxes (LIST, LSUB, STATUS, SELECT,
GETACL, MYRIGHTS all answer as if they did not exist); with `lr` he reads but cannot STORE,
EXPUNGE or APPEND; revoking takes effect at once; `anyone` gives carol what it gives; GETACL
without `a` is NO [NOPERM]. IDLE on a shared mailbox hears the owner's APPEND."""
import re
import imaplib

from common import ALICE, HOST, Raw, args, check

CAROL = ("carol@example.com", "carol-pass-1")
SHARED = "Shared/alice@example.com"

ports, ctx, rest = args()
BOB = (rest[1], rest[2])
for name in ("GETACL", "SETACL", "DELETEACL", "MYRIGHTS", "LISTRIGHTS"):
    imaplib.Commands[name] = ("AUTH", "SELECTED")


def login(who):
    m = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
    m.login(*who)
    return m


def cmd(m, name, *a):
    try:
        typ, data = m._simple_command(name, *a)
    except imaplib.IMAP4.error as e:
        # imaplib raises on BAD.
        return "BAD", [str(e).encode()], None
    response = "ACL" if name == "GETACL" else name
    return typ, data, m._untagged_response(typ, data, response)[1]


def listed(m, pattern="*"):
    typ, data = m.list('""', pattern)
    check(typ == "OK", "LIST", data)
    return [d.decode() for d in data if d]


def names(m, pattern="*"):
    return [re.search(r'"/" "?([^"]*)"?$', line).group(1) for line in listed(m, pattern)]


MESSAGE = b"From: alice@example.com\r\nSubject: shared hello\r\n\r\nfor bob\r\n"

if rest[0] == "first":
    alice = login(ALICE)
    caps = alice.capability()[1][0].decode()
    for cap in ("ACL", "RIGHTS=texk", "LIST-MYRIGHTS"):
        check(cap in caps.split(), "capability " + cap, caps)
    typ, data = alice.namespace()
    check(b'(("Shared/" "/"))' in data[0], "NAMESPACE names Shared/", data)
    check(alice.create("Projects")[0] == "OK", "CREATE Projects")
    check(alice.create("Private")[0] == "OK", "CREATE Private")
    check(alice.append("INBOX", None, None, MESSAGE)[0] == "OK", "APPEND INBOX")
    check(alice.append("Projects", None, None, MESSAGE)[0] == "OK", "APPEND Projects")
    typ, data, mine = cmd(alice, "MYRIGHTS", "INBOX")
    check(typ == "OK" and mine == [b'"INBOX" lrswipkxteacd'], "owner MYRIGHTS", (typ, data, mine))

    # Nothing shared yet: bob sees nothing of alice's, as if it did not exist (RFC 4314 §6).
    bob = login(BOB)
    check(not any(n.startswith("Shared") for n in names(bob)), "nothing listed", listed(bob))
    for probe in ("INBOX", "Private", "Nope"):
        name = SHARED + "/" + probe
        typ, data = bob.status(name, "(MESSAGES)")
        check(typ == "NO" and b"NONEXISTENT" in data[0], "STATUS " + probe, data)
        typ, data = bob.select(name)
        check(typ == "NO" and b"NONEXISTENT" in data[0], "SELECT " + probe, data)
        typ, data, _ = cmd(bob, "GETACL", name)
        check(typ == "NO" and b"NONEXISTENT" in data[0], "GETACL " + probe, data)
        typ, data, _ = cmd(bob, "MYRIGHTS", name)
        check(typ == "NO" and b"NONEXISTENT" in data[0], "MYRIGHTS " + probe, data)
    bob.subscribe(SHARED + "/INBOX")
    typ, data = bob.lsub('""', "Shared/*")
    check(all(b"\\Noselect" in d or b"\\NonExistent" in d for d in data if d), "LSUB", data)

    # lr on INBOX: bob can look it up and read it, nothing more.
    typ, data, _ = cmd(alice, "SETACL", "INBOX", BOB[0], "lr")
    check(typ == "OK", "SETACL lr", data)
    typ, data, acl = cmd(alice, "GETACL", "INBOX")
    check(acl == [b'"INBOX" alice@example.com lrswipkxteacd %s lr' % BOB[0].encode()], "GETACL", acl)
    typ, data, lr = cmd(alice, "LISTRIGHTS", "INBOX", BOB[0])
    check(lr == [b'"INBOX" %s "" l r s w i p k x t e a c d' % BOB[0].encode()], "LISTRIGHTS", lr)
    # Unknown rights are BAD (RFC 4314 §3.1); the owner's own rights stay whole.
    typ, data, _ = cmd(alice, "SETACL", "INBOX", BOB[0], "lrq")
    check(typ == "BAD", "SETACL with q", (typ, data))
    typ, data, _ = cmd(alice, "SETACL", "INBOX", "alice@example.com", "-a")
    check(typ == "NO" and b"CANNOT" in data[0], "owner's rights", (typ, data))
    typ, data, _ = cmd(alice, "SETACL", "INBOX", "nobody@example.com", "lr")
    check(typ == "NO", "unknown user", (typ, data))

    lines = listed(bob, "Shared*")
    shared = names(bob, "Shared*")
    check(shared == ["Shared", SHARED, SHARED + "/INBOX"], "LIST of the shared namespace", lines)
    check("\\Noselect" in lines[0] and "\\Noselect" in lines[1], "levels are \\Noselect", lines)
    typ, data = bob._simple_command("LIST", '""', '"Shared/*"', "RETURN", "(MYRIGHTS)")
    rights = bob._untagged_response(typ, data, "MYRIGHTS")[1]
    check(rights == [b'"%s/INBOX" lr' % SHARED.encode()], "LIST RETURN (MYRIGHTS)", rights)
    typ, data = bob.status(SHARED + "/INBOX", "(MESSAGES)")
    check(typ == "OK" and b"MESSAGES 1" in data[0], "STATUS shared", data)
    typ, data = bob.status(SHARED + "/Projects", "(MESSAGES)")
    check(typ == "NO" and b"NONEXISTENT" in data[0], "Projects stays hidden", data)
    # RFC 4314 §5.2: no right to change anything, so SELECT answers READ-ONLY (which
    # imaplib raises on).
    try:
        bob.select(SHARED + "/INBOX")
        check(False, "SELECT shared is read-only")
    except imaplib.IMAP4.readonly:
        bob.is_readonly = True
    check(bob.untagged_responses.get("EXISTS") == [b"1"], "SELECT shared", bob.untagged_responses)
    typ, data = bob.fetch("1", "(BODY[] FLAGS)")
    check(typ == "OK" and b"for bob" in data[0][1], "FETCH BODY[]", data)
    # No `s`: reading did not set \Seen, for alice either.
    typ, data = alice.select("INBOX", readonly=True)
    typ, data = alice.fetch("1", "(FLAGS)")
    check(b"\\Seen" not in data[0], "\\Seen not set", data)
    typ, data = bob.store("1", "+FLAGS", "(\\Flagged)")
    check(typ == "NO", "STORE without w", data)
    typ, data = bob.expunge()
    check(typ == "NO", "EXPUNGE without e", data)
    typ, data = bob.append(SHARED + "/INBOX", None, None, MESSAGE)
    check(typ == "NO" and b"NOPERM" in data[0], "APPEND without i", data)
    typ, data, _ = cmd(bob, "GETACL", SHARED + "/INBOX")
    check(typ == "NO" and b"NOPERM" in data[0], "GETACL without a", data)
    # COPY out to bob's own INBOX: r on the source, i on the target.
    typ, data = bob.copy("1", "INBOX")
    check(typ == "OK", "COPY to own INBOX", data)
    typ, data = bob.status("INBOX", "(MESSAGES)")
    check(b"MESSAGES 1" in data[0], "copied", data)
    bob.close()

    # IDLE on the shared INBOX (a raw client: imaplib has no IDLE here) hears alice's APPEND
    # across the shards.
    raw = Raw(ports["imaps"], ctx, implicit=True)
    raw.line()
    check(raw.cmd("a LOGIN %s %s" % BOB).startswith("a OK"), "raw login")
    raw.send("b EXAMINE %s/INBOX\r\n" % SHARED)
    while not raw.line().startswith("b "):
        pass
    raw.send("c IDLE\r\n")
    check(raw.line().startswith("+"), "idling")
    check(alice.append("INBOX", None, None, MESSAGE)[0] == "OK", "alice appends")
    raw.sock.settimeout(10)
    check(raw.line() == "* 2 EXISTS", "EXISTS during IDLE")
    raw.send("DONE\r\n")
    seen = [raw.line()]
    while not seen[-1].startswith("c "):
        seen.append(raw.line())
    check(seen[-1].startswith("c OK"), "IDLE done", seen)
    raw.cmd("d LOGOUT")

    # More rights: read-write, \Seen, \Deleted, EXPUNGE, APPEND.
    typ, data, _ = cmd(alice, "SETACL", "INBOX", BOB[0], "+swite")
    check(typ == "OK", "SETACL +swite", data)
    typ, data, mine = cmd(bob, "MYRIGHTS", SHARED + "/INBOX")
    check(mine == [b'"%s/INBOX" lrswited' % SHARED.encode()], "MYRIGHTS", mine)
    typ, data = bob.select(SHARED + "/INBOX")
    check(typ == "OK", "SELECT read-write", data)
    typ, data = bob.store("1", "+FLAGS", "(\\Seen \\Flagged)")
    check(typ == "OK", "STORE with s and w", data)
    typ, data = bob.append(SHARED + "/INBOX", "(\\Flagged)", None, MESSAGE)
    check(typ == "OK" and b"APPENDUID" in data[0], "APPEND with i", data)
    typ, data = bob.store("2", "+FLAGS", "(\\Deleted)")
    check(typ == "OK", "STORE \\Deleted with t", data)
    typ, data = bob.expunge()
    check(typ == "OK" and data == [b"2"], "EXPUNGE with e", data)
    typ, data = alice.select("INBOX")
    typ, data = alice.fetch("1:*", "(FLAGS)")
    check(len([d for d in data if d]) == 2 and b"\\Seen" in data[0], "alice sees bob's work", data)
    bob.close()

    # anyone: carol gets Projects (and nothing else); bob gets it too.
    typ, data, _ = cmd(alice, "SETACL", "Projects", "anyone", "lr")
    check(typ == "OK", "SETACL anyone", data)
    carol = login(CAROL)
    check(names(carol, "Shared/*") == [SHARED, SHARED + "/Projects"], "carol's LIST", listed(carol))
    typ, data = carol.select(SHARED + "/Projects", readonly=True)
    check(typ == "OK" and data == [b"1"], "carol reads Projects", data)
    typ, data = carol.status(SHARED + "/INBOX", "(MESSAGES)")
    check(typ == "NO" and b"NONEXISTENT" in data[0], "carol has no INBOX", data)
    check(SHARED + "/Projects" in names(bob, "Shared/*"), "bob sees Projects", listed(bob))
    carol.logout()

    # Revoked: gone at once.
    typ, data, _ = cmd(alice, "DELETEACL", "INBOX", BOB[0])
    check(typ == "OK", "DELETEACL", data)
    typ, data = bob.select(SHARED + "/INBOX")
    check(typ == "NO" and b"NONEXISTENT" in data[0], "revoked SELECT", data)
    # Bob's own subscription to it remains, named \NonExistent (RFC 5258 §3.4) as any
    # subscription to a mailbox that is not there.
    gone = [l for l in listed(bob, "Shared/*") if l.endswith('/INBOX"')]
    check(len(gone) == 1 and "\\NonExistent" in gone[0], "revoked LIST", listed(bob))
    bob.logout()
    alice.logout()
    print("acl first passed")
elif rest[0] == "again":
    alice = login(ALICE)
    typ, data, acl = cmd(alice, "GETACL", "Projects")
    check(acl == [b'"Projects" alice@example.com lrswipkxteacd anyone lr'], "GETACL after restart", acl)
    typ, data, acl = cmd(alice, "GETACL", "INBOX")
    check(acl == [b'"INBOX" alice@example.com lrswipkxteacd'], "revocation kept", acl)
    bob = login(BOB)
    lines = [l for l in listed(bob, "Shared/*") if "\\NonExistent" not in l]
    check(len(lines) == 2 and lines[1].endswith('/Projects"'), "bob's LIST after restart", lines)
    bob.logout()
    alice.logout()
    print("acl again passed")
