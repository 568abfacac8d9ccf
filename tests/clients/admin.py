"""Live administration over the control socket, with real clients connected: `ringpost who`
lists them by account, protocol, client and shard, `stats` counts what they did, `queue
list|show|delete` work on the queue while the server runs, and `kick` ends one account's
sessions (and no other's).

argv: ports-json cafile ringpost-binary config-path"""
import imaplib
import poplib
import re
import smtplib
import subprocess
import time

from common import ALICE, BOB, HOST, args, check

ports, ctx, extra = args()
BIN, CONFIG = extra


def cli(*argv, ok=True):
    out = subprocess.run(
        [BIN, "--config", CONFIG, *argv], capture_output=True, text=True, timeout=60
    )
    if ok:
        check(out.returncode == 0, "ringpost %s" % " ".join(argv), out.stderr)
    return out


def stats():
    figures = {}
    for line in cli("stats").stdout.splitlines():
        name, value = line.rsplit(" ", 1)
        figures[name] = int(value)
    return figures


# What the server counted before (the test's readiness probes), to compare with.
base = stats()

# alice over IMAPS, bob over POP3 with STLS, and another server over inbound SMTP.
imap = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
imap.login("Alice@Example.COM", ALICE[1])
imap.select("INBOX")
pop = poplib.POP3(HOST, ports["pop3"], timeout=10)
pop.stls(context=ctx)
pop.user(BOB[0])
pop.pass_(BOB[1])
mx = smtplib.SMTP(HOST, ports["smtp"], timeout=10)
mx.ehlo("mx.remote.example")

# One failed login, and one message for another domain through submission.
try:
    bad = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
    bad.login(ALICE[0], "wrong")
    check(False, "a wrong password is refused")
except imaplib.IMAP4.error:
    bad.logout()
sub = smtplib.SMTP_SSL(HOST, ports["smtps"], context=ctx, timeout=10)
sub.login(ALICE[0], ALICE[1])
sub.mail(ALICE[0])
sub.rcpt("friend@elsewhere.org")
code, reply = sub.data(b"From: alice@example.com\r\nTo: friend@elsewhere.org\r\nSubject: to the world\r\n\r\nHello.\r\n")
check(code == 250, "submission accepted", reply)
queue_id = re.search(r"queued as (\S+)", reply.decode()).group(1)
sub.quit()

# who: every session, by account, with its protocol, client and shard. (A session ends on
# the server a moment after the client has read its last reply: wait for that, bounded.)
for _ in range(100):
    out = cli("who").stdout
    if out.endswith("3 sessions, 2 accounts logged in\n"):
        break
    time.sleep(0.05)
print(out)
lines = out.splitlines()
check(lines[0].split()[:4] == ["ACCOUNT", "PROTOCOL", "CLIENT", "SHARD"], "who's header", lines[0])
rows = [l.split() for l in lines[1:-1]]
check(lines[-1] == "3 sessions, 2 accounts logged in", "who's summary", lines[-1])
check([r[:2] for r in rows] == [["alice@example.com", "imap"], ["bob@example.com", "pop3"], ["-", "smtp"]],
      "who lists each session by account and protocol", rows)
check(all(r[2].startswith("127.0.0.1:") and r[3] in ("0", "1") for r in rows), "client and shard", rows)
check([r[4] for r in rows] == ["yes", "yes", "no"], "TLS per session", rows)
only = cli("who", "ALICE@example.com").stdout.splitlines()
check(len(only) == 3 and only[1].startswith("alice@example.com ") and only[-1].startswith("1 sessions"),
      "who ACCOUNT shows that account's sessions only", only)

# stats: what those sessions did, summed over the shards.
now = stats()
print(now)
s = {k: v - base.get(k, 0) if "_total" in k else v for k, v in now.items()}
check(s['ringpost_logins_total{protocol="imap",result="failed"}'] == 1, "one failed IMAP login", s)
check(s['ringpost_logins_total{protocol="imap",result="succeeded"}'] == 1, "one IMAP login", s)
check(s['ringpost_logins_total{protocol="pop3",result="succeeded"}'] == 1, "one POP3 login", s)
check(s['ringpost_logins_total{protocol="submission",result="succeeded"}'] == 1, "one submission login", s)
check(s['ringpost_connections_open{protocol="imap"}'] == 1, "one IMAP session open", s)
check(s['ringpost_connections_open{protocol="smtp"}'] == 1, "one SMTP session open", s)
check(s['ringpost_connections_total{protocol="imap"}'] == 2, "two IMAP connections so far", s)
check(s['ringpost_messages_total{result="accepted"}'] == 1, "one message accepted", s)
check(s['ringpost_recipients_total{kind="queued"}'] == 1, "one recipient queued", s)
check(s["ringpost_queue_messages"] == 1, "the queue holds it", s)
check(sum(v for k, v in s.items() if k.startswith("ringpost_shard_connections_open")) == 3,
      "open sessions per shard add up", s)

# The queue, while the server runs.
out = cli("queue", "list").stdout
check(queue_id in out and out.endswith("1 queued\n") and "<friend@elsewhere.org>" in out, "queue list", out)
out = cli("queue", "show", queue_id).stdout
check(out.startswith("Queue-Id: %s\n" % queue_id), "queue show: the envelope first", out)
check("Recipients: <friend@elsewhere.org>\n" in out and "\nSubject: to the world\n" in out
      and out.rstrip().endswith("Hello."), "queue show: envelope and message", out)
check(cli("queue", "delete", queue_id).stdout == "deleted %s\n" % queue_id, "queue delete")
check(cli("queue", "list").stdout == "0 queued\n", "the queue is empty")
gone = cli("queue", "delete", queue_id, ok=False)
check(gone.returncode == 1 and "no message" in gone.stderr, "deleting it again is an error", gone.stderr)
check(stats()["ringpost_queue_messages"] == 0, "stats sees the empty queue")

# kick ends alice's session, whatever case the name is given in; bob's goes on.
check(cli("kick", "ALICE@example.com").stdout == "1 sessions of alice@example.com ended\n", "kick")
try:
    imap.noop()
    imap.noop()
    check(False, "the kicked IMAP session ends")
except imaplib.IMAP4.abort as e:
    check("no longer valid" in str(e), "the kicked session was told why", e)
check(pop.noop().startswith(b"+OK"), "bob's POP3 session goes on")
check(cli("kick", "carol@example.com").stdout == "0 sessions of carol@example.com ended\n", "kick of nobody")
for _ in range(100):
    out = cli("who").stdout
    if "alice@example.com" not in out:
        break
    time.sleep(0.05)
check("alice@example.com" not in out and out.endswith("2 sessions, 1 accounts logged in\n"),
      "who no longer lists alice", out)
pop.quit()
mx.quit()
