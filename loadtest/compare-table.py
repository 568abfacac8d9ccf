#!/usr/bin/env python3
"""Markdown table of ours/theirs ratios from loadtest/compare's JSON reports.

usage: compare-table.py OUT_DIR COMMAND MACHINE SCENARIO...
"""
import json
import os
import sys

out, command, machine, scenarios = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]


def load(side, name):
    path = os.path.join(out, f"{side}-{name}.json")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        err = os.path.join(out, f"{side}-{name}.err")
        reason = "no report"
        if os.path.exists(err):
            lines = [l.strip() for l in open(err, errors="replace") if l.strip()]
            if lines:
                reason = lines[-1]
        return {"error": reason}


def failure(r):
    """Why a run produced nothing, or None when it produced figures."""
    if r.get("error"):
        return r["error"]
    if r.get("ops", 0) == 0:
        first = r.get("first_failure") or ", ".join(r.get("failures", {})) or "no operation succeeded"
        return first
    return None


def g(r, *path):
    for p in path:
        if r is None:
            return None
        r = r.get(p)
    return r


def fmt(v, unit=""):
    if v is None:
        return "–"
    if v >= 100:
        s = f"{v:,.0f}"
    elif v >= 10:
        s = f"{v:.1f}"
    else:
        s = f"{v:.2f}"
    return s + unit


# (label, path, higher_is_better, unit)
THROUGHPUT = ("ops/s", ("ops_per_second",), True, "")
PER_CORE = ("ops per server core-second", ("server", "ops_per_core_second"), True, "")
P99 = ("p99 latency", ("latency", "p99_us"), False, " µs")
MBS = ("MB/s received", ("mb_per_second",), True, "")
IDLE_PSS = ("server PSS per idle session (marginal)", ("idle", "marginal_pss_per_session_kib"), False, " KiB")
IDLE_RSS = ("server RSS per idle session (marginal)", ("idle", "marginal_rss_per_session_kib"), False, " KiB")
IDLE_TOTAL = ("server PSS per session (whole run)", ("idle", "pss_per_session_kib"), False, " KiB")

METRICS = {
    "imap-login": [("logins/s (implicit TLS)",) + THROUGHPUT[1:], PER_CORE, P99],
    "imap-churn": [("sessions/s (LOGIN, SELECT, FETCH, STORE, LOGOUT)",) + THROUGHPUT[1:], PER_CORE, P99],
    "imap-login-starttls": [("logins/s (STARTTLS)",) + THROUGHPUT[1:], PER_CORE, P99],
    "imap-fetch": [("FETCH/s",) + THROUGHPUT[1:], MBS, PER_CORE, P99],
    "pop3-retr": [("RETR/s",) + THROUGHPUT[1:], MBS, PER_CORE, P99],
    "imap-mixed": [("mixed ops/s",) + THROUGHPUT[1:], PER_CORE, P99],
    "imap-append": [("APPEND/s",) + THROUGHPUT[1:], PER_CORE, P99],
    "imap-sort": [("UID SORT (REVERSE DATE) of the mailbox /s",) + THROUGHPUT[1:], PER_CORE, P99],
    "imap-thread": [("UID THREAD REFERENCES of the mailbox /s",) + THROUGHPUT[1:], PER_CORE, P99],
    "imap-search-text": [("UID SEARCH TEXT word of the mailbox /s",) + THROUGHPUT[1:], PER_CORE, P99],
    "imap-search-scan": [("UID SEARCH OR TEXT word TEXT word /s",) + THROUGHPUT[1:], PER_CORE, P99],
    "imap-idle": [IDLE_PSS, IDLE_RSS, IDLE_TOTAL],
    "imap-idle-loggedin": [IDLE_PSS, IDLE_RSS, IDLE_TOTAL],
    "smtp-submit": [("messages/s (AUTH, implicit TLS)",) + THROUGHPUT[1:], PER_CORE, P99],
    "smtp-inbound": [("messages/s (STARTTLS)",) + THROUGHPUT[1:], PER_CORE, P99],
}

rows = []
for s in scenarios:
    theirs, ours = load("theirs", s), load("ours", s)
    ft, fo = failure(theirs), failure(ours)
    for label, path, higher, unit in METRICS.get(s, []):
        t, o = g(theirs, *path), g(ours, *path)
        if fo or ft:
            note = []
            if fo:
                note.append(f"ringpost n/a: {fo}")
            if ft:
                note.append(f"peer n/a: {ft}")
            rows.append((s, label, "–" if ft else fmt(t, unit), "–" if fo else fmt(o, unit), "n/a", "; ".join(note)))
            continue
        if t and o:
            ratio = o / t
            ahead = (ratio > 1) == higher
            note = "ringpost ahead" if ahead else "**ringpost behind**"
            rows.append((s, label, fmt(t, unit), fmt(o, unit), f"{ratio:.3g}", note))
        else:
            rows.append((s, label, fmt(t, unit), fmt(o, unit), "n/a", "no figure"))

st, so = load("theirs", "smtp-source"), load("ours", "smtp-source")
if st.get("error") == "no report" and so.get("error") == "no report":
    pass  # not run (SMTP_SOURCE_MESSAGES=0)
elif st.get("error") and st["error"] == "smtp-source not installed":
    rows.append(("smtp-source", "messages/s", "–", "–", "n/a", "smtp-source not installed"))
else:
    t, o = st.get("ops_per_second") or None, so.get("ops_per_second") or None
    notes = []
    if so.get("error"):
        notes.append(f"ringpost n/a: {so['error']}")
    if st.get("error"):
        notes.append(f"peer n/a: {st['error']}")
    ratio = f"{o / t:.3g}" if t and o else "n/a"
    if t and o:
        notes.append("ringpost ahead" if o > t else "**ringpost behind**")
    rows.append(("smtp-source (Postfix's, plaintext inbound)", "messages/s", fmt(t), fmt(o), ratio, "; ".join(notes)))

# The first text searches of the seeded mailbox, timed apart (ringpost builds its full-text
# index during the first).
ft, fo = load("theirs", "first-search"), load("ours", "first-search")
for key, label in (("first_seconds", "first UID SEARCH TEXT (ringpost builds its index)"),
                   ("second_seconds", "second UID SEARCH TEXT")):
    t, o = ft.get(key), fo.get(key)
    if t and o:
        rows.append(("imap-search-text", label + ", wall time", f"{t:.3g} s", f"{o:.3g} s",
                     f"{o / t:.3g}", "ringpost ahead" if o < t else "**ringpost behind**"))

print("## ringpost vs Dovecot 2.3 / Postfix 3.7\n")
print(f"Command: `{command}`  ")
print(f"Machine: {machine}. Client and servers share the machine.\n")
print("| scenario | metric | Dovecot/Postfix | ringpost | ours/theirs | note |")
print("| --- | --- | ---: | ---: | ---: | --- |")
for r in rows:
    print("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |")
