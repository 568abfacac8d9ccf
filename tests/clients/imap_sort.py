"""RFC 5256 SORT and THREAD, RFC 5957 SORT=DISPLAY and RFC 5267 ESORT with imaplib: six
messages appended with varied Subject, Date, From and References (and arrival dates in the
opposite order), then SORT by several keys, UID SORT, THREAD with each algorithm and a
SORT RETURN (...), each answer checked exactly."""
import imaplib

from common import ALICE, HOST, args, check

ports, ctx, _ = args()
m = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
m.login(*ALICE)
typ, data = m.capability()
for cap in (b"SORT", b"SORT=DISPLAY", b"ESORT", b"THREAD=ORDEREDSUBJECT",
            b"THREAD=REFERENCES", b"THREAD=REFS"):
    check(cap in data[0].split(), cap.decode() + " advertised", data)
check(m.create("Sorting")[0] == "OK", "CREATE Sorting")

# (From, Subject, Date, Message-ID, References)
messages = [
    ("Zed <bob@example.org>", "Re: beta", "Wed, 01 Jan 2020 12:00:00 +0000", "<1@t>", None),
    ("ann@example.org", "alpha", "Fri, 03 Jan 2020 12:00:00 +0000", "<2@t>", None),
    ('"Carl" <carl@example.org>', "Re: alpha", "Sat, 04 Jan 2020 12:00:00 +0000", "<3@t>", "<2@t>"),
    ("dave@example.org", "[list] alpha", "Thu, 02 Jan 2020 15:00:00 +0200", "<4@t>", None),
    ("eve@example.org", "gamma", "Sun, 05 Jan 2020 12:00:00 +0000", "<5@t>", "<missing@t>"),
    ("ann@example.org", "Re: gamma", "Mon, 06 Jan 2020 12:00:00 +0000", "<6@t>", "<missing@t> <5@t>"),
]
uids = []
for i, (frm, subject, date, mid, refs) in enumerate(messages):
    head = "From: %s\r\nTo: alice@example.com\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: %s\r\n" % (
        frm, subject, date, mid)
    if refs:
        head += "References: %s\r\n" % refs
    body = (head + "\r\n" + "x" * (100 * (i + 1)) + "\r\n").encode()
    # Arrival: the first message appended arrived last.
    arrival = imaplib.Time2Internaldate(1600000000 - 86400 * i)
    typ, data = m.append("Sorting", None, arrival, body)
    check(typ == "OK", "APPEND %d" % (i + 1), data)
    uids.append(data[0].split(b"APPENDUID ")[1].split()[1].rstrip(b"]").decode())
m.select("Sorting")


def sort(criteria, *search):
    typ, data = m.sort(criteria, "UTF-8", *(search or ("ALL",)))
    check(typ == "OK", "SORT " + criteria, data)
    return data[0].decode()


check(sort("(SUBJECT)") == "2 3 4 1 5 6", "SORT (SUBJECT)", sort("(SUBJECT)"))
check(sort("(SUBJECT DATE)") == "4 2 3 1 5 6", "SORT (SUBJECT DATE)", sort("(SUBJECT DATE)"))
check(sort("(DATE)") == "1 4 2 3 5 6", "SORT (DATE)", sort("(DATE)"))
check(sort("(ARRIVAL)") == "6 5 4 3 2 1", "SORT (ARRIVAL)", sort("(ARRIVAL)"))
check(sort("(REVERSE SIZE)") == "6 5 4 3 2 1", "SORT (REVERSE SIZE)", sort("(REVERSE SIZE)"))
check(sort("(FROM)") == "2 6 1 3 4 5", "SORT (FROM)", sort("(FROM)"))
check(sort("(DISPLAYFROM)") == "2 6 3 4 5 1", "SORT (DISPLAYFROM)", sort("(DISPLAYFROM)"))
check(sort("(REVERSE DATE)", "FROM", "ann") == "6 2", "SORT with search criteria",
      sort("(REVERSE DATE)", "FROM", "ann"))

typ, data = m.uid("SORT", "(DATE)", "UTF-8", "ALL")
want = " ".join(uids[i - 1] for i in (1, 4, 2, 3, 5, 6))
check(typ == "OK" and data[0].decode() == want, "UID SORT (DATE)", (data, want))

for algorithm, want in (("REFERENCES", "(1)((4)(2 3))(5 6)"),
                        ("REFS", "(1)(4)(2 3)(5 6)"),
                        ("ORDEREDSUBJECT", "(1)(4 (2)(3))(5 6)")):
    typ, data = m.thread(algorithm, "UTF-8", "ALL")
    check(typ == "OK" and data[0].decode() == want, "THREAD " + algorithm, data)

typ, data = m.uid("THREAD", "REFERENCES", "UTF-8", "ALL")
u = dict((str(i + 1), x) for i, x in enumerate(uids))
want = "(%s)((%s)(%s %s))(%s %s)" % (u["1"], u["4"], u["2"], u["3"], u["5"], u["6"])
check(typ == "OK" and data[0].decode() == want, "UID THREAD REFERENCES", (data, want))

# ESORT (RFC 5267 §3): imaplib has no verb for it, so the command goes as is.
tag = m._new_tag().decode()
m.send(("%s SORT RETURN (MIN MAX COUNT ALL) (DATE) UTF-8 ALL\r\n" % tag).encode())
lines = []
while True:
    line = m._get_line().decode()
    lines.append(line)
    if line.startswith(tag + " "):
        break
want = '* ESEARCH (TAG "%s") MIN 1 MAX 6 ALL 1,4,2:3,5:6 COUNT 6' % tag
check(lines == [want, tag + " OK SORT completed"], "ESORT", lines)

# The store keeps each message's keys once an ordering has derived them: a message that
# arrives later is ordered with them, and one expunged is gone from the answer.
late = ("From: Ann <ann@example.org>\r\nSubject: Re: alpha\r\nDate: Thu, 02 Jan 2020 "
        "00:00:00 +0000\r\nMessage-ID: <7@t>\r\nReferences: <2@t>\r\n\r\nlate\r\n").encode()
typ, data = m.append("Sorting", None, None, late)
check(typ == "OK", "APPEND 7", data)
check(sort("(DATE)") == "1 7 4 2 3 5 6", "SORT (DATE) with a late message", sort("(DATE)"))
typ, data = m.thread("REFERENCES", "UTF-8", "ALL")
check(typ == "OK" and data[0].decode() == "(1)((4)(2 (7)(3)))(5 6)",
      "THREAD REFERENCES with a late reply", data)
m.store("2", "+FLAGS", "\\Deleted")
m.expunge()
check(sort("(DATE)") == "1 6 3 2 4 5", "SORT (DATE) after an EXPUNGE", sort("(DATE)"))
check(sort("(DATE)", "UNSEEN") == "1 6 3 2 4 5", "SORT (DATE) UNSEEN", sort("(DATE)", "UNSEEN"))

typ, data = m.sort("(DATE)", "KOI8-R", "ALL")
check(typ == "NO", "SORT with an unsupported charset", data)
m.logout()
print("sort passed")
