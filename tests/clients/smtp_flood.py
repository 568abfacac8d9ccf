"""Send messages to one account over inbound SMTP from several threads until the server goes
away (or a time limit); print `ACK <message-id>` for every message that got 250."""
import smtplib
import sys
import threading
import time

port, rcpt, sessions, seconds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
deadline = time.time() + seconds
lock = threading.Lock()


def worker(n):
    i = 0
    try:
        s = smtplib.SMTP("127.0.0.1", port, timeout=10)
        while time.time() < deadline:
            mid = "<flood-%d-%d@test>" % (n, i)
            msg = ("From: f@remote.example\r\nMessage-ID: %s\r\nSubject: flood\r\n\r\n" % mid).encode() + b"z" * 4000 + b"\r\n"
            s.sendmail("f@remote.example", [rcpt], msg)
            with lock:
                print("ACK " + mid, flush=True)
            i += 1
    except Exception:
        return


threads = [threading.Thread(target=worker, args=(n,)) for n in range(sessions)]
for t in threads:
    t.start()
for t in threads:
    t.join()
