"""Helpers for tests/e2e_outbound.rs, with Python's own clients.

  submit PORTS CAFILE USER PASSWORD FROM TO...   submission over implicit TLS with AUTH;
                                                 prints the queue id. A TO may carry RCPT
                                                 parameters after `|` (`a@b|NOTIFY=NEVER`);
                                                 a FROM given as `a@b|RET=HDRS|ENVID=x` MAIL
                                                 parameters
  submit-dkim PORTS CAFILE USER PASSWORD FROM TO...
                                                 the same with a message that tests DKIM
                                                 canonicalization: folded and oddly spaced
                                                 fields, trailing blanks, UTF-8, empty lines
                                                 at the end
  reports PORTS CAFILE USER PASSWORD             the delivery status notifications in the
                                                 INBOX, parsed by Python's email package, as
                                                 JSON: [{subject, action, recipients: [...],
                                                 statuses: [...], original_subject}]
  subjects PORTS CAFILE USER PASSWORD            the Subject of every INBOX message, as JSON
  raw PORTS CAFILE USER PASSWORD                 every INBOX message's bytes, as a JSON list
                                                 of base64 strings
"""
import base64
import email
import imaplib
import json
import re
import smtplib
import sys

from common import HOST, args

ports, ctx, extra = args()
command, user, password, *rest = extra


def raw_inbox():
    imap = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
    imap.login(user, password)
    imap.select("INBOX", readonly=True)
    typ, data = imap.search(None, "ALL")
    messages = []
    for n in data[0].split():
        typ, parts = imap.fetch(n, "(RFC822)")
        messages.append(parts[0][1])
    imap.logout()
    return messages


def inbox():
    return [email.message_from_bytes(m) for m in raw_inbox()]


def submit(sender, recipients, body):
    """`sender` and each of `recipients` may carry parameters after `|`."""
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
    code, reply = s.data(body)
    assert code == 250, (code, reply)
    s.quit()
    print(re.search(r"queued as (\S+)", reply.decode()).group(1))


if command == "submit":
    sender, *recipients = rest
    addresses = [r.split("|")[0] for r in [sender] + recipients]
    body = (
        "From: %s\r\nTo: %s\r\nSubject: outbound test\r\nMessage-ID: <outbound-1@example.com>\r\n"
        "\r\nHello from ringpost.\r\n.leading dot\r\n" % (addresses[0], ", ".join(addresses[1:]))
    )
    submit(sender, recipients, body.encode())
elif command == "submit-dkim":
    sender, *recipients = rest
    body = (
        "From: Sender Name <%s>\r\n"
        "To: %s\r\n"
        "Cc:   \t copy@remote2.test\r\n"
        "Subject: signed  test,\r\n\t folded over   two lines \r\n"
        "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
        "Message-ID: <dkim-%s>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "X-Unsigned: anything\r\n"
        "\r\n"
        "Hello  from\tringpost, gr\u00fc\u00dfe.   \r\n"
        ".leading dot\r\n"
        "\r\n"
        "\r\n" % (sender, ", ".join(recipients), sender)
    )
    submit(sender, recipients, body.encode("utf-8"))
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
elif command == "raw":
    print(json.dumps([base64.b64encode(m).decode() for m in raw_inbox()]))
else:
    raise SystemExit("unknown command " + command)
