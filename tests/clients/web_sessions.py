"""The workspace's sessions on hosts sharing one PostgreSQL account database: a browser
signed in on one host is signed in on every other. For tests/accounts_postgres.rs, one
step per run against the host whose ports are given:

  signin                  sign alice in; print the session cookie's value
  signed-in COOKIE        the security page answers with the cookie
  change-and-leave COOKIE add an app password (with this host's CSRF token), then sign out
  signed-out COOKIE       the cookie leads back to the sign-in form
  unavailable COOKIE      (the database stopped) pages answer 503, the sign-in form says
                          it is not possible right now: nobody is let in
"""
import http.client
import re
import urllib.parse

from common import ALICE, args, check

ports, ctx, extra = args()
command, *rest = extra


def request(method, path, body=None, headers=None):
    conn = http.client.HTTPSConnection("localhost", ports["https"], context=ctx, timeout=20)
    hdrs = dict(headers or {})
    if body is not None:
        body = urllib.parse.urlencode(body)
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=hdrs)
    r = conn.getresponse()
    data = r.read().decode("utf-8", "replace")
    conn.close()
    return r, data


def cookie(response, name):
    for value in response.headers.get_all("Set-Cookie") or []:
        key, rest = value.split("=", 1)
        if key == name:
            return rest.split(";", 1)[0]
    return None


def session(value):
    return {"Cookie": "__Host-ringpost=" + value}


def signed_in(value):
    r, page = request("GET", "/settings/security", headers=session(value))
    check(r.status == 200 and ALICE[0] in page, "signed in with the cookie", (r.status, page[:300]))
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


if command == "signin":
    r, _ = request("GET", "/signin")
    token = cookie(r, "__Host-ringpost-signin")
    r, page = request("POST", "/signin", {"username": ALICE[0], "password": ALICE[1], "csrf": token},
                      {"Cookie": "__Host-ringpost-signin=" + token})
    check(r.status == 303 and r.headers["Location"] == "/settings/security", "signed in", (r.status, page[:300]))
    value = cookie(r, "__Host-ringpost")
    check(value, "a session cookie")
    signed_in(value)
    print(value)
elif command == "signed-in":
    signed_in(rest[0])
elif command == "change-and-leave":
    jar = session(rest[0])
    csrf = signed_in(rest[0])
    r, page = request("POST", "/settings/security/app-passwords", {"name": "phone", "scope": "imap", "csrf": csrf}, jar)
    check(r.status == 200 and "phone" in page, "app password added", (r.status, page[:300]))
    r, _ = request("POST", "/signout", {"csrf": csrf}, jar)
    check(r.status == 303 and r.headers["Location"] == "/signin", "signed out", r.status)
    r, _ = request("GET", "/settings/security", headers=jar)
    check(r.status == 303 and r.headers["Location"] == "/signin", "signed out here too", r.status)
elif command == "signed-out":
    r, _ = request("GET", "/settings/security", headers=session(rest[0]))
    check(r.status == 303 and r.headers["Location"] == "/signin", "the session ended", r.status)
elif command == "unavailable":
    r, _ = request("GET", "/settings/security", headers=session(rest[0]))
    check(r.status == 503, "no page without the database", r.status)
    r, page = request("GET", "/signin", headers=session(rest[0]))
    check(r.status == 200 and "not possible right now" in page, "the sign-in form says so", (r.status, page[:300]))
else:
    raise SystemExit("unknown command " + command)
