"""SMTP delivery with real clients: inbound (MX) and submission, plaintext/STARTTLS/implicit,
every RFC corner the SMTP issue names. Writes the messages that must be in each INBOX (as
sent, before our Received: header) to a JSON file for the Rust test to compare byte for byte."""
import base64
import json
import smtplib
import sys

from common import ALICE, BOB, HOST, Raw, args, check, plain_ir

ports, ctx, extra = args()
out_path, limit = extra[0], int(extra[1])
expected = {ALICE[0]: [], BOB[0]: []}


def expect(accounts, data):
    for a in accounts:
        expected[a].append(base64.b64encode(data).decode())


def message(subject, body, extra_headers=b""):
    return (b"From: someone@remote.example\r\nTo: users@example.com\r\nSubject: " + subject.encode()
            + b"\r\nMessage-ID: <" + subject.replace(" ", "-").encode() + b"@test>\r\n" + extra_headers
            + b"\r\n" + body)


# 1. Inbound, plaintext, two local recipients on different shards.
m1 = message("inbound two", b"Hello both.\r\n")
s = smtplib.SMTP(HOST, ports["smtp"])
s.ehlo("mx.remote.example")
check(s.has_extn("chunking") and s.has_extn("pipelining") and s.has_extn("8bitmime"), "EHLO extensions", s.esmtp_features)
refused = s.sendmail("someone@remote.example", [ALICE[0], BOB[0]], m1)
check(refused == {}, "inbound to alice and bob accepted", refused)
expect([ALICE[0], BOB[0]], m1)
# 3./4. Unknown local user and relay attempts are refused at RCPT.
code, msg = s.mail("someone@remote.example")
check(code == 250, "MAIL", (code, msg))
code, msg = s.rcpt("nobody@example.com")
check(code == 550 and msg.startswith(b"5.1.1"), "unknown local user: 550 5.1.1", (code, msg))
code, msg = s.rcpt("victim@elsewhere.example")
check(code == 554 and msg.startswith(b"5.7.1"), "relay denied: 554 5.7.1", (code, msg))
s.rset()
s.quit()

# 2. Inbound over STARTTLS.
m2 = message("inbound tls", b"Over TLS.\r\n")
s = smtplib.SMTP(HOST, ports["smtp"])
s.starttls(context=ctx)
check(s.sendmail("someone@remote.example", [ALICE[0]], m2) == {}, "inbound over STARTTLS")
expect([ALICE[0]], m2)
s.quit()

# 5./6. Submission over STARTTLS: the sender must be the authenticated account.
m3 = message("submission", b"From alice to bob.\r\n")
s = smtplib.SMTP(HOST, ports["submission"])
s.starttls(context=ctx)
s.login(*ALICE)
check(s.sendmail(ALICE[0], [BOB[0]], m3) == {}, "submission alice -> bob")
expect([BOB[0]], m3)
code, msg = s.mail(BOB[0])
check(code == 553 and msg.startswith(b"5.7.1"), "submission: foreign sender refused 553 5.7.1", (code, msg))
s.rset()
s.quit()

# 7. SMTPS, an 8-bit UTF-8 body.
m4 = message("utf8", "Grüße aus Köln — ünïcödé ✓\r\n".encode("utf-8"), b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n")
s = smtplib.SMTP_SSL(HOST, ports["smtps"], context=ctx)
s.login(*BOB)
check(s.sendmail(BOB[0], [ALICE[0]], m4, mail_options=["BODY=8BITMIME"]) == {}, "SMTPS 8-bit body")
expect([ALICE[0]], m4)
s.quit()

# 8. A 1,000-character line, lines starting with dots (smtplib dot-stuffs them).
m5 = message("dots", b"x" * 998 + b"\r\n" + b".hidden line\r\n..\r\n.\r\nend\r\n")
s = smtplib.SMTP(HOST, ports["smtp"])
check(s.sendmail("a@remote.example", [BOB[0]], m5) == {}, "1000-char line and dot lines")
expect([BOB[0]], m5)

# 9. Exactly the size limit is accepted; one byte more is refused with 552 5.3.4.
head = message("exact size", b"")
body = b"y" * (limit - len(head) - 2) + b"\r\n"
m6 = head + body
assert len(m6) == limit, len(m6)
check(s.sendmail("a@remote.example", [ALICE[0]], m6) == {}, "message of exactly the limit accepted")
expect([ALICE[0]], m6)
# smtplib announces SIZE=, so the server refuses at MAIL already...
try:
    s.sendmail("a@remote.example", [ALICE[0]], head + b"z" + body)
    check(False, "limit + 1 refused")
except smtplib.SMTPSenderRefused as e:
    check(e.smtp_code == 552 and e.smtp_error.startswith(b"5.3.4"), "limit + 1 refused at MAIL (SIZE=)", e)
# ...and without SIZE= the count while streaming refuses it at the end of DATA.
code, _ = s.mail("a@remote.example")
check(code == 250, "MAIL without SIZE")
check(s.rcpt(ALICE[0])[0] == 250, "RCPT")
code, msg = s.data(head + b"z" + body)  # smtplib returns the final reply, it does not raise
check(code == 552 and msg.startswith(b"5.3.4"), "limit + 1 refused with 552 5.3.4 after DATA", (code, msg))
code, msg = s.docmd("MAIL FROM:<a@remote.example> SIZE=%d" % (limit + 1))
check(code == 552, "SIZE= over the limit refused at MAIL", (code, msg))
s.quit()

# 10. Pipelined transaction: all commands in one write.
m7 = message("pipelined", b"Pipelined.\r\n")
r = Raw(ports["smtp"], ctx)
r.line()
r.send("EHLO mx.remote.example\r\n")
r.until("250 ")
r.send("MAIL FROM:<p@remote.example>\r\nRCPT TO:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (ALICE[0], BOB[0]))
replies = [r.line() for _ in range(4)]
check([x[:3] for x in replies] == ["250", "250", "250", "354"], "pipelined MAIL/RCPT/RCPT/DATA", replies)
r.send(m7 + b".\r\n")
reply = r.line()
check(reply.startswith("250"), "pipelined message accepted", reply)
expect([ALICE[0], BOB[0]], m7)

# 11. BDAT with several chunks.
m8 = message("bdat", b"chunk one\r\nchunk two\r\nchunk three\r\n")
parts = [m8[:40], m8[40:77], m8[77:]]
r.send("MAIL FROM:<b@remote.example>\r\nRCPT TO:<%s>\r\n" % BOB[0])
check(r.line().startswith("250") and r.line().startswith("250"), "BDAT transaction start")
for i, p in enumerate(parts):
    last = " LAST" if i == len(parts) - 1 else ""
    r.send(("BDAT %d%s\r\n" % (len(p), last)).encode() + p)
    reply = r.line()
    check(reply.startswith("250"), "BDAT chunk %d" % i, reply)
expect([BOB[0]], m8)

# 12. RSET in the middle: only the second transaction is delivered.
m9 = message("after rset", b"Only bob.\r\n")
r.send("MAIL FROM:<c@remote.example>\r\nRCPT TO:<%s>\r\nRSET\r\n" % ALICE[0])
check([r.line()[:3] for _ in range(3)] == ["250", "250", "250"], "RSET mid-transaction")
r.send("MAIL FROM:<c@remote.example>\r\nRCPT TO:<%s>\r\nDATA\r\n" % BOB[0])
check([r.line()[:3] for _ in range(3)] == ["250", "250", "354"], "transaction after RSET")
r.send(m9 + b".\r\n")
check(r.line().startswith("250"), "message after RSET accepted")
expect([BOB[0]], m9)

# 13. Bare LF (and LF.LF) never ends the data: with the default bare_lf = "normalize" the
# hidden transaction is stored as text of the one message (LFs as CRLF), never run.
r.send("MAIL FROM:<d@remote.example>\r\nRCPT TO:<%s>\r\nDATA\r\n" % ALICE[0])
check([r.line()[:3] for _ in range(3)] == ["250", "250", "354"], "smuggling attempt: transaction")
r.send(b"Subject: smuggle\r\n\r\nline\n.\nMAIL FROM:<evil@remote.example>\r\nmore\r\n.\r\n")
reply = r.line()
check(reply.startswith("250"), "bare LF / LF.LF is content of the one message", reply)
expect([ALICE[0]], b"Subject: smuggle\r\n\r\nline\r\n.\r\nMAIL FROM:<evil@remote.example>\r\nmore\r\n")
reply = r.cmd("NOOP")
check(reply.startswith("250"), "session in sync after it", reply)
r.cmd("QUIT")
r.close()

with open(out_path, "w") as f:
    json.dump(expected, f)
print("smtp delivery passed")
