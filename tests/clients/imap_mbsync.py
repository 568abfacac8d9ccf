"""mbsync (isync) syncing alice's INBOX both ways with a local Maildir: server mail arrives
locally, a local message and a local flag change arrive on the server, and a further run
transfers nothing new. mbsync negotiates COMPRESS=DEFLATE (RFC 4978) on every run."""
import imaplib
import os
import smtplib
import subprocess
import sys
import tempfile

from common import ALICE, HOST, args, check

ports, ctx, extra = args()
cafile = sys.argv[2]
work = tempfile.mkdtemp(prefix="mbsync-")
maildir = os.path.join(work, "mail")
os.makedirs(maildir)
conf = os.path.join(work, "mbsyncrc")
with open(conf, "w") as f:
    f.write("""IMAPAccount ringpost
Host localhost
Port %d
User %s
Pass %s
SSLType IMAPS
CertificateFile %s

IMAPStore remote
Account ringpost

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns INBOX Archive
Create Both
Expunge Both
SyncState *
Sync All
""" % (ports["imaps"], ALICE[0], ALICE[1], cafile, maildir, maildir))


def mbsync(*flags):
    r = subprocess.run(["mbsync", *flags, "-c", conf, "-a"], capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "mbsync exit 0", r.stdout + r.stderr)
    return r.stdout + r.stderr


def local_files(box):
    files = []
    for sub in ("new", "cur"):
        d = os.path.join(maildir, box, sub)
        if os.path.isdir(d):
            files += [os.path.join(d, n) for n in os.listdir(d)]
    return files


s = smtplib.SMTP(HOST, ports["smtp"])
for i in range(3):
    s.sendmail("x@remote.example", [ALICE[0]], b"Subject: sync %d\r\n\r\nbody %d\r\n" % (i, i))
s.quit()

out = mbsync()
files = local_files("INBOX")
check(len(files) == 3, "three server messages arrived in the Maildir", (files, out))
check(any(open(p, "rb").read().replace(b"\r\n", b"\n").endswith(b"body 1\n") for p in files), "bytes intact")

# A local message and a local flag change travel to the server.
newdir = os.path.join(maildir, "INBOX", "new")
with open(os.path.join(newdir, "1700000000.local.host"), "wb") as f:
    f.write(b"Subject: from the maildir\r\n\r\nlocal body\r\n")
first = sorted(local_files("INBOX"))[0]
cur = os.path.join(maildir, "INBOX", "cur")
base = os.path.basename(first).split(":2,")[0]
os.rename(first, os.path.join(cur, base + ":2,FS"))
out = mbsync()

m = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
m.login(*ALICE)
typ, data = m.select("INBOX")
check(data == [b"4"], "four messages on the server", data)
typ, data = m.search(None, "SUBJECT", "maildir")
check(data[0] != b"", "the local message was appended", data)
typ, data = m.search(None, "FLAGGED", "SEEN")
check(len(data[0].split()) == 1, "the local flags were stored", data)

# A server-side change (delete + expunge) reaches the Maildir.
typ, data = m.search(None, "SUBJECT", "sync 2")
m.store(data[0], "+FLAGS", "(\\Deleted)")
m.expunge()
m.logout()
out = mbsync()
check(len(local_files("INBOX")) == 3, "the expunge reached the Maildir", local_files("INBOX"))

# Nothing changed since: nothing is transferred either way (same local files, names with
# flags included; same server UIDNEXT, count and HIGHESTMODSEQ).
def server_state():
    m = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
    m.login(*ALICE)
    typ, data = m.status("INBOX", "(MESSAGES UIDNEXT HIGHESTMODSEQ)")
    m.logout()
    return data


before = (sorted(local_files("INBOX")), server_state())
# With the protocol shown (-Dn): mbsync (isync 1.4+) turns COMPRESS=DEFLATE on when offered,
# so these runs went compressed (RFC 4978).
out = mbsync("-Dn")
check("COMPRESS DEFLATE" in out and "OK DEFLATE active" in out, "mbsync negotiated COMPRESS=DEFLATE", out[-3000:])
after = (sorted(local_files("INBOX")), server_state())
check(before == after, "a further run transfers nothing", (before, after, out))
print("imap mbsync passed")
