"""Helpers for tests/e2e_inbound_auth.rs, with Python's smtplib.

  forge PORTS CAFILE MAILFROM FROM RCPT   one unsigned message to the inbound listener
                                          (port 25's stand-in), envelope sender MAILFROM,
                                          `From: FROM`, carrying a forged
                                          `Authentication-Results: localhost; …` claiming
                                          every check passed; prints the reply to the end of
                                          data as JSON [code, text]
"""
import json
import smtplib

from common import HOST, args

ports, ctx, extra = args()
command, *rest = extra

if command == "forge":
    mail_from, from_header, rcpt = rest
    message = (
        "Authentication-Results: localhost; spf=pass smtp.mailfrom=%s;\r\n"
        "\tdkim=pass header.d=example.com; dmarc=pass header.from=example.com\r\n"
        "From: The Boss <%s>\r\n"
        "To: %s\r\n"
        "Subject: urgent wire transfer\r\n"
        "Message-ID: <forged.1@spammer.test>\r\n"
        "\r\n"
        "Please pay the attached invoice today.\r\n" % (mail_from, from_header, rcpt)
    ).encode()
    s = smtplib.SMTP(HOST, ports["smtp"], timeout=60)
    s.ehlo("mail.spammer.test")
    code, reply = s.mail(mail_from)
    assert code == 250, (code, reply)
    code, reply = s.rcpt(rcpt)
    assert code == 250, (code, reply)
    try:
        code, reply = s.data(message)
    except smtplib.SMTPDataError as e:
        code, reply = e.smtp_code, e.smtp_error
    s.quit()
    print(json.dumps([code, reply.decode()]))
else:
    raise SystemExit("unknown command " + command)
