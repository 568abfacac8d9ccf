"""CalDAV/CardDAV discovery with independent clients, for tests/e2e_http.rs.

  discovery     curl's view, by http.client: /.well-known redirects, 401 with a challenge
                without credentials, PROPFIND at / naming the principal (vdirsyncer starts
                there), the principal's home sets, Depth 1 listing personal/, another
                user's resources absent (404), infinite depth refused
  caldav        the Python caldav library (venv): principal and calendars found from the
                server root; events created, searched by date range (a weekly event found
                in a window only its third occurrence hits), read back as sent, deleted
  lifecycle BIN CONFIG   calendars follow the account through `user del`, `user restore`,
                a new account with the address, and `user del --purge`
  limits        object and collection limits (507), hostile XML (too large, too deep,
                entities, not UTF-8), unknown reports and collations, an endless RRULE
  objects       by hand, every byte checked: PUT/GET/DELETE with ETags and If-Match /
                If-None-Match, the client's bytes returned as sent, PROPFIND Depth 1 over
                objects, sync-collection tokens (changes, deletions, an invalid token),
                calendar-query / calendar-multiget / free-busy / addressbook-query /
                addressbook-multiget, MKCALENDAR and PROPPATCH, the preconditions and
                limits (bad iCalendar, bad vCard, UID conflicts, oversize objects)
"""
import re
import base64
import http.client
import sys

from common import ALICE, BOB, args, check

ports, ctx, extra = args()
command, *rest = extra


def request(method, path, user=ALICE, body=None, depth=None, headers=None, content_type=None):
    conn = http.client.HTTPSConnection("localhost", ports["https"], context=ctx, timeout=20)
    headers = dict(headers or {})
    if user:
        token = base64.b64encode(("%s:%s" % user).encode()).decode()
        headers["Authorization"] = "Basic " + token
    if depth is not None:
        headers["Depth"] = depth
    if content_type is not None:
        headers["Content-Type"] = content_type
    elif body is not None:
        headers["Content-Type"] = "application/xml; charset=utf-8"
    if isinstance(body, str):
        body = body.encode("utf-8")
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
    # The plaintext port redirects, even with credentials sent, and never challenges.
    for path in ("/SOGo/dav/", "/.well-known/caldav"):
        conn = http.client.HTTPConnection("127.0.0.1", ports["http"], timeout=20)
        token = base64.b64encode(("%s:%s" % ALICE).encode()).decode()
        conn.request("PROPFIND", path, body=PRINCIPAL, headers={"Authorization": "Basic " + token, "Depth": "0"})
        r = conn.getresponse()
        r.read()
        conn.close()
        check(r.status == 308 and r.headers["Location"].startswith("https://") and "WWW-Authenticate" not in r.headers,
              "plain HTTP redirects " + path, (r.status, dict(r.headers)))


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
    import datetime
    cal = calendars[0]
    ical = event("caldav-lib@example.com", "20270301T100000Z", "20270301T110000Z", summary="From caldav")
    created = cal.save_event(ical)
    weekly = event("caldav-weekly@example.com", "20270401T080000Z", "20270401T083000Z",
                   extra="RRULE:FREQ=WEEKLY;COUNT=4\r\n", summary="Weekly via caldav")
    cal.save_event(weekly)
    found = cal.search(start=datetime.datetime(2027, 3, 1, tzinfo=datetime.timezone.utc),
                       end=datetime.datetime(2027, 3, 2, tzinfo=datetime.timezone.utc), event=True)
    check(len(found) == 1 and "From caldav" in found[0].data, "caldav date search", [f.data for f in found])
    # Only the third occurrence (April 15) falls in this window.
    found = cal.search(start=datetime.datetime(2027, 4, 15, tzinfo=datetime.timezone.utc),
                       end=datetime.datetime(2027, 4, 16, tzinfo=datetime.timezone.utc), event=True)
    check(len(found) == 1 and "Weekly via caldav" in found[0].data, "recurring event found by one occurrence", [f.data for f in found])
    found = cal.search(start=datetime.datetime(2027, 5, 1, tzinfo=datetime.timezone.utc),
                       end=datetime.datetime(2027, 5, 2, tzinfo=datetime.timezone.utc), event=True)
    check(len(found) == 0, "no event after the rule ends", [f.data for f in found])
    fetched = cal.event_by_uid("caldav-lib@example.com")
    # The library re-serializes what it reads (its own order and line ends); "objects"
    # checks the exact bytes.
    check("UID:caldav-lib@example.com" in fetched.data and "SUMMARY:From caldav" in fetched.data, "read back", fetched.data)
    created.delete()
    check(all("From caldav" not in e.data for e in cal.events()), "deleted", [e.data for e in cal.events()])


CAL = "/SOGo/dav/alice@example.com/Calendar/personal/"
CARDS = "/SOGo/dav/alice@example.com/Contacts/personal/"


def event(uid, start="20260105T090000Z", end="20260105T100000Z", extra="", summary="Meeting"):
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//ringpost tests//EN\r\n"
        "BEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:%s\r\nDTEND:%s\r\n%s"
        "SUMMARY:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n" % (uid, start, end, extra, summary)
    )


def vcard(uid, name, email):
    return "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:%s\r\nFN:%s\r\nN:%s;;;;\r\nEMAIL;TYPE=work:%s\r\nEND:VCARD\r\n" % (uid, name, name, email)


def put(path, text, content_type="text/calendar; charset=utf-8", headers=None):
    return request("PUT", path, body=text.encode(), content_type=content_type, headers=headers)


def sync(collection, token, props="<d:getetag/>", limit=None):
    limit_xml = "<d:limit><d:nresults>%d</d:nresults></d:limit>" % limit if limit else ""
    body = ('<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
            '<d:sync-token>%s</d:sync-token><d:sync-level>1</d:sync-level>%s<d:prop>%s</d:prop></d:sync-collection>'
            % (token, limit_xml, props))
    r, text = request("REPORT", collection, body=body, depth="0")
    m = re.search(r"<d:sync-token>([^<]*)</d:sync-token>", text)
    return r, text, (m.group(1) if m else None)


def objects():
    # A first sync: nothing there yet, and a token.
    r, text, token0 = sync(CAL, "")
    check(r.status == 207 and token0 and token0.startswith("urn:ringpost:sync:"), "initial sync token", text)
    # PUT creates (201 + ETag); the bytes come back exactly as sent.
    one = event("one@example.com", extra="X-FOLDED:a long line\r\n  folded here\r\n")
    r, _ = put(CAL + "one.ics", one, headers={"If-None-Match": "*"})
    check(r.status == 201 and r.headers["ETag"], "PUT creates", r.status)
    etag1 = r.headers["ETag"]
    r, body = request("GET", CAL + "one.ics")
    check(r.status == 200 and body == one and r.headers["ETag"] == etag1, "GET returns the bytes as sent", body)
    check(r.headers["Content-Type"].startswith("text/calendar"), "content type", r.headers["Content-Type"])
    r, body = request("HEAD", CAL + "one.ics")
    check(r.status == 200 and body == "" and r.headers["ETag"] == etag1, "HEAD", r.status)
    r, _ = request("GET", CAL + "one.ics", headers={"If-None-Match": etag1})
    check(r.status == 304, "conditional GET", r.status)
    # If-None-Match: * on an existing resource, If-Match with a stale tag: 412.
    r, _ = put(CAL + "one.ics", one, headers={"If-None-Match": "*"})
    check(r.status == 412, "If-None-Match: * on an existing object", r.status)
    r, _ = put(CAL + "one.ics", one, headers={"If-Match": '"0-0"'})
    check(r.status == 412, "If-Match with a stale tag", r.status)
    changed = event("one@example.com", summary="Moved")
    r, _ = put(CAL + "one.ics", changed, headers={"If-Match": etag1})
    check(r.status == 204 and r.headers["ETag"] != etag1, "PUT replaces with If-Match", r.status)
    etag2 = r.headers["ETag"]
    r, body = request("GET", CAL + "one.ics")
    check(body == changed and r.headers["ETag"] == etag2, "the new version", body)
    # A second object; the same UID under another name is refused.
    r, _ = put(CAL + "two.ics", event("two@example.com", "20260301T120000Z", "20260301T130000Z"))
    check(r.status == 201, "second object", r.status)
    r, body = put(CAL + "three.ics", event("one@example.com"))
    check(r.status == 403 and "no-uid-conflict" in body and CAL + "one.ics" in body, "no-uid-conflict", body)
    # Bad data: each precondition with its element.
    for text, ctype, element in [
        ("not a calendar", "text/calendar", "valid-calendar-data"),
        (event("m@example.com").replace("VERSION:2.0\r\n", "VERSION:2.0\r\nMETHOD:REQUEST\r\n"), "text/calendar", "valid-calendar-object-resource"),
        (one, "application/json", "supported-calendar-data"),
        ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VJOURNAL\r\nUID:j\r\nDTSTAMP:20260101T000000Z\r\nEND:VJOURNAL\r\nEND:VCALENDAR\r\n", "text/calendar", "supported-calendar-component"),
    ]:
        r, body = put(CAL + "bad.ics", text, content_type=ctype)
        check(r.status == 403 and element in body, "refused: " + element, (r.status, body))
    r, _ = request("PUT", CAL + "bad.ics", body=b"\xff\xfe" + one.encode(), content_type="text/calendar")
    check(r.status == 403, "invalid UTF-8 refused", r.status)
    r, _ = request("GET", CAL + "bad.ics")
    check(r.status == 404, "nothing stored for refused PUTs", r.status)
    r, _ = put("/SOGo/dav/alice@example.com/Calendar/nowhere/x.ics", one)
    check(r.status == 409, "PUT into a missing collection: 409", r.status)
    r, _ = put("/SOGo/dav/bob@example.com/Calendar/personal/x.ics", one)
    check(r.status == 404, "PUT into another user's calendar: 404", r.status)
    # PROPFIND Depth 1 lists both with their ETags; the collection has a ctag and token.
    r, body = request("PROPFIND", CAL, depth="1", body='<d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop><d:getetag/><cs:getctag/><d:sync-token/><d:getcontenttype/></d:prop></d:propfind>')
    check(r.status == 207 and CAL + "one.ics" in body and CAL + "two.ics" in body and etag2.replace('"', "&quot;") in body or etag2 in body, "Depth 1 lists objects", body)
    check("<cs:getctag>" in body and "urn:ringpost:sync:" in body, "ctag and sync-token", body)
    # sync-collection: both changed since the first token; then a deletion shows as 404.
    r, text, token1 = sync(CAL, token0)
    check(r.status == 207 and CAL + "one.ics" in text and CAL + "two.ics" in text and token1 != token0, "changes since the first token", text)
    r, text, token1b = sync(CAL, token1)
    check(r.status == 207 and "<d:response>" not in text and token1b == token1, "nothing since the second", text)
    r, _ = request("DELETE", CAL + "two.ics", headers={"If-Match": '"0-0"'})
    check(r.status == 412, "DELETE with a stale If-Match", r.status)
    r, _ = request("DELETE", CAL + "two.ics")
    check(r.status == 204, "DELETE", r.status)
    r, _ = request("DELETE", CAL + "two.ics")
    check(r.status == 404, "DELETE again: 404", r.status)
    r, text, token2 = sync(CAL, token1)
    check(r.status == 207 and CAL + "two.ics" in text and "404 Not Found" in text and CAL + "one.ics" not in text, "the deletion is reported", text)
    r, text, _ = sync(CAL, "urn:ringpost:sync:1-999999999")
    check(r.status == 403 and "valid-sync-token" in text, "an invalid token", (r.status, text))
    r, text, _ = sync(CAL, "http://example.com/other")
    check(r.status == 403 and "valid-sync-token" in text, "a foreign token", (r.status, text))
    # calendar-query: a weekly event whose third occurrence is the only one in the window.
    weekly = event("weekly@example.com", "20260105T090000Z", "20260105T100000Z", extra="RRULE:FREQ=WEEKLY;COUNT=3\r\n", summary="Standup")
    r, _ = put(CAL + "weekly.ics", weekly)
    check(r.status == 201, "weekly event", r.status)
    def query(start, end):
        body = ('<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
                '<d:prop><d:getetag/><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR">'
                '<c:comp-filter name="VEVENT"><c:time-range start="%s" end="%s"/></c:comp-filter>'
                '</c:comp-filter></c:filter></c:calendar-query>' % (start, end))
        return request("REPORT", CAL, body=body, depth="1")
    r, text = query("20260119T000000Z", "20260120T000000Z")
    check(r.status == 207 and CAL + "weekly.ics" in text and CAL + "one.ics" not in text and "RRULE:FREQ=WEEKLY;COUNT=3" in text, "third week: the weekly event only", text)
    r, text = query("20260126T000000Z", "20260127T000000Z")
    check(r.status == 207 and "<d:response>" not in text, "fourth week: nothing", text)
    # expand: the instances in the window, in UTC, without the rule.
    body = ('<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
            '<d:prop><c:calendar-data><c:expand start="20260101T000000Z" end="20260201T000000Z"/></c:calendar-data></d:prop>'
            '<c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:time-range start="20260112T000000Z" end="20260113T000000Z"/>'
            '</c:comp-filter></c:comp-filter></c:filter></c:calendar-query>')
    r, text = request("REPORT", CAL, body=body, depth="1")
    check(r.status == 207 and text.count("RECURRENCE-ID") == 3 and "RRULE" not in text, "expand", text)
    # calendar-multiget: one found, one missing.
    body = ('<?xml version="1.0"?><c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
            '<d:prop><d:getetag/><c:calendar-data/></d:prop><d:href>%sone.ics</d:href><d:href>%smissing.ics</d:href>'
            '</c:calendar-multiget>' % (CAL, CAL))
    r, text = request("REPORT", CAL, body=body, depth="1")
    check(r.status == 207 and "SUMMARY:Moved" in text and re.search(r"missing.ics</d:href><d:status>HTTP/1.1 404", text), "calendar-multiget", text)
    # free-busy-query.
    body = ('<?xml version="1.0"?><c:free-busy-query xmlns:c="urn:ietf:params:xml:ns:caldav">'
            '<c:time-range start="20260101T000000Z" end="20260201T000000Z"/></c:free-busy-query>')
    r, text = request("REPORT", CAL, body=body, depth="1")
    check(r.status == 200 and "BEGIN:VFREEBUSY" in text and "FREEBUSY" in text and "20260119T090000Z" in text, "free-busy-query", text)
    # MKCALENDAR with properties; PROPPATCH; the new calendar listed in the home.
    work = "/SOGo/dav/alice@example.com/Calendar/work/"
    body = ('<?xml version="1.0"?><c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:a="http://apple.com/ns/ical/">'
            '<d:set><d:prop><d:displayname>Work &amp; more</d:displayname><a:calendar-color>#ff0000</a:calendar-color>'
            '<c:supported-calendar-component-set><c:comp name="VTODO"/></c:supported-calendar-component-set></d:prop></d:set></c:mkcalendar>')
    r, _ = request("MKCALENDAR", work, body=body)
    check(r.status == 201, "MKCALENDAR", r.status)
    r, text = request("MKCALENDAR", work, body=body)
    check(r.status == 403 and "resource-must-be-null" in text, "MKCALENDAR on an existing one", r.status)
    r, text = request("PROPFIND", "/SOGo/dav/alice@example.com/Calendar/", depth="1")
    check(work in text and "Work &amp; more" in text and "#ff0000" in text and '<c:comp name="VTODO"/>' in text, "the new calendar with its properties", text)
    r, text = put(work + "e.ics", event("e@example.com"))
    check(r.status == 403 and "supported-calendar-component" in text, "a VTODO-only calendar refuses events", r.status)
    body = ('<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:" xmlns:x="http://example.com/ns">'
            '<d:set><d:prop><d:displayname>Büro</d:displayname><x:dead><x:inner a="1">v</x:inner></x:dead></d:prop></d:set>'
            '<d:remove><d:prop><a:calendar-color xmlns:a="http://apple.com/ns/ical/"/></d:prop></d:remove></d:propertyupdate>')
    r, text = request("PROPPATCH", work, body=body)
    check(r.status == 207 and "200 OK" in text, "PROPPATCH", text)
    r, text = request("PROPFIND", work, depth="0", body='<d:propfind xmlns:d="DAV:" xmlns:x="http://example.com/ns" xmlns:a="http://apple.com/ns/ical/"><d:prop><d:displayname/><x:dead/><a:calendar-color/></d:prop></d:propfind>')
    check("Büro" in text and 'a="1"' in text and "404 Not Found" in text, "PROPPATCH applied", text)
    body = '<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:getetag>x</d:getetag><d:displayname>y</d:displayname></d:prop></d:set></d:propertyupdate>'
    r, text = request("PROPPATCH", work, body=body)
    check(r.status == 207 and "403 Forbidden" in text and "424 Failed Dependency" in text, "a protected property fails the whole PROPPATCH", text)
    r, _ = request("DELETE", work)
    check(r.status == 204, "DELETE a calendar", r.status)
    r, _ = request("PROPFIND", work, depth="0")
    check(r.status == 404, "gone", r.status)
    # Made anew under the same name: none of the old one's properties come back (its UIDs
    # start again, under a new UIDVALIDITY).
    body = ('<?xml version="1.0"?><c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
            '<d:set><d:prop><d:displayname>Second</d:displayname></d:prop></d:set></c:mkcalendar>')
    r, _ = request("MKCALENDAR", work, body=body)
    check(r.status == 201, "MKCALENDAR again", r.status)
    r, text = request("PROPFIND", work, depth="0", body='<d:propfind xmlns:d="DAV:" xmlns:x="http://example.com/ns"><d:prop><d:displayname/><x:dead/></d:prop></d:propfind>')
    check("Second" in text and "Büro" not in text and 'a="1"' not in text, "the new calendar's own properties", text)
    r, _ = request("DELETE", work)
    check(r.status == 204, "DELETE it again", r.status)
    r, _ = request("DELETE", CAL)
    check(r.status == 403, "the personal calendar stays", r.status)
    # CardDAV: vCard 3.0 and 4.0, addressbook-query, multiget.
    r, _ = put(CARDS + "ann.vcf", vcard("ann-uid", "Ann Example", "ann@example.org"), content_type="text/vcard")
    check(r.status == 201, "vCard 3.0", r.status)
    v4 = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:urn:uuid:bob\r\nFN:Bob Builder\r\nEMAIL:bob@example.net\r\nEND:VCARD\r\n"
    r, _ = put(CARDS + "bob.vcf", v4, content_type="text/vcard; charset=utf-8")
    check(r.status == 201, "vCard 4.0", r.status)
    r, text = put(CARDS + "bad.vcf", "BEGIN:VCARD\r\nVERSION:2.1\r\nFN:x\r\nUID:x\r\nEND:VCARD\r\n", content_type="text/vcard")
    check(r.status == 403 and "supported-address-data" in text, "vCard 2.1 refused", (r.status, text))
    r, text = put(CARDS + "bad.vcf", "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:no uid\r\nEND:VCARD\r\n", content_type="text/vcard")
    check(r.status == 403 and "valid-address-data" in text, "a vCard without UID refused", (r.status, text))
    body = ('<?xml version="1.0"?><card:addressbook-query xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav">'
            '<d:prop><d:getetag/><card:address-data/></d:prop><card:filter><card:prop-filter name="EMAIL">'
            '<card:text-match match-type="ends-with">EXAMPLE.ORG</card:text-match></card:prop-filter></card:filter></card:addressbook-query>')
    r, text = request("REPORT", CARDS, body=body, depth="1")
    check(r.status == 207 and CARDS + "ann.vcf" in text and "bob.vcf" not in text and "FN:Ann Example" in text, "addressbook-query", text)
    body = ('<?xml version="1.0"?><card:addressbook-multiget xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav">'
            '<d:prop><d:getetag/><card:address-data/></d:prop><d:href>%sbob.vcf</d:href></card:addressbook-multiget>' % CARDS)
    r, text = request("REPORT", CARDS, body=body, depth="1")
    check(r.status == 207 and "urn:uuid:bob" in text, "addressbook-multiget", text)
    r, text = request("REPORT", CARDS, body='<c:calendar-query xmlns:c="urn:ietf:params:xml:ns:caldav"><c:filter><c:comp-filter name="VCALENDAR"/></c:filter></c:calendar-query>', depth="1")
    check(r.status == 403 and "supported-report" in text, "a calendar report on an address book", (r.status, text))
    # Limits: an object past dav_max_resource_bytes.
    big = event("big@example.com", summary="x" * 5000)
    r, text = put(CAL + "big.ics", big)
    check(r.status == 403 and "max-resource-size" in text, "max-resource-size", (r.status, text))


def lifecycle(binary, config):
    """Calendars follow the account: `user del` hides them, `user restore` brings them back,
    a new account with the address starts empty, `user del --purge` removes them."""
    import subprocess
    import time

    def cli(*argv, stdin=None):
        out = subprocess.run([binary, "--config", config, *argv], input=stdin,
                             capture_output=True, text=True, timeout=60)
        check(out.returncode == 0, "ringpost %s" % " ".join(argv), out.stderr)

    bob_cal = "/SOGo/dav/bob@example.com/Calendar/personal/"

    def get(password):
        return request("GET", bob_cal + "kept.ics", user=(BOB[0], password))[0].status

    def until(what, condition):
        deadline = time.time() + 20
        while not condition():
            check(time.time() < deadline, what)
            time.sleep(0.1)
        print("ok: " + what)

    r, _ = request("PUT", bob_cal + "kept.ics", user=BOB, body=event("kept@example.com").encode(),
                   content_type="text/calendar")
    check(r.status == 201, "bob's event", r.status)
    cli("user", "del", BOB[0])
    until("a deleted account's calendar is refused", lambda: get(BOB[1]) == 401)
    cli("user", "restore", BOB[0])
    until("restored, the event is back", lambda: get(BOB[1]) == 200)
    cli("user", "del", "--purge", BOB[0])
    until("deleted again", lambda: get(BOB[1]) == 401)
    cli("user", "add", BOB[0], stdin="bob-new-pass-2\n")
    until("a new bob logs in", lambda: get("bob-new-pass-2") in (200, 404))
    check(get("bob-new-pass-2") == 404, "and finds nothing of the old one's calendar")
    r, text = request("PROPFIND", bob_cal, user=(BOB[0], "bob-new-pass-2"), depth="1")
    check(r.status == 207 and text.count("<d:response>") == 1, "an empty personal calendar", text)


def limits():
    """Run against dav_max_objects = 3, dav_max_collections = 3, max_body_bytes = 16384."""
    r, _ = request("PROPFIND", CAL, depth="0")
    check(r.status == 207, "up", r.status)
    for i in range(3):
        r, _ = put(CAL + "n%d.ics" % i, event("n%d@example.com" % i))
        check(r.status == 201, "object %d" % i, r.status)
    r, _ = put(CAL + "n3.ics", event("n3@example.com"))
    check(r.status == 507, "one object past dav_max_objects: 507", r.status)
    r, _ = put(CAL + "n0.ics", event("n0@example.com", summary="replaced"))
    check(r.status == 204, "replacing stays within the limit", r.status)
    r, _ = request("MKCALENDAR", "/SOGo/dav/alice@example.com/Calendar/third/")
    check(r.status == 201, "a third collection", r.status)
    r, _ = request("MKCALENDAR", "/SOGo/dav/alice@example.com/Calendar/fourth/")
    check(r.status == 507, "past dav_max_collections: 507", r.status)
    r, _ = request("MKCALENDAR", "/SOGo/dav/alice@example.com/Calendar/bad%20name/")
    check(r.status == 403, "a collection name outside the safe set", r.status)
    r, _ = request("MKCALENDAR", "/SOGo/dav/alice@example.com/Calendar/inbox/")
    check(r.status == 403, "the scheduling inbox's name is taken", r.status)
    # Hostile bodies: each refused with its status, the server still answering after.
    huge = b"<d:propfind xmlns:d='DAV:'>" + b" " * 20000 + b"</d:propfind>"
    r, _ = request("PROPFIND", CAL, body=huge, depth="0")
    check(r.status == 413, "a body past max_body_bytes: 413", r.status)
    deep = "<d:propfind xmlns:d='DAV:'>" + "<d:prop>" * 40 + "</d:prop>" * 40 + "</d:propfind>"
    r, _ = request("PROPFIND", CAL, body=deep, depth="0")
    check(r.status == 400, "nesting past the limit: 400", r.status)
    laughs = ('<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
              '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><d:propfind xmlns:d="DAV:"><d:prop><d:displayname>&c;</d:displayname></d:prop></d:propfind>')
    r, _ = request("PROPFIND", CAL, body=laughs, depth="0")
    check(r.status == 400, "entity definitions (billion laughs): 400", r.status)
    r, _ = request("PROPFIND", CAL, body=b"<d:propfind xmlns:d='DAV:'>\xff</d:propfind>", depth="0")
    check(r.status == 400, "XML that is not UTF-8: 400", r.status)
    r, text = request("REPORT", CAL, body="<d:expand-property xmlns:d='DAV:'/>", depth="0")
    check(r.status == 403 and "supported-report" in text, "an unknown report: 403 supported-report", (r.status, text))
    r, text = request("REPORT", CARDS, body='<card:addressbook-query xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><card:filter><card:prop-filter name="FN"><card:text-match collation="i;klingon">x</card:text-match></card:prop-filter></card:filter></card:addressbook-query>', depth="1")
    check(r.status == 403 and "supported-collation" in text, "an unknown collation: 403 supported-collation", (r.status, text))
    rrule = event("forever@example.com", extra="RRULE:FREQ=SECONDLY\r\n")
    r, _ = put("/SOGo/dav/alice@example.com/Calendar/third/forever.ics", rrule)
    check(r.status == 201, "an endless secondly rule is stored", r.status)
    body = ('<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop>'
            '<c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:time-range start="20300101T000000Z" end="20300102T000000Z"/>'
            '</c:comp-filter></c:comp-filter></c:filter></c:calendar-query>')
    r, text = request("REPORT", "/SOGo/dav/alice@example.com/Calendar/third/", body=body, depth="1")
    check(r.status == 207, "and a query over it ends (bounded expansion)", r.status)
    r, _ = request("PROPFIND", CAL, depth="0")
    check(r.status == 207, "still answering", r.status)


if command == "discovery":
    discovery()
elif command == "caldav":
    caldav_client()
elif command == "objects":
    objects()
elif command == "limits":
    limits()
elif command == "lifecycle":
    lifecycle(*rest)
else:
    raise SystemExit("unknown command " + command)
