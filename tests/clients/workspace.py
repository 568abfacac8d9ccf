"""The web workspace in a real browser (Debian's chromium driven by Playwright), then the
passwords it made with Python's own mail clients. For tests/e2e_http.rs.

  browser SCREENSHOT_DIR     German browser: sign in, set the protocol password, create and
                             revoke an app password, read the E-Mail-Server page; imaplib
                             logs in with each new password and fails after revocation
  forms                      raw HTTPS (http.client): cookies' attributes, CSRF refusals,
                             wrong password, sign-out, no credential on plain HTTP
  throttle                   failed sign-ins block the address for IMAP too (and back)

Needs the venv's Python (playwright); run by the Rust test with it.
"""
import http.client
import imaplib
import os
import re
import sys
import urllib.parse

from common import ALICE, HOST, args, check

ports, ctx, extra = args()
command, *rest = extra
BASE = "https://localhost:%d" % ports["https"]
NEW_PROTOCOL_PASSWORD = "Protokoll-Passwort-42"


def imap_login(user, password):
    try:
        c = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx, timeout=20)
        c.login(user, password)
        c.logout()
        return "ok"
    except imaplib.IMAP4.error:
        return "refused"


def browser(shots):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
            args=["--no-sandbox"],
        )
        page = b.new_context(
            ignore_https_errors=True, locale="de-DE", viewport={"width": 1000, "height": 900}
        ).new_page()
        page.goto(BASE + "/")
        check(page.url == BASE + "/signin", "/ sends a stranger to sign-in", page.url)
        check(page.locator("h1").inner_text() == "Anmelden", "German by Accept-Language")
        # A wrong password first: the page says so and keeps the address.
        page.fill("#username", "Alice@Example.com")
        page.fill("#password", "not-the-password")
        page.click("button[type=submit]")
        check(
            "E-Mail-Adresse oder Passwort sind falsch" in page.inner_text("main"),
            "a wrong password is refused",
        )
        check(page.input_value("#username") == "Alice@Example.com", "the address is kept")
        page.fill("#password", ALICE[1])
        page.click("button[type=submit]")
        check(page.url == BASE + "/settings/security", "signed in", page.url)
        check(
            "Es ist noch kein Passwort für IMAP, POP3 und SMTP gesetzt"
            in page.inner_text("#protocol"),
            "no protocol password yet",
        )
        # Seed 002: in separate mode the web password is not valid for IMAP.
        check(imap_login(ALICE[0], ALICE[1]) == "refused", "web password refused on IMAP")
        page.fill("#pp", NEW_PROTOCOL_PASSWORD)
        page.fill("#pp2", NEW_PROTOCOL_PASSWORD)
        page.click("#protocol button[type=submit]")
        check(
            "Das Passwort für IMAP, POP3 und SMTP wurde gespeichert" in page.inner_text("main"),
            "protocol password saved",
            page.inner_text("main"),
        )
        check(
            imap_login("ALICE@example.com", NEW_PROTOCOL_PASSWORD) == "ok",
            "imaplib logs in with the new protocol password",
        )
        # An app password, shown once.
        page.fill("#app-name", "Thunderbird zu Hause")
        page.uncheck("input[name=scope][value=pop3]")
        page.click("#apps button[type=submit]")
        shown = page.inner_text("#app-password").strip()
        check(re.fullmatch(r"[a-z]{5}(-[a-z]{5}){3}", shown) is not None, "app password shown", shown)
        check(imap_login(ALICE[0], shown) == "ok", "imaplib logs in with the app password")
        page.screenshot(path=os.path.join(shots, "workspace-security.png"), full_page=True)
        page.goto(BASE + "/settings/security")
        check(shown not in page.content(), "the app password is shown once only")
        row = page.locator("#apps tbody tr")
        check(row.count() == 1, "one app password listed")
        check("IMAP" in row.inner_text() and "POP3" not in row.inner_text(), "its scopes", row.inner_text())
        check("nie" not in row.inner_text(), "its last use is shown", row.inner_text())
        row.locator("button").click()
        check("Das App-Passwort wurde widerrufen" in page.inner_text("main"), "revoked")
        check(imap_login(ALICE[0], shown) == "refused", "imaplib refused after revocation")
        # Mail → E-Mail-Server.
        page.click("text=Mail → E-Mail-Server")
        check(page.url == BASE + "/mail/server", "server page", page.url)
        incoming = page.inner_text("#incoming")
        check("IMAP" in incoming and str(ports["imaps"]) in incoming, "IMAP SSL port", incoming)
        check("STARTTLS" in incoming and str(ports["imap"]) in incoming, "IMAP STARTTLS port", incoming)
        check(str(ports["smtps"]) in page.inner_text("#outgoing"), "SMTP SSL port")
        check("alice@example.com" in page.inner_text("#username"), "user name in lower case")
        check(page.locator("#ssl-only").count() == 0, "no SSL-only note: STARTTLS listeners are on")
        with page.expect_download() as download:
            page.click("a[href='/mail/ringpost.mobileconfig']")
        path = download.value.path()
        import plistlib

        with open(path, "rb") as f:
            profile = plistlib.load(f)
        mail = profile["PayloadContent"][0]
        check(mail["EmailAddress"] == "alice@example.com", "profile's address", mail)
        check(mail["IncomingMailServerPortNumber"] == ports["imaps"], "profile's IMAP port", mail)
        page.screenshot(path=os.path.join(shots, "workspace-server.png"), full_page=True)
        # Sign out: back to sign-in, and the old session is gone.
        page.click("header button")
        check(page.url == BASE + "/signin", "signed out", page.url)
        page.goto(BASE + "/settings/security")
        check(page.url == BASE + "/signin", "the session ended", page.url)
        b.close()


def request(method, path, body=None, headers=None, port=None, tls=True):
    conn = (
        http.client.HTTPSConnection("localhost", port or ports["https"], context=ctx, timeout=20)
        if tls
        else http.client.HTTPConnection(HOST, port, timeout=20)
    )
    hdrs = dict(headers or {})
    if body is not None:
        body = urllib.parse.urlencode(body)
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=hdrs)
    r = conn.getresponse()
    data = r.read().decode("utf-8", "replace")
    conn.close()
    return r, data


def cookies(response):
    jar = {}
    for value in response.headers.get_all("Set-Cookie") or []:
        name, rest = value.split("=", 1)
        jar[name] = (rest.split(";", 1)[0], value)
    return jar


def forms():
    r, page = request("GET", "/signin")
    check(r.status == 200, "sign-in form", r.status)
    jar = cookies(r)
    token, line = jar["__Host-ringpost-signin"]
    for attr in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
        check(attr in line, "sign-in cookie has " + attr, line)
    check('value="%s"' % token in page, "the form carries the cookie's token")
    check("Content-Security-Policy" in r.headers and "no-store" in r.headers["Cache-Control"], "page headers")
    # Login CSRF: a form without the cookie's token is refused before any password check.
    r, page = request("POST", "/signin", {"username": ALICE[0], "password": ALICE[1], "csrf": "forged"},
                      {"Cookie": "__Host-ringpost-signin=" + token})
    check(r.status == 200 and "form had expired" in page, "forged sign-in token refused", page[:300])
    r, page = request("POST", "/signin", {"username": ALICE[0], "password": ALICE[1], "csrf": token},
                      {"Cookie": "__Host-ringpost-signin=" + token})
    check(r.status == 303 and r.headers["Location"] == "/settings/security", "signed in", r.status)
    session, line = cookies(r)["__Host-ringpost"]
    for attr in ("Secure", "HttpOnly", "SameSite=Strict"):
        check(attr in line, "session cookie has " + attr, line)
    check(ALICE[1] not in line and "password" not in r.headers.get("Location", ""), "no credential in cookie or URL")
    jar = {"Cookie": "__Host-ringpost=" + session}
    r, page = request("GET", "/settings/security", headers=jar)
    check(r.status == 200 and "alice@example.com" in page, "security page with the session")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    # A form without the session's CSRF token changes nothing.
    r, _ = request("POST", "/settings/security/app-passwords", {"name": "evil", "scope": "imap"}, jar)
    check(r.status == 403, "app password form without CSRF token refused", r.status)
    r, _ = request("POST", "/settings/security/app-passwords", {"name": "evil", "scope": "imap", "csrf": "x" + csrf}, jar)
    check(r.status == 403, "app password form with a wrong CSRF token refused", r.status)
    r, page = request("GET", "/settings/security", headers=jar)
    check("evil" not in page, "nothing was made")
    # Policy: too short a protocol password is refused with the reason.
    r, page = request("POST", "/settings/security/protocol-password",
                      {"password": "short", "repeat": "short", "csrf": csrf}, jar)
    check(r.status == 200 and "cannot be used" in page, "short password refused", page[:500])
    r, page = request("POST", "/settings/security/protocol-password",
                      {"password": "long-enough-1", "repeat": "long-enough-2", "csrf": csrf}, jar)
    check("differ" in page, "differing passwords refused")
    # Sign-out ends the session at once.
    r, _ = request("POST", "/signout", {"csrf": csrf}, jar)
    check(r.status == 303, "signed out", r.status)
    r, _ = request("GET", "/settings/security", headers=jar)
    check(r.status == 303 and r.headers["Location"] == "/signin", "old cookie no longer works")
    # Plain HTTP takes no credential: a sign-in posted there is redirected, never checked.
    r, _ = request("POST", "/signin", {"username": ALICE[0], "password": ALICE[1]},
                   port=ports["http"], tls=False)
    check(r.status == 308 and r.headers["Location"].startswith("https://"), "plain HTTP redirects", r.status)
    r, _ = request("GET", "/settings/security?x=1", port=ports["http"], tls=False)
    check(r.status == 301 and r.headers["Location"].endswith("/settings/security?x=1"), "GET redirect keeps the target")


def throttle():
    """Failed sign-ins count with the mail protocols' failed logins: after
    [auth] ip_max_failures of them from this address, IMAP refuses the right password too,
    and so does the workspace."""
    for _ in range(3):
        r, page = request("GET", "/signin")
        token = cookies(r)["__Host-ringpost-signin"][0]
        r, page = request("POST", "/signin", {"username": ALICE[0], "password": "wrong-password", "csrf": token},
                          {"Cookie": "__Host-ringpost-signin=" + token})
        check(r.status == 200 and "password is wrong" in page, "wrong sign-in refused", page[:300])
    check(imap_login(ALICE[0], ALICE[1]) == "refused", "IMAP blocked after failed web sign-ins")
    r, page = request("GET", "/signin")
    token = cookies(r)["__Host-ringpost-signin"][0]
    r, page = request("POST", "/signin", {"username": ALICE[0], "password": ALICE[1], "csrf": token},
                      {"Cookie": "__Host-ringpost-signin=" + token})
    check(r.status == 200 and "not possible right now" in page, "the workspace blocks too", page[:300])


if command == "browser":
    browser(rest[0])
elif command == "forms":
    forms()
elif command == "throttle":
    throttle()
else:
    raise SystemExit("unknown command " + command)
