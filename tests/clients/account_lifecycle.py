"""A deleted account's sessions end, its mail never reaches the next account with the same
address, `user restore` brings it back, and `user del --purge` removes it for good: over IMAP,
POP3, inbound SMTP and submission, with `ringpost user …` run while the server runs.

argv: ports-json cafile ringpost-binary config-path"""
import re
import subprocess
import time

from common import BOB, HOST, Raw, args, check, plain_ir

ports, ctx, extra = args()
BIN, CONFIG = extra
USER = BOB[0]


def cli(*argv, stdin=None, ok=True):
    out = subprocess.run(
        [BIN, "--config", CONFIG, *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if ok:
        check(out.returncode == 0, "ringpost %s" % " ".join(argv), out.stderr)
    return out


def deliver(subject):
    r = Raw(ports["smtp"])
    r.line()
    r.send("EHLO client.example.org\r\n")
    r.until("250 ")
    check(r.cmd("MAIL FROM:<sender@example.org>").startswith("250"), "MAIL")
    reply = r.cmd("RCPT TO:<%s>" % USER)
    if not reply.startswith("250"):
        r.close()
        return reply
    check(r.cmd("DATA").startswith("354"), "DATA")
    reply = r.cmd("Subject: %s\r\n\r\nbody of %s\r\n." % (subject, subject))
    r.cmd("QUIT")
    r.close()
    return reply


def imap(password):
    r = Raw(ports["imaps"], ctx, implicit=True)
    r.line()
    reply = r.cmd('a1 LOGIN %s "%s"' % (USER, password))
    return r, reply


def subjects(password):
    """Every subject in every mailbox of the account `password` logs in to."""
    r, reply = imap(password)
    check(reply.startswith("a1 OK"), "IMAP login", reply)
    r.send('a2 LIST "" "*"\r\n')
    names = [l.rsplit(" ", 1)[1].strip('"') for l in r.until("a2 ") if l.startswith("* LIST")]
    found = []
    for i, name in enumerate(names):
        r.send('s%d SELECT "%s"\r\n' % (i, name))
        lines = r.until("s%d " % i)
        check(lines[-1].startswith("s%d OK" % i), "SELECT " + name, lines[-1])
        r.send("f%d FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n" % i)
        for l in r.until("f%d " % i):
            m = re.match(r"Subject: (\S+)", l)
            if m:
                found.append(m.group(1))
    r.cmd("z LOGOUT")
    r.close()
    return sorted(found)


def pop3(password):
    r = Raw(ports["pop3s"], ctx, implicit=True)
    r.line()
    r.cmd("USER " + USER)
    return r, r.cmd("PASS " + password)


def submission(password):
    r = Raw(ports["smtps"], ctx, implicit=True)
    r.line()
    r.send("EHLO client.example.org\r\n")
    r.until("250 ")
    return r, r.cmd("AUTH PLAIN " + plain_ir(USER, password))


def farewell(r, what):
    """Read until the server's last line and its close (bounded)."""
    r.sock.settimeout(15)
    lines = []
    try:
        while True:
            lines.append(r.line())
    except (EOFError, ConnectionResetError, OSError):
        pass
    check(lines, what + ": a farewell before the close", lines)
    return lines[-1]


# The first owner gets mail and has a session open on every protocol.
check(deliver("first-owner-secret").startswith("250"), "delivery to the first owner")
check(subjects(BOB[1]) == ["first-owner-secret"], "the first owner sees it", subjects(BOB[1]))
i1, reply = imap(BOB[1])
check(reply.startswith("a1 OK"), "IMAP login", reply)
i1.send("s SELECT INBOX\r\n")
check(i1.until("s ")[-1].startswith("s OK"), "SELECT")
p1, reply = pop3(BOB[1])
check(reply.startswith("+OK"), "POP3 login", reply)
check(p1.cmd("STAT").startswith("+OK 1 "), "POP3 STAT")
s1, reply = submission(BOB[1])
check(reply.startswith("235"), "submission AUTH", reply)

out = cli("user", "del", USER)
first = re.search(r"incarnation ([0-9a-f]{16})", out.stdout).group(1)
# The running server was asked to end them at once (over its control socket). Its accounts
# watcher may see the deletion first and end some itself, so the count the kick reports is
# at most 3; the farewells below show that every session ends.
ended = re.search(r"(\d+) sessions of %s ended" % re.escape(USER), out.stdout)
check(ended is not None and int(ended.group(1)) <= 3, "user del ends the sessions", out.stdout)

# Every open session of the deleted account ends, unprompted, each with its protocol's words.
line = farewell(i1, "IMAP")
check(line.startswith("* BYE") and "no longer valid" in line, "IMAP BYE", line)
line = farewell(p1, "POP3")
check(line.startswith("-ERR [AUTH]"), "POP3 -ERR [AUTH]", line)
line = farewell(s1, "submission")
check(line.startswith("421 4.7.0"), "submission 421", line)

# Nobody logs in or receives mail as the deleted account.
r, reply = imap(BOB[1])
check(reply.startswith("a1 NO"), "old password refused on IMAP", reply)
r, reply = pop3(BOB[1])
check(reply.startswith("-ERR"), "old password refused on POP3", reply)
r, reply = submission(BOB[1])
check(reply.startswith("535"), "old password refused on submission", reply)
reply = deliver("to-nobody")
check(reply.startswith("550"), "RCPT to a deleted account", reply)

# A new account with the same address starts empty, on every protocol.
cli("user", "add", USER, stdin="second-owner-pass\n")
check(subjects("second-owner-pass") == [], "the second owner sees nothing", subjects("second-owner-pass"))
r, reply = pop3("second-owner-pass")
check(reply.startswith("+OK"), "POP3 login of the second owner", reply)
check(r.cmd("STAT") == "+OK 0 0", "the second owner's maildrop is empty")
r.cmd("QUIT")
check(deliver("second-owner-mail").startswith("250"), "delivery to the second owner")
check(subjects("second-owner-pass") == ["second-owner-mail"], "the second owner gets new mail")

# `user restore` brings back the first owner's mail (and password), not the second's.
cli("user", "restore", USER, ok=False)  # refused while the second account exists
cli("user", "del", USER)
cli("user", "restore", USER, "--incarnation", first)
check(subjects(BOB[1]) == ["first-owner-secret"], "the restored account has its own mail only")

# `--purge` removes the first owner's mail for good; the second comes back intact.
cli("user", "del", "--purge", USER)
out = cli("user", "restore", USER, "--incarnation", first, ok=False)
check(out.returncode == 1 and "no deleted account" in out.stderr, "a purged account cannot be restored", out.stderr)
out = cli("user", "list", "--deleted")
check(re.search(r"%s %s deleted \S+ mail purged" % (USER, first), out.stdout), "listed as purged", out.stdout)
cli("user", "restore", USER)
check(subjects("second-owner-pass") == ["second-owner-mail"], "the second owner's mail is back")
print("first incarnation", first)
