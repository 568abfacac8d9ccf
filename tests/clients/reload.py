"""SIGHUP: a new certificate is used by new connections while a session opened before goes on
with its own; a broken configuration file changes nothing.

argv: ports-json bundle.pem server-pid config-path cert-path key-path new-cert new-key log-path"""
import os
import shutil
import signal
import ssl
import time

from common import ALICE, Raw, args, check

ports, ctx, extra = args()
pid, config, cert, key, new_cert, new_key, log = extra
pid = int(pid)


def der_of(path):
    return ssl.PEM_cert_to_DER_cert(open(path).read())


def peer(r):
    return r.sock.getpeercert(binary_form=True)


def wait_log(text, count):
    deadline = time.time() + 20
    while open(log).read().count(text) < count:
        if time.time() > deadline:
            raise AssertionError("the log never says %r %d times" % (text, count))
        time.sleep(0.05)


first = der_of(cert)
second = der_of(new_cert)

old = Raw(ports["imaps"], ctx, implicit=True)
old.line()
check(peer(old) == first, "the first certificate before the reload")
check(old.cmd('a LOGIN %s "%s"' % ALICE).startswith("a OK"), "login")

shutil.copy(new_cert, cert)
shutil.copy(new_key, key)
os.kill(pid, signal.SIGHUP)
wait_log("configuration reloaded", 1)

new = Raw(ports["imaps"], ctx, implicit=True)
new.line()
check(peer(new) == second, "a new connection sees the new certificate")
check(new.cmd('a LOGIN %s "%s"' % ALICE).startswith("a OK"), "login on the new one")
check(old.cmd("b NOOP").startswith("b OK"), "the old session goes on")
check(peer(old) == first, "with its own certificate")

# A broken file: refused, logged, and the running configuration stays.
good = open(config).read()
open(config, "w").write(good + "\n[limits\nbroken")
os.kill(pid, signal.SIGHUP)
wait_log("reload refused", 1)
r = Raw(ports["imaps"], ctx, implicit=True)
r.line()
check(peer(r) == second, "still the second certificate after a refused reload")
check(r.cmd('a LOGIN %s "%s"' % ALICE).startswith("a OK"), "still serving")
check(old.cmd("c NOOP").startswith("c OK"), "the old session still goes on")

# A limit changed in the file applies to new sessions: a longer line is now refused.
open(config, "w").write(good.replace("[auth]", "[limits]\nmax_line_length = 1024\n[auth]", 1))
os.kill(pid, signal.SIGHUP)
wait_log("configuration reloaded", 2)
r = Raw(ports["imaps"], ctx, implicit=True)
r.line()
reply = r.cmd("x NOOP " + "a" * 2000)
check(reply.startswith("x BAD") or reply.startswith("* BAD"), "the new line limit applies", reply)
print("reload passed")
