"""Verify a message's DKIM signatures as a receiver does, with dkimpy (Debian's python3-dkim),
taking the keys from the test's dnsmasq. Run with Debian's /usr/bin/python3, which has it.

  dkim_verify.py DNS_PORT FILE...

prints, for each FILE (a message with CRLF or LF line ends), one JSON line: a list with one
{"d", "s", "a", "ok"} object per DKIM-Signature field, in field order. Why a signature
failed goes to stderr (dkimpy's log).
"""
import json
import logging
import sys

import dkim
import dkim.util
import dns.resolver

logging.basicConfig(stream=sys.stderr, level=logging.DEBUG)

resolver = dns.resolver.Resolver(configure=False)
resolver.nameservers = ["127.0.0.1"]
resolver.port = int(sys.argv[1])


def txt(name, timeout=5):
    """dkimpy's DNS hook: the TXT record at `name`, its strings joined (RFC 6376 §3.6.2.2)."""
    if isinstance(name, bytes):
        name = name.decode()
    try:
        answer = resolver.resolve(name, "TXT", lifetime=timeout)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return None
    return b"".join(answer[0].strings)


for path in sys.argv[2:]:
    with open(path, "rb") as f:
        message = f.read()
    if b"\r\n" not in message:
        message = message.replace(b"\n", b"\r\n")
    parsed = dkim.DKIM(message)
    fields = [v for (k, v) in parsed.headers if k.lower() == b"dkim-signature"]
    results = []
    for i, value in enumerate(fields):
        tags = dkim.util.parse_tag_value(value)
        verifier = dkim.DKIM(message, logger=logging.getLogger("dkim"))
        try:
            ok = verifier.verify(idx=i, dnsfunc=txt)
        except dkim.DKIMException as e:
            # (dkimpy raises some failures, such as a body hash mismatch, instead of
            # returning False.)
            logging.getLogger("dkim").info("signature %d: %s", i, e)
            ok = False
        results.append({
            "d": tags[b"d"].decode(),
            "s": tags[b"s"].decode(),
            "a": tags[b"a"].decode(),
            "ok": bool(ok),
        })
    print(json.dumps(results))
