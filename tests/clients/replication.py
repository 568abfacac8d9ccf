"""Replication between cluster hosts (issue 19), the clients' side: steps run by
tests/e2e_replication.rs around changes of the map, each `step key=value…`:

- `deliver n=N [via=V] [prefix=P] [users=alice|both]`: N messages, each to the users (both
  by default), through host V's port 25 (the first's by default) over STARTTLS, subjects `P i` ("replicated" by default);
  every one must be accepted (with sync replication a 250 means the primary and its
  replica have it on disk). Prints `delivered N`.
- `count n=N [prefix=P] [users=alice|both]`: through every host, the users (both by
  default) each see exactly the N messages `deliver` sent with prefix P, and no other of
  that prefix (retrying while the map changes under the hosts: a login may be refused or a
  session ended meanwhile). Prints `counted N`.
- `load seconds=S via=V out=FILE`: for S seconds, one message after another to alice and
  bob through host V's port 25, reconnecting after any failure; the number of each message
  acknowledged (250) goes to FILE, one per line.
- `acked file=FILE [skip=I]`: every message numbered in FILE is in alice's and bob's INBOX
  exactly once, through every host but host I.
- `moved via=V ready=FILE`: alice logs in over IMAPS (INBOX selected, in IDLE) and POP3S on
  host V, which serves her, then creates FILE; when her partition moves to another host the
  IMAP session ends with `* BYE [UNAVAILABLE]` and the POP3 session with `-ERR [SYS/TEMP]`,
  and logging in again through host V works (routed to the new primary). Prints `moved: ok`.
- `trickle via=V tag=T out=FILE flag=FLAG ready=READY [after=K] [fenced=1]`: writes to
  alice through host V, one SMTP delivery (subject `T s i`) and one IMAP APPEND to her
  INBOX (`T a i`) after another, each over a session kept open while it works (a new one
  after a failure), until FLAG exists (the test made it: the map failed host V's partition
  over) and then K (3) more of each. READY is made once one of each was acknowledged.
  Every attempt goes to FILE as `T kind i outcome after`: outcome `ack` (250 / OK),
  `refused` (4xx or 5xx / NO, or a refused login), `ended` (the session ended: closed or
  BYE) or `timeout`; after 1 when FLAG existed as it began. With `fenced=1` (host V is cut
  off from etcd) every attempt made after FLAG must be refused (SMTP 4xx, IMAP NO) or its
  session ended, never acknowledged, never hang, and at least one of each kind is refused;
  every other round after FLAG is made on new sessions (a new login); with `cut=CUT` too
  (the test made CUT once host V was cut off from the other hosts and etcd), no SMTP
  delivery begun after CUT may be acknowledged either (sync replication: V cannot reach
  the replica). Without, at least K of each kind made after
  FLAG must be acknowledged. No SMTP refusal may be permanent (5xx).
- `verify files=F1,F2… [skip=I]`: through every host (but I), alice's INBOX holds every
  message `trickle` recorded as acknowledged exactly once, none refused after FLAG, and
  none twice (with `sync`, an APPEND's OK waits for the replica as a delivery's 250 does).
- `deliver … patient=1`: a recipient refused with 4xx (nothing was written) is tried
  again for up to 60 s.

`users=` also takes a list `address:password,…` (accounts the test added).

argv: ports cafile hosts-json step key=value…; each host's entry in hosts-json has its
ports by listener name and, for a host off loopback (in a network namespace), its address
as `host`.
"""
import imaplib
import json
import poplib
import os
import smtplib
import socket
import time

from common import ALICE, BOB, HOST, args, check

ports, ctx, extra = args()
hosts = json.loads(extra[0])
step = extra[1]
opts = dict(a.split("=", 1) for a in extra[2:])
n = int(opts.get("n", "0"))
VIA = int(opts.get("via", "0"))
PREFIX = opts.get("prefix", "replicated")
if opts.get("users") == "alice":
    USERS = (ALICE,)
elif opts.get("users", "both") == "both":
    USERS = (ALICE, BOB)
else:
    USERS = tuple(tuple(u.split(":", 1)) for u in opts["users"].split(","))
TIMEOUT = 20


def addr(host):
    """The address host's listeners are on: loopback unless the test put it elsewhere."""
    return host.get("host", HOST)


def deliver():
    with smtplib.SMTP(addr(hosts[VIA]), hosts[VIA]["smtp"], timeout=TIMEOUT) as s:
        s.starttls(context=ctx)
        s.ehlo("client.example.org")
        for i in range(n):
            msg = ("From: sender@example.org\r\nTo: %s\r\n"
                   "Subject: %s %d\r\nMessage-ID: <%s%d@example.org>\r\n\r\n"
                   "copy %d\r\n" % (", ".join(u[0] for u in USERS), PREFIX, i, PREFIX, i,
                                      i)).encode()
            deadline = time.time() + 60
            while True:
                try:
                    refused = s.sendmail("sender@example.org", [u[0] for u in USERS], msg)
                    break
                except smtplib.SMTPRecipientsRefused as e:
                    temporary = all(400 <= code < 500 for code, _ in e.recipients.values())
                    if not (opts.get("patient") == "1" and temporary and time.time() < deadline):
                        raise
                    time.sleep(0.5)
            check(refused == {}, "message %d accepted for every user" % i, refused)
    print("delivered %d" % n)


def subjects(host, who):
    c = imaplib.IMAP4_SSL(addr(host), host["imaps"], ssl_context=ctx, timeout=TIMEOUT)
    try:
        c.login(*who)
        typ, data = c.select("INBOX", readonly=True)
        check(typ == "OK", "SELECT", data)
        if int(data[0]) == 0:
            return []
        typ, data = c.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        check(typ == "OK", "FETCH", data)
        found = []
        for item in data:
            if isinstance(item, tuple):
                found.append(item[1].decode().strip())
        c.logout()
        return sorted(found)
    finally:
        try:
            c.shutdown()
        except OSError:
            pass


def load(seconds, via, out):
    acked = []
    i = 0
    end = time.time() + seconds
    while time.time() < end:
        try:
            with smtplib.SMTP(addr(hosts[via]), hosts[via]["smtp"], timeout=TIMEOUT) as s:
                s.starttls(context=ctx)
                s.ehlo("client.example.org")
                while time.time() < end:
                    i += 1
                    msg = ("From: sender@example.org\r\nTo: alice@example.com\r\n"
                           "Subject: load %d\r\nMessage-ID: <l%d@example.org>\r\n\r\n"
                           "load %d\r\n" % (i, i, i)).encode()
                    try:
                        refused = s.sendmail("sender@example.org", [ALICE[0], BOB[0]], msg)
                    except smtplib.SMTPResponseException:
                        continue  # 4xx: not acknowledged, try the next one
                    if refused == {}:
                        acked.append(i)
        except (OSError, smtplib.SMTPException):
            time.sleep(0.2)
    with open(out, "w") as f:
        f.write("".join("%d\n" % n for n in acked))
    check(len(acked) > 0, "some messages acknowledged", i)
    print("load: %d sent, %d acknowledged" % (i, len(acked)))


def load_subjects(host, who):
    return [x for x in subjects(host, who) if x.startswith("Subject: load ")]


def acked(path):
    want = sorted("Subject: load %s" % line.strip() for line in open(path) if line.strip())
    deadline = time.time() + 60
    for i, host in enumerate(hosts):
        if i == int(opts.get("skip", "-1")):
            continue
        for who in (ALICE, BOB):
            while True:
                try:
                    got = load_subjects(host, who)
                    missing = sorted(set(want) - set(got))
                    if not missing:
                        twice = [w for w in want if got.count(w) != 1]
                        check(not twice, "no acknowledged message is there twice", twice[:3])
                        break
                    why = "%d acknowledged messages missing, e.g. %s" % (len(missing), missing[:3])
                except (imaplib.IMAP4.error, OSError, EOFError) as e:
                    why = repr(e)
                if time.time() > deadline:
                    check(False, "%s has every acknowledged message through host %d" % (who[0], i), why)
                time.sleep(0.5)
            print("ok: %s has all %d acknowledged messages through host %d" % (who[0], len(want), i))
    print("acked: ok")


def count():
    want = sorted("Subject: %s %d" % (PREFIX, i) for i in range(n))
    deadline = time.time() + 60
    for i, host in enumerate(hosts):
        for who in USERS:
            while True:
                try:
                    got = [x for x in subjects(host, who)
                           if x.startswith("Subject: %s " % PREFIX)]
                    if got == want:
                        break
                    why = "%d messages" % len(got)
                except (imaplib.IMAP4.error, OSError, EOFError) as e:
                    why = repr(e)
                if time.time() > deadline:
                    check(False, "%s sees the %d messages through host %d" % (who[0], n, i), why)
                time.sleep(0.5)
            print("ok: %s sees the %d messages through host %d" % (who[0], n, i))
    print("counted %d" % n)


def moved(via, ready):
    host = hosts[via]
    c = imaplib.IMAP4_SSL(addr(host), host["imaps"], ssl_context=ctx, timeout=90)
    c.login(*ALICE)
    typ, _ = c.select("INBOX")
    check(typ == "OK", "SELECT INBOX", typ)
    p = poplib.POP3_SSL(addr(host), host["pop3s"], context=ctx, timeout=90)
    p.user(ALICE[0])
    p.pass_(ALICE[1])
    p.stat()
    c.send(b"i1 IDLE\r\n")
    line = c.readline()
    check(line.startswith(b"+"), "IDLE accepted", line)
    open(ready, "w").close()
    # Notices of the load's deliveries may come first; then the farewell.
    while True:
        line = c.readline()
        check(line != b"", "a farewell before the connection closed", line)
        if line.startswith(b"* BYE"):
            break
    check(b"[UNAVAILABLE]" in line, "IMAP BYE [UNAVAILABLE]", line)
    print("imap: %s" % line.decode().strip())
    try:
        p.noop()
        check(False, "POP3 refused after the move", "NOOP answered +OK")
    except poplib.error_proto as e:
        text = e.args[0] if isinstance(e.args[0], bytes) else str(e.args[0]).encode()
        check(b"[SYS/TEMP]" in text, "POP3 -ERR [SYS/TEMP]", text)
        print("pop3: %s" % text.decode().strip())
    # Back in through the same host: it relays to the host that serves her now.
    deadline = time.time() + 60
    while True:
        try:
            c = imaplib.IMAP4_SSL(addr(host), host["imaps"], ssl_context=ctx, timeout=TIMEOUT)
            c.login(*ALICE)
            typ, data = c.select("INBOX")
            check(typ == "OK", "SELECT INBOX after the move", data)
            c.logout()
            break
        except (imaplib.IMAP4.error, OSError, EOFError) as e:
            if time.time() > deadline:
                check(False, "alice logs in again after the move", repr(e))
            time.sleep(0.5)
    print("moved: ok")
def trickle(via, tag, out, flag, ready, after, fenced, cut):
    host = hosts[via]
    records = []
    state = {"smtp": None, "imap": None}

    def close(kind):
        c = state[kind]
        state[kind] = None
        if c is None:
            return
        try:
            if kind == "smtp":
                c.close()
            else:
                c.shutdown()
        except (OSError, imaplib.IMAP4.error, EOFError):
            pass

    def message(kind, i):
        return ("From: sender@example.org\r\nTo: alice@example.com\r\n"
                "Subject: %s %s %d\r\nMessage-ID: <%s.%s.%d@example.org>\r\n\r\n"
                "split %d\r\n" % (tag, kind, i, tag, kind, i, i)).encode()

    def smtp(i):
        if state["smtp"] is None:
            s = smtplib.SMTP(addr(host), host["smtp"], timeout=TIMEOUT)
            state["smtp"] = s
            s.starttls(context=ctx)
            s.ehlo("client.example.org")
        try:
            refused = state["smtp"].sendmail("sender@example.org", [ALICE[0]], message("s", i))
        except smtplib.SMTPRecipientsRefused as e:
            return closed("refused", [code for code, _ in e.recipients.values()])
        except smtplib.SMTPResponseException as e:
            return closed("refused", [e.smtp_code])
        if refused != {}:
            check(False, "one recipient, accepted or refused", refused)
        return "ack", [250]

    def closed(outcome, detail):
        # smtplib closes the connection after a 421; the next attempt opens a new one.
        if state["smtp"] is not None and state["smtp"].sock is None:
            state["smtp"] = None
        return outcome, detail

    def imap(i):
        if state["imap"] is None:
            c = imaplib.IMAP4_SSL(addr(host), host["imaps"], ssl_context=ctx, timeout=TIMEOUT)
            state["imap"] = c
            try:
                c.login(*ALICE)
            except imaplib.IMAP4.abort:
                raise
            except imaplib.IMAP4.error as e:
                close("imap")
                return "refused", [str(e)]
        typ, data = state["imap"].append("INBOX", None, None, message("a", i))
        if typ == "OK":
            return "ack", []
        return "refused", [typ, data]

    def attempt(kind, i):
        try:
            return (smtp if kind == "s" else imap)(i)
        except (socket.timeout, TimeoutError) as e:
            close("smtp" if kind == "s" else "imap")
            return "timeout", [repr(e)]
        except (OSError, EOFError, smtplib.SMTPException, imaplib.IMAP4.abort) as e:
            close("smtp" if kind == "s" else "imap")
            return "ended", [repr(e)]

    acked_before = set()
    after_counts = {"s": 0, "a": 0}
    good_after = {"s": 0, "a": 0}
    i = 0
    began = time.time()
    problems = []
    while min(after_counts.values()) < after or min(good_after.values()) < (1 if fenced else after):
        if time.time() - began > 180:
            check(False, "the trickle through host %d ends" % via, (after_counts, good_after))
        i += 1
        if fenced and os.path.exists(flag) and i % 2 == 0:
            # Every other round through the fenced host on new sessions (a new login too).
            close("smtp")
            close("imap")
        for kind in ("s", "a"):
            is_after = os.path.exists(flag)
            is_cut = cut is not None and os.path.exists(cut)
            started = time.time()
            outcome, detail = attempt(kind, i)
            took = time.time() - started
            records.append("%s %s %d %s %d" % (tag, kind, i, outcome, int(is_after)))
            if is_after:
                print("after: %s %d %s %s (%.1f s)" % (kind, i, outcome, detail, took))
            if fenced and is_cut and outcome == "ack":
                # Cut off, host V reaches neither the replica nor a quorum of etcd: a sync
                # write (a delivery's 250, an APPEND's OK) has nowhere to be made durable
                # enough to acknowledge.
                problems.append("%s %d acknowledged through the host after its cut" % (kind, i))
            if kind == "s" and outcome == "refused" and not all(400 <= c < 500 for c in detail):
                # A failover is no reason to bounce mail.
                problems.append("%s %d refused for good: %s" % (kind, i, detail))
            if not is_after:
                if outcome == "ack":
                    acked_before.add(kind)
                    if acked_before == {"s", "a"} and not os.path.exists(ready):
                        open(ready, "w").close()
                continue
            after_counts[kind] += 1
            if fenced:
                if outcome == "ack":
                    problems.append("%s %d acknowledged through the fenced host" % (kind, i))
                elif outcome == "timeout":
                    problems.append("%s %d hung through the fenced host: %s" % (kind, i, detail))
                elif outcome == "refused":
                    good_after[kind] += 1
            elif outcome == "ack":
                good_after[kind] += 1
        if problems:
            break
        time.sleep(0.1)
    close("smtp")
    close("imap")
    with open(out, "w") as f:
        f.write("".join(r + "\n" for r in records))
    check(not problems, "host %d wrote nothing for alice once failed over" % via, problems)
    counts = {}
    for r in records:
        _, kind, _, outcome, is_after = r.split()
        key = "%s/%s/%s" % (kind, outcome, "after" if is_after == "1" else "before")
        counts[key] = counts.get(key, 0) + 1
    print("trickle %s: %d rounds, %s" % (tag, i, " ".join("%s=%d" % kv for kv in sorted(counts.items()))))


def verify(paths):
    want = {}
    for path in paths:
        for line in open(path):
            tag, kind, i, outcome, is_after = line.split()
            want["Subject: %s %s %s" % (tag, kind, i)] = (outcome, is_after == "1")
    acked = sum(1 for o, _ in want.values() if o == "ack")
    deadline = time.time() + 60
    for h, host in enumerate(hosts):
        if h == int(opts.get("skip", "-1")):
            continue
        while True:
            try:
                got = subjects(host, ALICE)
                wrong = []
                for subject, (outcome, is_after) in sorted(want.items()):
                    n = got.count(subject)
                    if outcome == "ack" and n != 1:
                        wrong.append("%s acknowledged, there %d times" % (subject, n))
                    elif outcome != "ack" and is_after and n != 0:
                        wrong.append("%s refused while fenced, there %d times" % (subject, n))
                    elif n > 1:
                        wrong.append("%s there %d times" % (subject, n))
                if not wrong:
                    break
                why = "%d wrong, e.g. %s" % (len(wrong), wrong[:3])
            except (imaplib.IMAP4.error, OSError, EOFError, AssertionError) as e:
                why = repr(e)
            if time.time() > deadline:
                check(False, "alice's INBOX through host %d" % h, why)
            time.sleep(0.5)
        print("ok: alice has each of the %d acknowledged messages once through host %d"
              % (acked, h))
    print("verified: %d acknowledged of %d" % (acked, len(want)))


if step == "deliver":
    deliver()
elif step == "count":
    count()
elif step == "load":
    load(float(opts["seconds"]), VIA, opts["out"])
elif step == "acked":
    acked(opts["file"])
elif step == "moved":
    moved(VIA, opts["ready"])
elif step == "trickle":
    trickle(VIA, opts["tag"], opts["out"], opts["flag"], opts["ready"],
            int(opts.get("after", "3")), opts.get("fenced") == "1", opts.get("cut"))
elif step == "verify":
    verify(opts["files"].split(","))
else:
    check(False, "unknown step", step)
