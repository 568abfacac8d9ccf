"""CREATE-SPECIAL-USE (RFC 6154 §3) with imaplib: the attribute is kept and listed."""
import imaplib

from common import ALICE, HOST, args, check

ports, ctx, _ = args()
m = imaplib.IMAP4_SSL(HOST, ports["imaps"], ssl_context=ctx)
m.login(*ALICE)
typ, caps = m.capability()
check(b"CREATE-SPECIAL-USE" in caps[0].split(), "CREATE-SPECIAL-USE advertised after login", caps)
typ, data = m._simple_command("CREATE", "Old-Mail", "(USE (\\Archive))")
check(typ == "OK", "CREATE with USE", data)
typ, data = m._simple_command("CREATE", "Stars", "(USE (\\Flagged))")
check(typ == "NO", "unsupported attribute refused", data)
typ, data = m.list('""', "Old-Mail")
check(typ == "OK" and data and b"\\Archive" in data[0], "LIST shows the attribute", data)
typ, data = m._simple_command("LIST", '(SPECIAL-USE)', '""', '"*"')
lines = m.untagged_responses.pop("LIST", [])
check(any(b"Old-Mail" in l and b"\\Archive" in l for l in lines), "LIST (SPECIAL-USE) includes it", lines)
m.logout()
print("special use passed")
