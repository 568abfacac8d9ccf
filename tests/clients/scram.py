"""Helpers for tests/e2e_scram.rs: a SCRAM-SHA-256 client written from RFC 5802 (hashlib,
hmac), driving Python's imaplib and smtplib and a raw POP3 client over implicit TLS.

  login PROTO USER PASSWORD   PROTO imap|pop3|smtp; prints JSON {"result": "ok"|"refused",
                              "server_verified": whether the server's signature checked out,
                              "caps": the mechanisms advertised}
"""
import base64
import hashlib
import hmac
import imaplib
import json
import os
import poplib
import smtplib

from common import HOST, args

ports, ctx, extra = args()
command, *rest = extra


class Scram:
    def __init__(self, user, password):
        self.user, self.password = user, password
        self.nonce = base64.b64encode(os.urandom(18)).decode()
        self.first_bare = "n=%s,r=%s" % (user.replace("=", "=3D").replace(",", "=2C"), self.nonce)
        self.verified = False
        self.step = 0

    def answer(self, challenge):
        """The next client message for `challenge` (bytes; the first call gets b"")."""
        self.step += 1
        if self.step == 1:
            return "n,," + self.first_bare
        if self.step == 2:
            server_first = challenge.decode()
            fields = dict(f.split("=", 1) for f in server_first.split(","))
            assert fields["r"].startswith(self.nonce), server_first
            salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(),
                                         base64.b64decode(fields["s"]), int(fields["i"]))
            client_key = hmac.new(salted, b"Client Key", "sha256").digest()
            stored_key = hashlib.sha256(client_key).digest()
            without_proof = "c=biws,r=" + fields["r"]
            auth = ",".join([self.first_bare, server_first, without_proof]).encode()
            signature = hmac.new(stored_key, auth, "sha256").digest()
            proof = bytes(a ^ b for a, b in zip(client_key, signature))
            server_key = hmac.new(salted, b"Server Key", "sha256").digest()
            self.expected = base64.b64encode(hmac.new(server_key, auth, "sha256").digest()).decode()
            return without_proof + ",p=" + base64.b64encode(proof).decode()
        self.verified = challenge.decode() == "v=" + self.expected
        return ""


def login(proto, user, password):
    s = Scram(user, password)
    if proto == "imap":
        c = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx, timeout=20)
        caps = [x for x in c.capabilities if x.startswith("AUTH=")]
        try:
            c.authenticate("SCRAM-SHA-256", lambda ch: s.answer(ch))
            c.logout()
            return "ok", s.verified, caps
        except imaplib.IMAP4.error:
            return "refused", s.verified, caps
    if proto == "smtp":
        c = smtplib.SMTP_SSL(HOST, ports["smtps"], context=ctx, timeout=20)
        c.ehlo()
        caps = c.esmtp_features.get("auth", "").split()
        try:
            c.auth("SCRAM-SHA-256", lambda ch=None: s.answer(ch or b""), initial_response_ok=True)
            result = "ok"
        except smtplib.SMTPAuthenticationError:
            result = "refused"
        c.close()
        return result, s.verified, caps
    if proto == "pop3":
        c = poplib.POP3_SSL(HOST, ports["pop3s"], context=ctx, timeout=20)
        caps = c.capa().get("SASL", [])
        c._putcmd("AUTH SCRAM-SHA-256 " + base64.b64encode(s.answer(b"").encode()).decode())
        while True:
            line = c._getline()[0].decode()
            if not line.startswith("+ "):
                break
            c._putcmd(base64.b64encode(s.answer(base64.b64decode(line[2:])).encode()).decode())
        result = "ok" if line.startswith("+OK") else "refused"
        c._putcmd("QUIT")
        return result, s.verified, caps
    raise SystemExit("unknown protocol " + proto)


if command == "login":
    proto, user, password = rest
    result, verified, caps = login(proto, user, password)
    print(json.dumps({"result": result, "server_verified": verified, "caps": caps}))
else:
    raise SystemExit("unknown command " + command)
