"""Exact-bytes DAV transcripts, for tests/e2e_http.rs: every file in tests/transcripts/dav/
is replayed in name order against one fresh server (alice's collections start empty), each
exchange over a new TLS connection, and every response must match its `<` lines byte for
byte, after the values the clock decides are replaced by names:

  Date / Last-Modified values   $DATE
  UIDVALIDITYs in ETags, sync tokens and ctags   $V1, $V2, … (in order of appearance)
  DTSTAMP of a VFREEBUSY answer   $NOW

Format (a `#` line is a comment; `===` starts an exchange and names it):

  > METHOD /path HTTP/1.1        the request line and header fields; Host, Authorization
  > Depth: 1                     (Basic, alice) and Content-Length are added unless given
  >                              (`X-No-Auth: 1` sends none); after the empty `>` line, the
  > <body…>                      body, its lines joined by CRLF
  < HTTP/1.1 207 Multi-Status    the response: header fields, an empty `<` line, the body
  < …                            split at LF, CR written as \\r

With RINGPOST_BLESS=1 the `<` lines are rewritten from what the server answers (review the
diff before committing it).
"""
import base64
import glob
import os
import re
import socket
import ssl
import sys

from common import ALICE, args, check

ports, ctx, extra = args()
directory = extra[0]
bless = os.environ.get("RINGPOST_BLESS") == "1"


def exchange(request: bytes) -> bytes:
    sock = socket.create_connection(("127.0.0.1", ports["https"]), timeout=20)
    tls = ctx.wrap_socket(sock, server_hostname="localhost")
    tls.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = tls.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
    length = int(m.group(1)) if m else 0
    head_only = request.startswith(b"HEAD ")
    while not head_only and len(body) < length:
        chunk = tls.recv(65536)
        if not chunk:
            break
        body += chunk
    tls.close()
    return head + b"\r\n\r\n" + body


def build(lines):
    # Names of values the server chose stand for those values in requests too.
    for value, name in sorted(validities.items(), key=lambda v: -len(v[1])):
        lines = [l.replace(name + "-", value + "-") for l in lines]
    head, body, in_body = [], [], False
    for line in lines:
        if in_body:
            body.append(line)
        elif line == "":
            in_body = True
        else:
            head.append(line)
    names = {h.split(":", 1)[0].lower() for h in head[1:]}
    fields = [head[0], *[h for h in head[1:] if h.lower() != "x-no-auth: 1"]]
    if "host" not in names:
        fields.insert(1, "Host: localhost")
    if "authorization" not in names and "x-no-auth" not in names:
        fields.append("Authorization: Basic " + base64.b64encode(("%s:%s" % ALICE).encode()).decode())
    payload = "\r\n".join(body).encode() if in_body and body else b""
    if payload and "content-length" not in names:
        fields.append("Content-Length: %d" % len(payload))
    return ("\r\n".join(fields) + "\r\n\r\n").encode() + payload


validities = {}


def normalize(response: bytes) -> str:
    text = response.decode("utf-8", "replace")
    text = re.sub(r"(?m)^(Date|Last-Modified): .*?\r$", r"\1: $DATE\r", text)
    if "BEGIN:VFREEBUSY" in text:
        text = re.sub(r"DTSTAMP:\d{8}T\d{6}Z", "DTSTAMP:$NOW", text)
    for found in re.findall(r"(?:sync:|&quot;|\"|>)(\d{9,10})-\d+", text):
        validities.setdefault(found, "$V%d" % (len(validities) + 1))
    for value, name in validities.items():
        text = re.sub(r"(?<![0-9])%s-(?=[0-9])" % value, name + "-", text)
    return text


def render(text):
    head, _, body = text.partition("\r\n\r\n")
    lines = ["< " + h for h in head.split("\r\n")] + ["<"]
    if body:
        lines += ["< " + l.replace("\r", "\\r") for l in body.split("\n")]
    return [l.rstrip(" ") if l == "< " else l for l in lines]


def parse_expected(lines):
    out = []
    for l in lines:
        out.append(l[2:] if l.startswith("< ") else "")
    head_end = out.index("") if "" in out else len(out)
    head = "\r\n".join(out[:head_end])
    body = "\n".join(out[head_end + 1:]).replace("\\r", "\r")
    return head + "\r\n\r\n" + body


failures = []
for path in sorted(glob.glob(os.path.join(directory, "*.txt"))):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    output, i = [], 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("==="):
            output.append(line)
            i += 1
            continue
        title = line
        output.append(line)
        i += 1
        request = []
        while i < len(lines) and (lines[i] == ">" or lines[i].startswith("> ")):
            request.append(lines[i][2:] if lines[i].startswith("> ") else "")
            output.append(lines[i])
            i += 1
        expected = []
        while i < len(lines) and (lines[i] == "<" or lines[i].startswith("< ")):
            expected.append(lines[i])
            i += 1
        got = normalize(exchange(build(request)))
        output.extend(render(got))
        if not bless:
            want = parse_expected(expected)
            if got != want:
                failures.append("%s %s\n--- expected\n%s\n--- got\n%s" % (os.path.basename(path), title, want, got))
            else:
                print("ok: %s %s" % (os.path.basename(path), title))
    if bless:
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(output) + "\n")
        print("blessed: " + os.path.basename(path))

check(not failures, "every transcript matches", "\n\n".join(failures))
