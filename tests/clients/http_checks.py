"""HTTP/1.1 checks with Python's own clients, for tests/e2e_http.rs.

  wire          raw TLS socket: pipelining, keep-alive, HEAD, 100-continue, chunked bodies,
                limits (413, 414, 431), errors that close (400, 505) and those that do not
                (404, 405), a slow request (408)
  discovery     Thunderbird autoconfig (fields as Thunderbird reads them), Outlook
                autodiscover POX, both with http.client; autoconfig on plain HTTP too
  metrics LEAST MOST FAILED
                /metrics parsed by prometheus_client: the IMAP logins counted are between
                LEAST and MOST (the load generator's count, and its sessions cut off at the
                end), the failed ones FAILED
"""
import http.client
import socket
import ssl
import time
import xml.etree.ElementTree as ET

from common import ALICE, HOST, args, check

ports, ctx, extra = args()
command, *rest = extra


def tls_socket():
    s = socket.create_connection((HOST, ports["https"]), timeout=10)
    return ctx.wrap_socket(s, server_hostname="localhost")


def read_response(s, buf=b"", head=False):
    """One response from s: (status, headers dict, body, rest of buffer). A response to HEAD
    (`head`) has no body whatever its Content-Length says."""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError("closed; buffered %r" % buf)
        buf += chunk
    fields, buf = buf.split(b"\r\n\r\n", 1)
    lines = fields.decode().split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    n = 0 if head else int(headers.get("content-length", "0"))
    while len(buf) < n:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError("closed in body")
        buf += chunk
    return status, headers, buf[:n], buf[n:]


def closed(s):
    try:
        s.settimeout(5)
        return s.recv(1) == b""
    except (ConnectionResetError, ssl.SSLError):
        return True
    except socket.timeout:
        return False


AUTOCONFIG = "/.well-known/autoconfig/mail/config-v1.1.xml"


def wire():
    s = tls_socket()
    check(s.selected_alpn_protocol() in (None, "http/1.1"), "ALPN")
    # Three pipelined requests in one write: three responses, in order.
    s.sendall(
        b"GET /style.css HTTP/1.1\r\nHost: localhost\r\n\r\n"
        b"HEAD /style.css HTTP/1.1\r\nHost: localhost\r\n\r\n"
        b"GET /nowhere HTTP/1.1\r\nHost: localhost\r\n\r\n"
    )
    st, h, body, buf = read_response(s)
    check(st == 200 and h["content-type"].startswith("text/css") and len(body) > 100, "pipelined 1", (st, h, len(body)))
    check("date" in h and h["date"].endswith("GMT"), "Date field", h)
    # HEAD: the GET's fields, no body.
    st, h, body, buf = read_response(s, buf, head=True)
    check(st == 200 and int(h["content-length"]) > 100, "pipelined HEAD", h)
    # The HEAD response had no body: the next one starts right after its head.
    st, h, body, buf = read_response(s, buf)
    check(st == 404, "pipelined 3: 404 and the connection stays", st)
    s.sendall(b"DELETE /style.css HTTP/1.1\r\nHost: localhost\r\n\r\n")
    st, h, body, buf = read_response(s, buf)
    check(st == 405 and "GET" in h["allow"], "405 with Allow", h)
    # Expect: 100-continue, then a chunked body (autodiscover takes a POST).
    req = (b'<?xml version="1.0"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/'
           b'autodiscover/outlook/requestschema/2006"><Request><EMailAddress>alice@example.com'
           b'</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/'
           b'autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>')
    s.sendall(b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: localhost\r\n"
              b"Transfer-Encoding: chunked\r\nExpect: 100-continue\r\nContent-Type: text/xml\r\n\r\n")
    cont = b""
    while b"\r\n\r\n" not in cont:
        cont += s.recv(1)
    check(cont == b"HTTP/1.1 100 Continue\r\n\r\n", "100 Continue", cont)
    half = len(req) // 2
    s.sendall(b"%x\r\n%s\r\n%x;ext=1\r\n%s\r\n0\r\nX-Trailer: t\r\n\r\n" % (half, req[:half], len(req) - half, req[half:]))
    st, h, body, buf = read_response(s, buf)
    check(st == 200 and b"<Server>localhost</Server>" in body, "chunked autodiscover", body[:400])
    # Connection: close is honoured.
    s.sendall(b"GET /style.css HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    st, h, body, buf = read_response(s, buf)
    check(st == 200 and h.get("connection") == "close" and closed(s), "Connection: close")

    def refused(request, status, stays):
        s = tls_socket()
        s.sendall(request)
        st, h, body, rest = read_response(s)
        check(st == status, "%d for %r" % (status, request[:40]), (st, body))
        if stays:
            s.sendall(b"GET /style.css HTTP/1.1\r\nHost: localhost\r\n\r\n")
            st, _, _, _ = read_response(s, rest)
            check(st == 200, "connection usable after %d" % status, st)
        else:
            check(closed(s), "connection closed after %d" % status)
        s.close()

    refused(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n", 414, False)
    refused(b"GET / HTTP/1.1\r\nHost: localhost\r\n" + b"X-Big: " + b"b" * 20000 + b"\r\n\r\n", 431, False)
    refused(b"GET / HTTP/1.1\r\nHost: localhost\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(100)) + b"\r\n", 431, False)
    refused(b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: localhost\r\nContent-Length: 999999999\r\n\r\n", 413, False)
    # The 413 comes before the body is read. A client that sent part of its body before it
    # looked (most do) must still read the answer: the server closes in stages, reading and
    # dropping what is in flight, so no reset destroys the response (RFC 9112 §9.6).
    s = tls_socket()
    s.sendall(b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: localhost\r\n"
              b"Content-Length: 99999999\r\n\r\n" + b"x" * 60000)
    time.sleep(0.1)
    s.sendall(b"y" * 60000)
    time.sleep(0.5)
    st, h, body, _ = read_response(s)
    check(st == 413 and closed(s), "413 read after sending part of the body", st)
    refused(b"GET / HTTP/1.1\r\n\r\n", 400, False)
    refused(b"GET / HTTP/3.0\r\nHost: localhost\r\n\r\n", 505, False)
    refused(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400, False)
    refused(b"GET /nowhere HTTP/1.1\r\nHost: localhost\r\n\r\n", 404, True)
    refused(b"BREW /style.css HTTP/1.1\r\nHost: localhost\r\n\r\n", 501, True)
    refused(b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: localhost\r\n\r\n", 411, True)
    refused(b"PUT /signin HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n", 405, True)
    # A request that never completes gets 408 after [http] request_secs (2 in this test).
    s = tls_socket()
    s.sendall(b"GET /style.css HTTP/1.1\r\nHost: loc")
    started = time.monotonic()
    st, h, body, _ = read_response(s)
    check(st == 408 and closed(s), "slow request: 408", st)
    check(time.monotonic() - started < 10, "within the request deadline")
    # HTTP/1.0 closes unless it asks for keep-alive.
    s = tls_socket()
    s.sendall(b"GET /style.css HTTP/1.0\r\n\r\n")
    st, h, body, _ = read_response(s)
    check(st == 200 and closed(s), "HTTP/1.0 closes")


def discovery():
    ns = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"
    for path in (AUTOCONFIG + "?emailaddress=alice%40example.com", "/mail/config-v1.1.xml?emailaddress=alice@example.com"):
        conn = http.client.HTTPSConnection("localhost", ports["https"], context=ctx, timeout=20)
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        check(r.status == 200 and "xml" in r.headers["Content-Type"], "autoconfig " + path, r.status)
        root = ET.fromstring(body)
        check(root.tag == "clientConfig" and root.get("version") == "1.1", "clientConfig 1.1")
        provider = root.find("emailProvider")
        check(provider.get("id") == "example.com" and provider.findtext("domain") == "example.com", "provider")
        incoming = provider.findall("incomingServer")
        seen = {(i.get("type"), int(i.findtext("port")), i.findtext("socketType")) for i in incoming}
        check(("imap", ports["imaps"], "SSL") in seen and ("imap", ports["imap"], "STARTTLS") in seen, "IMAP entries", seen)
        check(("pop3", ports["pop3s"], "SSL") in seen, "POP3 entry", seen)
        check(incoming[0].findtext("socketType") == "SSL" and incoming[0].get("type") == "imap", "IMAP SSL first")
        for server in incoming + provider.findall("outgoingServer"):
            check(server.findtext("hostname") == "localhost", "hostname")
            # Given the address, the user name is it in lower case (seed 002), not the
            # placeholder Thunderbird would fill in as typed.
            check(server.findtext("username") == "alice@example.com", "username", server.findtext("username"))
            check(server.findtext("authentication") == "password-cleartext", "authentication")
        out = {(o.get("type"), int(o.findtext("port")), o.findtext("socketType")) for o in provider.findall("outgoingServer")}
        check(("smtp", ports["smtps"], "SSL") in out and ("smtp", ports["submission"], "STARTTLS") in out, "SMTP entries", out)
        check(all(p != ports["smtp"] for _, p, _ in out), "port 25 never offered to clients")
    # Plain HTTP serves autoconfig too (it holds no secret); everything else redirects.
    conn = http.client.HTTPConnection(HOST, ports["http"], timeout=20)
    conn.request("GET", AUTOCONFIG)
    r = conn.getresponse()
    check(r.status == 200 and b"clientConfig" in r.read(), "autoconfig over plain HTTP")
    # A domain that is not ours: nothing to say.
    conn = http.client.HTTPSConnection("localhost", ports["https"], context=ctx, timeout=20)
    conn.request("GET", AUTOCONFIG + "?emailaddress=x%40elsewhere.net")
    r = conn.getresponse()
    r.read()
    check(r.status == 404, "foreign domain: 404", r.status)
    # Outlook's POX autodiscover.
    req = ('<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/'
           'exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>Alice@Example.com'
           '</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/'
           'outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>')
    conn.request("POST", "/Autodiscover/Autodiscover.xml", body=req, headers={"Content-Type": "text/xml"})
    r = conn.getresponse()
    raw = r.read()
    root = ET.fromstring(raw)
    account = root.find(".//" + ns + "Account")
    check(account is not None and account.findtext(ns + "Action") == "settings", "autodiscover account")
    # Outlook takes the first entry of each type: the SSL one.
    protocols = {}
    for p in account.findall(ns + "Protocol"):
        protocols.setdefault(p.findtext(ns + "Type"), p)
    check(protocols["IMAP"].findtext(ns + "Port") == str(ports["imaps"]) and protocols["IMAP"].findtext(ns + "SSL") == "on", "autodiscover IMAP", raw)
    check(protocols["IMAP"].findtext(ns + "LoginName") == "alice@example.com", "autodiscover login name in lower case")
    check(protocols["SMTP"].findtext(ns + "Port") == str(ports["smtps"]), "autodiscover SMTP")
    conn.request("POST", "/autodiscover/autodiscover.xml", body="<nonsense", headers={"Content-Type": "text/xml"})
    r = conn.getresponse()
    body = r.read()
    check(r.status == 200 and b"<ErrorCode>600</ErrorCode>" in body, "bad autodiscover request: error 600", body)


def metrics(least, most, logins_failed):
    from prometheus_client.parser import text_string_to_metric_families
    import smtplib

    # One message submitted (as bob, to alice): a delivery, and store writes.
    with smtplib.SMTP_SSL(HOST, ports["smtps"], context=ctx, timeout=20) as smtp:
        smtp.login("bob@example.com", "bob-pass-1")
        smtp.sendmail("bob@example.com", [ALICE[0]], b"Subject: metrics\r\n\r\nhello\r\n")
    conn = http.client.HTTPConnection(HOST, ports["metrics"], timeout=20)
    conn.request("GET", "/metrics")
    r = conn.getresponse()
    text = r.read().decode()
    check(r.status == 200 and r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), "metrics", r.status)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    logins = {(s.labels["protocol"], s.labels["result"]): s.value for s in families["ringpost_logins"].samples}
    logins_ok = logins[("imap", "succeeded")]
    check(least <= logins_ok <= most, "IMAP logins counted (%d to %d)" % (least, most), logins)
    check(logins[("imap", "failed")] == logins_failed, "failed IMAP logins counted", logins)
    connections = {s.labels["protocol"]: s.value for s in families["ringpost_connections"].samples if s.name.endswith("_total")}
    check(connections["imap"] >= logins_ok + logins_failed, "IMAP connections counted", connections)
    check(connections["metrics"] >= 1, "this scrape's connection counted", connections)
    check(families["ringpost_shards"].samples[0].value == 2, "two shards")
    one = lambda name, **labels: next(
        s.value for s in families[name].samples if all(s.labels.get(k) == v for k, v in labels.items())
    )
    check(one("ringpost_messages", result="accepted") == 1, "the message counted")
    by_mech = {(s.labels["mechanism"], s.labels["result"]): s.value for s in families["ringpost_logins_by_mechanism"].samples}
    check(sum(v for (m, r), v in by_mech.items() if r == "succeeded") == logins_ok + 1, "logins by mechanism add up", by_mech)
    check(sum(v for (m, r), v in by_mech.items() if r == "failed") == logins_failed, "failures by mechanism", by_mech)
    commands = {s.labels["protocol"]: s.value for s in families["ringpost_commands"].samples}
    check(commands["imap"] >= 2 * least + logins_failed, "IMAP commands counted", commands)
    hist = families["ringpost_request_duration_seconds"]
    count = {s.labels["protocol"]: s.value for s in hist.samples if s.name.endswith("_count")}
    check(count["submission"] >= 2, "request latency recorded (a login asks no service)", count)
    inf = {s.labels["protocol"]: s.value for s in hist.samples if s.labels.get("le") == "+Inf"}
    check(inf == count, "+Inf bucket equals the count", (inf, count))
    syncs = families["ringpost_store_syncs"].samples[0].value
    check(syncs >= 1 and families["ringpost_store_records"].samples[0].value >= 1, "store writes counted", syncs)
    sync_count = next(s.value for s in families["ringpost_store_sync_duration_seconds"].samples if s.name.endswith("_count"))
    check(sync_count == syncs, "one sync latency per sync", (sync_count, syncs))
    listeners = {(s.labels["protocol"], s.labels["listener"]): s.value for s in families["ringpost_listener_connections"].samples}
    # The logins, and the test harness's readiness probe of every port.
    check(listeners[("imap", "127.0.0.1:%d" % ports["imaps"])] >= logins_ok + logins_failed + 1, "connections by listener", listeners)
    check(sum(v for (p, _), v in listeners.items() if p == "imap") == connections["imap"], "listeners add up to the protocol")
    depth = {s.labels["state"] for s in families["ringpost_queue_depth"].samples}
    check(depth == {"sending", "held", "waiting"}, "queue depth by state", depth)
    conn.request("GET", "/")
    r = conn.getresponse()
    r.read()
    check(r.status == 404, "only /metrics on the metrics listener")


if command == "wire":
    wire()
elif command == "discovery":
    discovery()
elif command == "metrics":
    metrics(int(rest[0]), int(rest[1]), int(rest[2]))
else:
    raise SystemExit("unknown command " + command)
