"""An HTTPS server for small documents: MTA-STS policies (RFC 8461 §3.3) for
tests/e2e_outbound.rs, an OAuth issuer's JWKS for tests/e2e_oauth.rs.

  mta_sts_server.py ADDRESS PORT CERT KEY HOST=FILE | HOST/PATH=FILE ...

HOST=FILE serves GET /.well-known/mta-sts.txt with the contents of FILE (text/plain) to
requests for HOST (the Host header, as mta-sts.<domain>); HOST/PATH=FILE serves /PATH
(application/json for a .json FILE). FILE is read at each request. 404 otherwise; prints
"listening" once it accepts connections and one line per request ("GET HOST PATH STATUS")
to stdout.
"""
import http.server
import ssl
import sys

address, port, cert, key, *pairs = sys.argv[1:]
policies = dict(p.split("=", 1) for p in pairs)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        path = policies.get(host + self.path)
        if path is None and self.path == "/.well-known/mta-sts.txt":
            path = policies.get(host)
        if path is None:
            body, status, ctype = b"not found\n", 404, "text/plain"
        else:
            with open(path, "rb") as f:
                body, status = f.read(), 200
            ctype = "application/json" if path.endswith(".json") else "text/plain; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        print("GET", host, self.path, status, flush=True)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer((address, int(port)), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print("listening", flush=True)
server.serve_forever()
