"""CalDAV/CardDAV discovery with independent clients, for tests/e2e_http.rs.

  discovery     curl's view, by http.client: /.well-known redirects, 401 with a challenge
                without credentials, PROPFIND at / naming the principal (vdirsyncer starts
                there), the principal's home sets, Depth 1 listing personal/, another
                user's resources absent (404), infinite depth refused
  caldav        the Python caldav library (venv): principal and calendars found from the
                server root
"""
import base64
import http.client
import sys

from common import ALICE, BOB, args, check

ports, ctx, extra = args()
command, *rest = extra


def request(method, path, user=ALICE, body=None, depth=None):
    conn = http.client.HTTPSConnection("localhost", ports["https"], context=ctx, timeout=20)
    headers = {}
    if user:
        token = base64.b64encode(("%s:%s" % user).encode()).decode()
        headers["Authorization"] = "Basic " + token
    if depth is not None:
        headers["Depth"] = depth
    if body is not None:
        headers["Content-Type"] = "application/xml; charset=utf-8"
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read().decode("utf-8", "replace")
    conn.close()
    return r, data


PRINCIPAL = """<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop></d:propfind>"""
HOMES = """<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:prop><c:calendar-home-set/><card:addressbook-home-set/></d:prop></d:propfind>"""


def discovery():
    for path in ("/.well-known/caldav", "/.well-known/carddav"):
        r, _ = request("GET", path, user=None)
        check(r.status == 301 and r.headers["Location"] == "/SOGo/dav/", path, r.status)
    r, _ = request("PROPFIND", "/SOGo/dav/", user=None, body=PRINCIPAL, depth="0")
    check(r.status == 401 and r.headers["WWW-Authenticate"].startswith("Basic realm="), "challenge", r.status)
    r, _ = request("PROPFIND", "/SOGo/dav/", user=(ALICE[0], "wrong-password"), body=PRINCIPAL, depth="0")
    check(r.status == 401, "a wrong password is challenged again", r.status)
    for path in ("/", "/SOGo/dav/"):
        r, body = request("PROPFIND", path, body=PRINCIPAL, depth="0")
        check(r.status == 207 and "<d:href>/SOGo/dav/alice@example.com/</d:href>" in body, "principal from " + path, body)
        check("calendar-access" in r.headers["DAV"], "DAV classes", r.headers["DAV"])
    r, body = request("PROPFIND", "/SOGo/dav/Alice%40Example.com/", body=HOMES, depth="0")
    check(r.status == 207 and "/SOGo/dav/alice@example.com/Calendar/" in body and "/SOGo/dav/alice@example.com/Contacts/" in body, "home sets", body)
    r, body = request("PROPFIND", "/SOGo/dav/alice@example.com/Calendar/", depth="1")
    check(r.status == 207 and "<d:href>/SOGo/dav/alice@example.com/Calendar/personal/</d:href>" in body, "Depth 1 lists personal/", body)
    check("<c:calendar/>" in body, "personal/ is a calendar")
    r, body = request("PROPFIND", "/SOGo/dav/alice@example.com/Contacts/personal/", depth="0")
    check(r.status == 207 and "<card:addressbook/>" in body, "personal/ address book", body)
    r, _ = request("PROPFIND", "/SOGo/dav/bob@example.com/Calendar/", depth="0")
    check(r.status == 404, "another user's home is not there", r.status)
    r, _ = request("PROPFIND", "/SOGo/dav/alice@example.com/Calendar/", depth="infinity")
    check(r.status == 403, "infinite depth refused", r.status)
    r, _ = request("OPTIONS", "/SOGo/dav/alice@example.com/Calendar/personal/")
    check(r.status == 200 and "PROPFIND" in r.headers["Allow"], "OPTIONS", r.status)
    r, _ = request("PROPFIND", "/SOGo/dav/alice@example.com/Calendar/personal/", body="<d:propfind xmlns:d='DAV:'><d:prop>", depth="0")
    check(r.status == 400, "malformed XML: 400", r.status)
    r, _ = request("PROPFIND", "/SOGo/dav/", user=BOB, body=PRINCIPAL, depth="0")
    check(r.status == 207, "bob too", r.status)


def caldav_client():
    import caldav

    client = caldav.DAVClient(
        url="https://localhost:%d/" % ports["https"],
        username=ALICE[0].upper(),
        password=ALICE[1],
        ssl_verify_cert=sys.argv[2],
    )
    principal = client.principal()
    check(str(principal.url).endswith("/SOGo/dav/alice@example.com/"), "caldav finds the principal", principal.url)
    calendars = principal.calendars()
    urls = [str(c.url) for c in calendars]
    check(len(urls) == 1 and urls[0].endswith("/SOGo/dav/alice@example.com/Calendar/personal/"), "caldav lists personal/", urls)


if command == "discovery":
    discovery()
elif command == "caldav":
    caldav_client()
else:
    raise SystemExit("unknown command " + command)
