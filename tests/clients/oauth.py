"""Helpers for tests/e2e_oauth.rs: bearer-token logins with Python's own clients.

  login PROTO MECH USER TOKEN   PROTO imap|pop3|smtp over implicit TLS, MECH OAUTHBEARER or
                                XOAUTH2; prints JSON {"result": "ok"|"refused", "error":
                                the decoded error challenge the server sent, or null,
                                "caps": the mechanisms the server advertised}
"""
import base64
import imaplib
import json
import poplib
import smtplib

from common import HOST, args

ports, ctx, extra = args()
command, *rest = extra


def message(mech, user, token):
    if mech == "OAUTHBEARER":
        return "n,a=%s,\x01host=%s\x01port=993\x01auth=Bearer %s\x01\x01" % (user, HOST, token)
    return "user=%s\x01auth=Bearer %s\x01\x01" % (user, token)


def login(proto, mech, user, token):
    msg = message(mech, user, token)
    seen = {"error": None}

    def answer(challenge):
        # The first call gives the message; a second means an error challenge: note it and
        # answer with RFC 7628's single 0x01 (XOAUTH2 clients answer with nothing).
        if challenge:
            seen["error"] = json.loads(challenge if isinstance(challenge, (bytes, str)) and challenge else "{}")
            return "\x01" if mech == "OAUTHBEARER" else ""
        return msg

    if proto == "imap":
        c = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx, timeout=20)
        caps = [x for x in c.capabilities if x.startswith("AUTH=")]
        try:
            c.authenticate(mech, lambda ch: answer(ch))
            result = "ok"
            c.logout()
        except imaplib.IMAP4.error:
            result = "refused"
        return result, seen["error"], caps
    if proto == "smtp":
        c = smtplib.SMTP_SSL(HOST, ports["smtps"], context=ctx, timeout=20)
        c.ehlo()
        caps = c.esmtp_features.get("auth", "").split()
        calls = {"n": 0}

        def obj(challenge=None):
            calls["n"] += 1
            if calls["n"] == 1:
                return msg
            seen["error"] = json.loads(challenge) if challenge else {}
            return "\x01" if mech == "OAUTHBEARER" else ""

        try:
            c.auth(mech, obj, initial_response_ok=True)
            result = "ok"
        except smtplib.SMTPAuthenticationError:
            result = "refused"
        c.close()
        return result, seen["error"], caps
    if proto == "pop3":
        c = poplib.POP3_SSL(HOST, ports["pop3s"], context=ctx, timeout=20)
        caps = c.capa().get("SASL", [])
        ir = base64.b64encode(msg.encode()).decode()
        c._putcmd("AUTH %s %s" % (mech, ir))
        line = c._getline()[0].decode()
        if line.startswith("+ "):
            seen["error"] = json.loads(base64.b64decode(line[2:]) or b"{}")
            c._putcmd(base64.b64encode(b"\x01").decode())
            line = c._getline()[0].decode()
        result = "ok" if line.startswith("+OK") else "refused"
        c._putcmd("QUIT")
        return result, seen["error"], caps
    raise SystemExit("unknown protocol " + proto)


if command == "login":
    proto, mech, user, token = rest
    result, error, caps = login(proto, mech, user, token)
    print(json.dumps({"result": result, "error": error, "caps": caps}))
else:
    raise SystemExit("unknown command " + command)
