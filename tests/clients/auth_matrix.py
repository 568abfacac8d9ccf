"""Every listener x every credential form: refused before TLS, accepted after it.

Uses Python's own imaplib, poplib and smtplib (real clients) where they can express the
exchange, and a raw line client where they cannot (SASL-IR, refusals they pre-empt)."""
import imaplib
import poplib
import smtplib

from common import ALICE, BOB, HOST, Raw, args, b64, check, plain_ir

ports, ctx, extra = args()
user, pw = ALICE
# `oauth`: the server has [auth.oauth]; bearer tokens are refused before TLS like passwords.
OAUTH = "oauth" in extra
bearer = b64("n,a=%s,\x01auth=Bearer abc.def.ghi\x01\x01" % user)
xoauth2 = b64("user=%s\x01auth=Bearer abc.def.ghi\x01\x01" % user)
scram_first = b64("n,,n=%s,r=0123456789abcdef" % user)


# ---------------------------------------------------------------- IMAP
r = Raw(ports["imap"], ctx)
g = r.line()
check(g.startswith("* OK"), "imap greeting", g)
r.send("c1 CAPABILITY\r\n")
lines = r.until("c1 ")
cap = next(l for l in lines if l.startswith("* CAPABILITY"))
check("STARTTLS" in cap.split() and "LOGINDISABLED" in cap.split(), "imap 143 offers STARTTLS + LOGINDISABLED", cap)
check("AUTH=" not in cap, "imap 143 offers no AUTH= before TLS", cap)
check(lines[-1].startswith("c1 OK"), "imap CAPABILITY ok", lines[-1])
for tag, command in [
    ("l1", 'LOGIN %s "%s"' % (user, pw)),
    ("l2", "AUTHENTICATE PLAIN " + plain_ir(user, pw)),
    ("l3", "AUTHENTICATE PLAIN"),
    ("l4", "AUTHENTICATE LOGIN"),
    ("l5", "AUTHENTICATE LOGIN " + b64(user)),
    ("l7", "AUTHENTICATE OAUTHBEARER " + bearer),
    ("l8", "AUTHENTICATE XOAUTH2 " + xoauth2),
    ("l9", "AUTHENTICATE OAUTHBEARER"),
    ("la", "AUTHENTICATE SCRAM-SHA-256 " + scram_first),
    ("lb", "AUTHENTICATE SCRAM-SHA-256"),
]:
    reply = r.cmd("%s %s" % (tag, command))
    check(reply.startswith(tag + " NO") or reply.startswith(tag + " BAD"), "imap 143 refuses %s before TLS" % command.split()[0:2], reply)
    check("AUTHENTICATIONFAILED" not in reply, "imap 143 refusal is not a password check", reply)
# LOGIN with a synchronizing literal: refused without a continuation request.
reply = r.cmd("l6 LOGIN {%d}" % len(user))
check(reply.startswith("l6 NO") or reply.startswith("l6 BAD"), "imap 143 refuses LOGIN literal before TLS", reply)
r.close()

# imaplib: STARTTLS then LOGIN.
m = imaplib.IMAP4(HOST, ports["imap"])
m.starttls(ssl_context=ctx)
check("STARTTLS" not in m.capabilities and "AUTH=PLAIN" in m.capabilities and "AUTH=LOGIN" in m.capabilities,
      "imap capabilities after STARTTLS", m.capabilities)
typ, data = m.login(user, pw)
check(typ == "OK", "imaplib LOGIN after STARTTLS", data)
m.logout()

# imaplib: STARTTLS then AUTHENTICATE PLAIN (imaplib waits for the empty challenge: no IR).
m = imaplib.IMAP4(HOST, ports["imap"])
m.starttls(ssl_context=ctx)
typ, data = m.authenticate("PLAIN", lambda _: b"\0" + user.encode() + b"\0" + pw.encode())
check(typ == "OK", "imaplib AUTHENTICATE PLAIN after STARTTLS", data)
m.logout()


def login_answers(challenge):
    return {b"Username:": user.encode(), b"Password:": pw.encode()}[challenge]


m = imaplib.IMAP4(HOST, ports["imap"])
m.starttls(ssl_context=ctx)
typ, data = m.authenticate("LOGIN", login_answers)
check(typ == "OK", "imaplib AUTHENTICATE LOGIN after STARTTLS", data)
m.logout()

# Raw over STARTTLS: AUTHENTICATE PLAIN with SASL-IR.
r = Raw(ports["imap"], ctx)
r.line()
check(r.cmd("s1 STARTTLS").startswith("s1 OK"), "imap STARTTLS ok")
r.starttls()
reply = r.cmd("s2 AUTHENTICATE PLAIN " + plain_ir(user, pw))
check(reply.startswith("s2 OK"), "imap AUTHENTICATE PLAIN with SASL-IR after STARTTLS", reply)
r.close()

# IMAPS (implicit): every form.
for form in ["login", "plain", "plain-ir", "login-mech"]:
    m = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
    check("AUTH=PLAIN" in m.capabilities and "STARTTLS" not in m.capabilities, "imaps capabilities", m.capabilities)
    if form == "login":
        typ, data = m.login(user, pw)
    elif form == "plain":
        typ, data = m.authenticate("PLAIN", lambda _: b"\0" + user.encode() + b"\0" + pw.encode())
    elif form == "login-mech":
        typ, data = m.authenticate("LOGIN", login_answers)
    else:
        typ, data = m._simple_command("AUTHENTICATE", "PLAIN", plain_ir(user, pw))
    check(typ == "OK", "imaps %s" % form, data)
    m.logout()

# Wrong password and unknown user: the same reply; case-insensitive user names.
replies = []
for u, p in [(user, "wrong"), ("nobody@example.com", pw), ("nobody@elsewhere.org", pw)]:
    r = Raw(ports["imaps"], ctx, implicit=True)
    r.line()
    reply = r.cmd('f1 LOGIN "%s" "%s"' % (u, p))
    replies.append(reply)
    r.close()
check(replies[0].startswith("f1 NO") and len(set(replies)) == 1, "imap: wrong password == unknown user", replies)
m = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
typ, data = m.login("ALICE@EXAMPLE.COM", pw)
check(typ == "OK", "imap: ALICE@EXAMPLE.COM logs in", data)
m.logout()
m = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
typ, data = m.login(BOB[0], BOB[1])
check(typ == "OK", "imap: bob logs in", data)
m.logout()

# ---------------------------------------------------------------- POP3
p = poplib.POP3(HOST, ports["pop3"])
capa = p.capa()
check("STLS" in capa and "USER" not in capa and "SASL" not in capa, "pop3 110 CAPA before STLS", capa)
for cmd in ["USER " + user, "PASS " + pw, "AUTH PLAIN " + plain_ir(user, pw), "AUTH PLAIN", "AUTH LOGIN",
            "AUTH OAUTHBEARER " + bearer, "AUTH XOAUTH2 " + xoauth2, "AUTH SCRAM-SHA-256 " + scram_first]:
    try:
        resp = p._shortcmd(cmd)
        check(False, "pop3 110 refuses %s before STLS" % cmd.split()[0], resp)
    except poplib.error_proto as e:
        check(str(e).startswith("b'-ERR"), "pop3 110 refuses %s before STLS" % " ".join(cmd.split()[:2]), e)
p.stls(context=ctx)
capa = p.capa()
check("USER" in capa and "SASL" in capa and "STLS" not in capa, "pop3 CAPA after STLS", capa)
check(p.user(user).startswith(b"+OK"), "pop3 USER after STLS")
check(p.pass_(pw).startswith(b"+OK"), "pop3 PASS after STLS")
p.quit()


def pop3_auth(port, implicit, form, u=user, password=pw):
    if implicit:
        p = poplib.POP3_SSL(HOST, port, context=ctx)
    else:
        p = poplib.POP3(HOST, port)
        p.stls(context=ctx)
    try:
        if form == "userpass":
            p.user(u)
            return p.pass_(password)
        if form == "plain-ir":
            return p._shortcmd("AUTH PLAIN " + plain_ir(u, password))
        if form == "plain":
            p._putcmd("AUTH PLAIN")
            first = p._getline()[0]
            assert first.startswith(b"+"), first
            return p._shortcmd(plain_ir(u, password))
        if form == "login":
            p._putcmd("AUTH LOGIN")
            c1 = p._getline()[0]
            assert c1 == b"+ " + b64("Username:").encode(), c1
            p._putcmd(b64(u))
            c2 = p._getline()[0]
            assert c2 == b"+ " + b64("Password:").encode(), c2
            return p._shortcmd(b64(password))
    except poplib.error_proto as e:
        return str(e)
    finally:
        try:
            p.quit()
        except Exception:
            pass


for port, implicit in [(ports["pop3"], False), (ports["pop3s"], True)]:
    for form in ["userpass", "plain-ir", "plain", "login"]:
        resp = pop3_auth(port, implicit, form)
        check(isinstance(resp, bytes) and resp.startswith(b"+OK"), "pop3 %s %s after TLS" % (port, form), resp)
bad = [pop3_auth(ports["pop3s"], True, "userpass", user, "wrong"),
       pop3_auth(ports["pop3s"], True, "userpass", "nobody@example.com", pw)]
check(bad[0].startswith("b'-ERR") and bad[0] == bad[1], "pop3: wrong password == unknown user", bad)
resp = pop3_auth(ports["pop3s"], True, "userpass", "Alice@Example.COM", pw)
check(isinstance(resp, bytes) and resp.startswith(b"+OK"), "pop3: Alice@Example.COM logs in", resp)

# ---------------------------------------------------------------- SMTP submission
s = smtplib.SMTP(HOST, ports["submission"])
s.ehlo("client.example.org")
check(s.has_extn("starttls") and not s.has_extn("auth"), "submission 587 EHLO before TLS", s.esmtp_features)
for cmd in ["AUTH PLAIN " + plain_ir(user, pw), "AUTH PLAIN", "AUTH LOGIN",
            "AUTH OAUTHBEARER " + bearer, "AUTH XOAUTH2 " + xoauth2, "AUTH SCRAM-SHA-256 " + scram_first]:
    code, msg = s.docmd(cmd)
    check(code == 530 and msg.startswith(b"5.7.0"), "submission 587 refuses %s before TLS" % cmd[:10], (code, msg))
code, msg = s.docmd("MAIL FROM:<%s>" % user)
check(code == 530, "submission 587 refuses MAIL before AUTH", (code, msg))
s.starttls(context=ctx)
s.ehlo("client.example.org")
check(s.has_extn("auth") and not s.has_extn("starttls"), "submission EHLO after STARTTLS", s.esmtp_features)
check(set(s.esmtp_features["auth"].upper().split()) >= {"PLAIN", "LOGIN"}, "submission AUTH PLAIN LOGIN", s.esmtp_features)
check(("OAUTHBEARER" in s.esmtp_features["auth"].upper()) == OAUTH, "submission offers OAUTHBEARER after TLS only when configured", s.esmtp_features)
s.quit()


def smtp_auth(port, implicit, form, u=user, password=pw):
    if implicit:
        s = smtplib.SMTP_SSL(HOST, port, context=ctx)
    else:
        s = smtplib.SMTP(HOST, port)
        s.starttls(context=ctx)
    s.ehlo("client.example.org")
    s.user, s.password = u, password
    try:
        if form == "plain-ir":
            return s.auth("PLAIN", s.auth_plain, initial_response_ok=True)
        if form == "plain":
            return s.auth("PLAIN", s.auth_plain, initial_response_ok=False)
        if form == "login":
            return s.auth("LOGIN", s.auth_login, initial_response_ok=False)
        if form == "login-ir":
            return s.auth("LOGIN", s.auth_login, initial_response_ok=True)
    except smtplib.SMTPAuthenticationError as e:
        return (e.smtp_code, e.smtp_error)
    finally:
        s.quit()


for port, implicit in [(ports["submission"], False), (ports["smtps"], True)]:
    for form in ["plain-ir", "plain", "login", "login-ir"]:
        code, msg = smtp_auth(port, implicit, form)
        check(code == 235, "smtp %s AUTH %s after TLS" % (port, form), (code, msg))
bad = [smtp_auth(ports["smtps"], True, "plain-ir", user, "wrong"),
       smtp_auth(ports["smtps"], True, "plain-ir", "nobody@example.com", pw)]
check(bad[0][0] == 535 and bad[0] == bad[1], "smtp: wrong password == unknown user", bad)
code, _ = smtp_auth(ports["smtps"], True, "plain-ir", "ALICE@EXAMPLE.COM", pw)
check(code == 235, "smtp: ALICE@EXAMPLE.COM authenticates")

# ---------------------------------------------------------------- inbound SMTP: never AUTH
s = smtplib.SMTP(HOST, ports["smtp"])
s.ehlo("mx.example.org")
check(not s.has_extn("auth") and s.has_extn("starttls"), "inbound EHLO: STARTTLS, no AUTH", s.esmtp_features)
code, msg = s.docmd("AUTH PLAIN " + plain_ir(user, pw))
check(500 <= code < 600, "inbound refuses AUTH before TLS", (code, msg))
s.starttls(context=ctx)
s.ehlo("mx.example.org")
check(not s.has_extn("auth"), "inbound EHLO after STARTTLS: still no AUTH", s.esmtp_features)
code, msg = s.docmd("AUTH PLAIN " + plain_ir(user, pw))
check(500 <= code < 600, "inbound refuses AUTH after TLS", (code, msg))
s.quit()
print("auth matrix passed")
