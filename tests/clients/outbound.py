"""Helpers for tests/e2e_outbound.rs, with Python's own clients.

  submit PORTS CAFILE USER PASSWORD FROM TO...   submission over implicit TLS with AUTH;
                                                 prints the queue id. A TO may carry RCPT
                                                 parameters after `|` (`a@b|NOTIFY=NEVER`);
                                                 a FROM given as `a@b|RET=HDRS|ENVID=x` MAIL
                                                 parameters
  reports PORTS CAFILE USER PASSWORD             the delivery status notifications in the
                                                 INBOX, parsed by Python's email package, as
                                                 JSON: [{subject, action, recipients: [...],
                                                 statuses: [...], original_subject}]
  subjects PORTS CAFILE USER PASSWORD            the Subject of every INBOX message, as JSON
"""
import email
import imaplib
import json
import re
import smtplib
import sys

from common import HOST, args

ports, ctx, extra = args()
command, user, password, *rest = extra


def inbox():
    imap = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
    imap.login(user, password)
    imap.select("INBOX", readonly=True)
    typ, data = imap.search(None, "ALL")
    messages = []
    for n in data[0].split():
        typ, parts = imap.fetch(n, "(RFC822)")
        messages.append(email.message_from_bytes(parts[0][1]))
    imap.logout()
    return messages


if command == "submit":
    sender, *recipients = rest
    sender, *mail_options = sender.split("|")
    s = smtplib.SMTP_SSL(HOST, ports["smtps"], context=ctx, timeout=20)
    s.login(user, password)
    s.ehlo()
    assert s.has_extn("dsn"), "DSN offered"
    code, reply = s.mail(sender, mail_options)
    assert code == 250, (sender, code, reply)
    for r in recipients:
        address, *options = r.split("|")
        code, reply = s.rcpt(address, options)
        assert code == 250, (r, code, reply)
    recipients = [r.split("|")[0] for r in recipients]
    body = (
        "From: %s\r\nTo: %s\r\nSubject: outbound test\r\nMessage-ID: <outbound-1@example.com>\r\n"
        "\r\nHello from ringpost.\r\n.leading dot\r\n" % (sender, ", ".join(recipients))
    )
    code, reply = s.data(body.encode())
    assert code == 250, (code, reply)
    s.quit()
    print(re.search(r"queued as (\S+)", reply.decode()).group(1))
elif command == "reports":
    out = []
    for m in inbox():
        if m.get_content_type() != "multipart/report":
            continue
        assert m.get_param("report-type") == "delivery-status", m.get_param("report-type")
        parts = m.get_payload()
        status = [p for p in parts if p.get_content_type() == "message/delivery-status"][0]
        # Python parses message/delivery-status as a list of header blocks: the per-message
        # fields, then one block per recipient.
        blocks = status.get_payload()
        recipients = [b["Final-Recipient"].split(";", 1)[1].strip() for b in blocks[1:]]
        actions = sorted({b["Action"] for b in blocks[1:]})
        statuses = [b["Status"] for b in blocks[1:]]
        original = [p for p in parts if p.get_content_type() in ("message/rfc822", "text/rfc822-headers")][0]
        if original.get_content_type() == "message/rfc822":
            original_subject = original.get_payload()[0]["Subject"]
        else:
            original_subject = email.message_from_string(original.get_payload())["Subject"]
        out.append({
            "subject": m["Subject"],
            "from": m["From"],
            "actions": actions,
            "recipients": recipients,
            "statuses": statuses,
            "original_subject": original_subject,
            "original_type": original.get_content_type(),
        })
    print(json.dumps(out))
elif command == "subjects":
    print(json.dumps([m["Subject"] for m in inbox()]))
else:
    raise SystemExit("unknown command " + command)
