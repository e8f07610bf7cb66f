#!/usr/bin/env python3
"""TEST DOUBLE of Redis 7.4's hash-field expiry (HEXPIRE), which this machine's Redis (7.0) has not:
a proxy in front of a real redis-server that answers COMMAND INFO HPEXPIRETIME as a server that
knows the command, and HPEXPIRETIME from a table; every other command goes to the real server.

  redis-field-ttl.py <listen-port> <upstream-port> <ttls.json>

ttls.json: {"<key>": {"<field>": <unix ms>}}; a field it does not name has no expiry of its own (-1).
"""
import json
import socket
import socketserver
import sys

LISTEN, UPSTREAM, TABLE = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]


def read_message(f):
    """One RESP message, as its raw bytes and, for an array of bulk strings (a command), its parts."""
    line = f.readline()
    if not line:
        return None, None
    kind, rest = line[:1], line[1:-2]
    if kind == b"$":
        n = int(rest)
        return (line, rest) if n < 0 else (line + f.read(n + 2), None)
    if kind == b"*":
        n = int(rest)
        raw, parts = line, []
        for _ in range(max(n, 0)):
            r, _ = read_message(f)
            raw += r
            parts.append(r.split(b"\r\n", 1)[1][:-2] if r[:1] == b"$" else r)
        return raw, parts
    return line, None


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        up = socket.create_connection(("127.0.0.1", UPSTREAM))
        upf = up.makefile("rb")
        while True:
            raw, parts = read_message(self.rfile)
            if raw is None:
                break
            name = [p.upper() for p in (parts or [])[:2]]
            if name == [b"COMMAND", b"INFO"] and parts[2].upper() == b"HPEXPIRETIME":
                self.wfile.write(b"*1\r\n*1\r\n$12\r\nhpexpiretime\r\n")
            elif name[:1] == [b"HPEXPIRETIME"]:
                with open(TABLE) as t:
                    ttls = json.load(t).get(parts[1].decode(errors="replace"), {})
                fields = parts[4:]
                self.wfile.write(b"*%d\r\n" % len(fields) + b"".join(b":%d\r\n" % ttls.get(f.decode(errors="replace"), -1) for f in fields))
            else:
                up.sendall(raw)
                reply, _ = read_message(upf)
                self.wfile.write(reply)
            self.wfile.flush()
        up.close()


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True


Server(("127.0.0.1", LISTEN), Handler).serve_forever()
