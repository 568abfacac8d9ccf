"""Two-way sync with vdirsyncer, then khal and khard reading what it synced (for
tests/e2e_http.rs; run with the venv's Python, which has all three).

vdirsyncer starts at the server root (it finds the principal and the homes itself), pairs
the calendars and the address books with local vdirs, and syncs both ways: what the server
had comes down, what the vdirs had goes up. A second run must transfer nothing. Then a
change on each side travels, and a deletion on the server removes the local file. khal
lists the synced events and khard the synced contacts from the vdirs.
"""
import base64
import http.client
import os
import subprocess
import sys
import tempfile

from common import ALICE, args, check

ports, ctx, extra = args()
cafile = sys.argv[2]
bindir = os.path.dirname(sys.executable)
CAL = "/SOGo/dav/alice@example.com/Calendar/personal/"
CARDS = "/SOGo/dav/alice@example.com/Contacts/personal/"


def request(method, path, body=None, content_type=None):
    conn = http.client.HTTPSConnection("localhost", ports["https"], context=ctx, timeout=20)
    headers = {"Authorization": "Basic " + base64.b64encode(("%s:%s" % ALICE).encode()).decode()}
    if content_type:
        headers["Content-Type"] = content_type
    conn.request(method, path, body=body.encode() if isinstance(body, str) else body, headers=headers)
    r = conn.getresponse()
    data = r.read().decode("utf-8", "replace")
    conn.close()
    return r, data


def event(uid, day, summary):
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//ringpost tests//EN\r\nBEGIN:VEVENT\r\n"
        "UID:%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:2026%sT090000Z\r\nDTEND:2026%sT100000Z\r\n"
        "SUMMARY:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n" % (uid, day, day, summary)
    )


def vcard(uid, name):
    return "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:%s\r\nFN:%s\r\nN:%s;;;;\r\nEMAIL:%s@example.org\r\nEND:VCARD\r\n" % (
        uid, name, name, uid)


work = tempfile.mkdtemp(prefix="vdirsyncer-")
cal_dir = os.path.join(work, "calendars")
card_dir = os.path.join(work, "contacts")
config = os.path.join(work, "config")
with open(config, "w") as f:
    f.write("""[general]
status_path = "{work}/status/"

[pair cal]
a = "cal_local"
b = "cal_remote"
collections = ["from a", "from b"]

[storage cal_local]
type = "filesystem"
path = "{cal_dir}/"
fileext = ".ics"

[storage cal_remote]
type = "caldav"
url = "https://localhost:{port}/"
username = "{user}"
password = "{password}"
verify = "{cafile}"

[pair cards]
a = "cards_local"
b = "cards_remote"
collections = ["from a", "from b"]

[storage cards_local]
type = "filesystem"
path = "{card_dir}/"
fileext = ".vcf"

[storage cards_remote]
type = "carddav"
url = "https://localhost:{port}/"
username = "{user}"
password = "{password}"
verify = "{cafile}"
""".format(work=work, cal_dir=cal_dir, card_dir=card_dir, port=ports["https"],
           user=ALICE[0].upper(), password=ALICE[1], cafile=cafile))


def vdirsyncer(*argv):
    out = subprocess.run([os.path.join(bindir, "vdirsyncer"), "-c", config, "-v", "INFO", *argv],
                         input="y\n" * 10, capture_output=True, text=True, timeout=120)
    text = out.stdout + out.stderr
    check(out.returncode == 0, "vdirsyncer " + " ".join(argv), text)
    return text


def transfers(text):
    """The lines where vdirsyncer copied, updated or deleted an item."""
    return [l for l in text.splitlines() if any(w in l for w in ("Copying", "Updating", "Deleting"))]


# The server has one event and one contact; the local side will have one of each too.
r, _ = request("PUT", CAL + "server-event.ics", event("server-event", "0210", "From the server"), "text/calendar")
check(r.status == 201, "server event", r.status)
r, _ = request("PUT", CARDS + "server-card.vcf", vcard("server-card", "Sam Server"), "text/vcard")
check(r.status == 201, "server card", r.status)

vdirsyncer("discover")
cal_local = os.path.join(cal_dir, "personal")
card_local = os.path.join(card_dir, "personal")
check(os.path.isdir(cal_local) and os.path.isdir(card_local), "discover made a vdir per collection", os.listdir(work))
with open(os.path.join(cal_local, "local-event.ics"), "w", newline="") as f:
    f.write(event("local-event", "0211", "From the laptop"))
with open(os.path.join(card_local, "local-card.vcf"), "w", newline="") as f:
    f.write(vcard("local-card", "Laura Local"))

first = vdirsyncer("sync")
check(len(transfers(first)) >= 4, "the first sync moves four items", first)
local = sorted(os.listdir(cal_local))
check(len(local) == 2, "both events local", local)
check(len(os.listdir(card_local)) == 2, "both contacts local", os.listdir(card_local))
r, body = request("PROPFIND", CAL, '<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>')
r, body = request("REPORT", CAL, '<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR"/></c:filter></c:calendar-query>')
check("From the laptop" in body and "From the server" in body, "both events on the server", body)
r, body = request("REPORT", CARDS, '<card:addressbook-query xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:prop><card:address-data/></d:prop><card:filter/></card:addressbook-query>')
check("Laura Local" in body and "Sam Server" in body, "both contacts on the server", body)

second = vdirsyncer("sync")
check(transfers(second) == [], "the second sync transfers nothing", second)

# A change on each side travels; a deletion on the server removes the local file.
laptop = [n for n in os.listdir(cal_local) if "local-event" in open(os.path.join(cal_local, n)).read()][0]
with open(os.path.join(cal_local, laptop), "w", newline="") as f:
    f.write(event("local-event", "0211", "Moved on the laptop"))
r, _ = request("PUT", CARDS + "server-card.vcf", vcard("server-card", "Samantha Server"), "text/vcard")
check(r.status == 204, "server card changed", r.status)
r, _ = request("DELETE", CAL + "server-event.ics")
check(r.status == 204, "server event deleted", r.status)
third = vdirsyncer("sync")
check(len(transfers(third)) == 3, "three changes travel", third)
r, body = request("REPORT", CAL, '<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR"/></c:filter></c:calendar-query>')
check("Moved on the laptop" in body and "From the server" not in body, "the laptop's change is on the server", body)
check(len(os.listdir(cal_local)) == 1, "the server's deletion is local", os.listdir(cal_local))
cards = "".join(open(os.path.join(card_local, n)).read() for n in os.listdir(card_local))
check("Samantha Server" in cards, "the server's change is local", cards)
fourth = vdirsyncer("sync")
check(transfers(fourth) == [], "and then nothing again", fourth)

# khal and khard read the synced vdirs.
khal_config = os.path.join(work, "khal.conf")
with open(khal_config, "w") as f:
    f.write("[calendars]\n[[personal]]\npath = %s\n[locale]\ntimeformat = %%H:%%M\ndateformat = %%Y-%%m-%%d\n"
            "longdateformat = %%Y-%%m-%%d\ndatetimeformat = %%Y-%%m-%%d %%H:%%M\nlongdatetimeformat = %%Y-%%m-%%d %%H:%%M\n"
            "default_timezone = UTC\nlocal_timezone = UTC\n" % cal_local)
out = subprocess.run([os.path.join(bindir, "khal"), "-c", khal_config, "list", "2026-02-01", "30d"],
                     capture_output=True, text=True, timeout=60)
check(out.returncode == 0 and "Moved on the laptop" in out.stdout, "khal lists the synced event", out.stdout + out.stderr)
khard_config = os.path.join(work, "khard.conf")
with open(khard_config, "w") as f:
    f.write("[addressbooks]\n[[personal]]\npath = %s\n[general]\neditor = true\nmerge_editor = true\n" % card_local)
out = subprocess.run([os.path.join(bindir, "khard"), "-c", khard_config, "list"],
                     capture_output=True, text=True, timeout=60)
check(out.returncode == 0 and "Samantha Server" in out.stdout and "Laura Local" in out.stdout,
      "khard lists the synced contacts", out.stdout + out.stderr)
