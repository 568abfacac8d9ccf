"""Helpers for tests/e2e_credentials.rs: logins with Python's own clients.

  login PROTO USER PASSWORD            PROTO imap|pop3|smtp over implicit TLS (imaplib,
                                       poplib, smtplib); prints "ok" or "refused"
  hold-then-revoke USER PASSWORD BIN CONFIG ID
                                       logs in over IMAP with PASSWORD and selects INBOX, runs
                                       `BIN --config CONFIG user app-password revoke USER ID`,
                                       then sends NOOPs for up to 10 s: prints "ended" once the
                                       server ends the session (BYE or closed), else "alive"
"""
import imaplib
import poplib
import smtplib
import subprocess
import sys
import time

from common import HOST, args

ports, ctx, extra = args()
command, *rest = extra


def login(proto, user, password):
    try:
        if proto == "imap":
            c = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx, timeout=20)
            c.login(user, password)
            c.logout()
        elif proto == "pop3":
            c = poplib.POP3_SSL(HOST, ports["pop3s"], context=ctx, timeout=20)
            c.user(user)
            c.pass_(password)
            c.quit()
        elif proto == "smtp":
            c = smtplib.SMTP_SSL(HOST, ports["smtps"], context=ctx, timeout=20)
            c.login(user, password)
            c.quit()
        else:
            raise SystemExit("unknown protocol " + proto)
    except (imaplib.IMAP4.error, poplib.error_proto, smtplib.SMTPAuthenticationError):
        return "refused"
    return "ok"


if command == "login":
    proto, user, password = rest
    print(login(proto, user, password))
elif command == "hold-then-revoke":
    user, password, binary, config, ident = rest
    c = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx, timeout=20)
    c.login(user, password)
    c.select("INBOX")
    done = subprocess.run(
        [binary, "--config", config, "user", "app-password", "revoke", user, ident],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done
    state = "alive"
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            typ, _ = c.noop()
            if typ != "OK":
                state = "ended"
                break
        except (imaplib.IMAP4.abort, imaplib.IMAP4.error, OSError):
            state = "ended"
            break
        time.sleep(0.2)
    print(state)
else:
    raise SystemExit("unknown command " + command)
