#!/usr/bin/env python3
"""Copies every key of one Redis into another, key by key, with each type's own commands.

Why not an RDB, DUMP/RESTORE or replication: the host runs Redis 7.4, whose RDB (format 12) and
DUMP payloads ElastiCache's engines (Valkey 8.0, Redis OSS 7.1) refuse. Commands every version
speaks carry the data across: strings, hashes, lists, sets, sorted sets and streams (entries), each
key with its time to live. Python's standard library only (the host's python3); RESP by hand.

  sofia-redis-copy.py --source HOST:PORT --target HOST:PORT [--source-password-file F]
      [--target-password-file F] [--source-tls] [--target-tls] [--replace] [--live] [--batch N]

The target must be empty unless --replace, which empties it first (a restore). Passwords come from
files, never arguments. Exit 0 with "copied N keys" once the target holds what was copied and the
source's key count did not change meanwhile (but for keys that expired), or, with --live (a
backup of a cache its apps keep writing), whatever the source held at each key's turn: no point in
time, each key whole; 1 with the reason otherwise. Nothing is skipped: a key it cannot carry whole (a type it does not know, a stream with
consumer groups or no entries, a hash whose fields have their own expiry (Redis 7.4's HEXPIRE,
which ElastiCache's engines do not have), a database other than 0) stops it, named.
"""
import argparse
import socket
import ssl
import sys
import time


class RedisError(Exception):
    pass


class Conn:
    """One RESP2 connection: commands go out in pipelines, replies come back in order."""

    def __init__(self, address, password_file=None, tls=False, timeout=30):
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise SystemExit(f"sofia-redis-copy: '{address}' is not HOST:PORT")
        sock = socket.create_connection((host, int(port)), timeout=timeout)
        if tls:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        self.sock = sock
        self.buf = sock.makefile("rb")
        self.address = address
        if password_file:
            with open(password_file, "rb") as f:
                password = f.read().strip()
            self.call(b"AUTH", password)

    def send(self, commands):
        out = bytearray()
        for args in commands:
            out += b"*%d\r\n" % len(args)
            for a in args:
                a = a if isinstance(a, bytes) else str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)

    def reply(self):
        line = self.buf.readline()
        if not line:
            raise RedisError(f"{self.address} closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RedisError(f"{self.address}: {rest.decode(errors='replace')}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.buf.read(n + 2)
            if len(data) != n + 2:
                raise RedisError(f"{self.address} closed the connection in the middle of a reply")
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise RedisError(f"{self.address}: unexpected reply {line[:40]!r}")

    def call(self, *args):
        self.send([args])
        return self.reply()

    def pipeline(self, commands):
        if not commands:
            return []
        self.send(commands)
        return [self.reply() for _ in commands]


def pairs(flat):
    return [flat[i:i + 2] for i in range(0, len(flat), 2)]


def has_command(conn, name):
    """Whether the server knows a command (COMMAND INFO answers nil for one it does not)."""
    info = conn.call(b"COMMAND", b"INFO", name)
    return bool(info) and info[0] is not None


def read_key(src, key, kind, field_ttls=False):
    """The commands that rebuild one key on the target (after a DEL), from the source."""
    if kind == b"string":
        value = src.call(b"GET", key)
        return [] if value is None else [[b"SET", key, value]]
    if kind == b"hash":
        flat = src.call(b"HGETALL", key)
        if field_ttls and flat:
            fields = flat[0::2]
            # Per field: -1 no expiry of its own, -2 no such field (gone since), else when it expires.
            for i in range(0, len(fields), 2000):
                chunk = fields[i:i + 2000]
                if any(t >= 0 for t in src.call(b"HPEXPIRETIME", key, b"FIELDS", len(chunk), *chunk)):
                    raise RedisError(f"hash {key!r} has fields with their own expiry (HEXPIRE), which this copy cannot carry (ElastiCache's engines have no such expiry): nothing was skipped, so the copy stops here")
        return [[b"HSET", key, *flat[i:i + 2000]] for i in range(0, len(flat), 2000)]
    if kind == b"list":
        items = src.call(b"LRANGE", key, 0, -1)
        return [[b"RPUSH", key, *items[i:i + 1000]] for i in range(0, len(items), 1000)]
    if kind == b"set":
        items = src.call(b"SMEMBERS", key)
        return [[b"SADD", key, *items[i:i + 1000]] for i in range(0, len(items), 1000)]
    if kind == b"zset":
        flat = src.call(b"ZRANGE", key, 0, -1, b"WITHSCORES")
        out = []
        for chunk in range(0, len(flat), 2000):
            args = []
            for member, score in pairs(flat[chunk:chunk + 2000]):
                args += [score, member]
            out.append([b"ZADD", key, *args])
        return out
    if kind == b"stream":
        if src.call(b"XINFO", b"GROUPS", key):
            raise RedisError(f"stream {key!r} has consumer groups, which this copy cannot carry: nothing was skipped, so the copy stops here")
        out = []
        for entry_id, fields in src.call(b"XRANGE", key, b"-", b"+"):
            out.append([b"XADD", key, entry_id, *fields])
        if not out:
            raise RedisError(f"stream {key!r} is empty (its last id cannot be carried): nothing was skipped, so the copy stops here")
        return out
    raise RedisError(f"key {key!r} is a {kind.decode()}, which this copy cannot carry: nothing was skipped, so the copy stops here")


def main():
    p = argparse.ArgumentParser(prog="sofia-redis-copy")
    p.add_argument("--source", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--source-password-file")
    p.add_argument("--target-password-file")
    p.add_argument("--source-tls", action="store_true")
    p.add_argument("--target-tls", action="store_true")
    p.add_argument("--live", action="store_true", help="the source is written meanwhile: its key count may change")
    p.add_argument("--replace", action="store_true", help="empty the target first")
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--expect-keys", type=int, help="the source must hold this many keys (a backup's recorded count)")
    p.add_argument("--expect-expiring", type=int, default=0, help="of which this many have a time to live: those may have expired when it loaded")
    a = p.parse_args()
    try:
        src = Conn(a.source, a.source_password_file, tls=a.source_tls)
        dst = Conn(a.target, a.target_password_file, tls=a.target_tls)
        # Database 0 alone is carried (Sofia uses no other): a key elsewhere stops the copy before it starts.
        others = [line for line in src.call(b"INFO", b"keyspace").decode().splitlines() if line.startswith("db") and not line.startswith("db0:")]
        if others:
            raise RedisError(f"the source holds keys outside database 0 ({', '.join(others)}), which this copy does not carry")
        # Hash fields with their own expiry exist from Redis 7.4 on: asked only of a source that has them.
        field_ttls = has_command(src, b"HPEXPIRETIME")
        before = src.call(b"DBSIZE")
        if a.expect_keys is not None and not a.expect_keys - a.expect_expiring <= before <= a.expect_keys:
            expected = f"{a.expect_keys}" if not a.expect_expiring else f"{a.expect_keys - a.expect_expiring} to {a.expect_keys} ({a.expect_expiring} with a time to live, which may have expired)"
            raise RedisError(f"the source holds {before} keys where {expected} were expected (the backup's own count): refusing to copy it")
        if dst.call(b"DBSIZE"):
            if not a.replace:
                raise RedisError(f"the target {a.target} already holds keys; give --replace to empty it first (a restore)")
            dst.call(b"FLUSHALL", b"ASYNC")
        copied = set()
        expiring = []  # when each copied key with a time to live expires, monotonic seconds
        cursor = b"0"
        while True:
            cursor, keys = src.call(b"SCAN", cursor, b"COUNT", a.batch)
            if keys:
                kinds = src.pipeline([[b"TYPE", k] for k in keys])
                # When each expires, in absolute milliseconds (-1: never): carried exactly, whatever the copy's own time.
                ttls = src.pipeline([[b"PEXPIRETIME", k] for k in keys])
                writes = []
                for key, kind, ttl in zip(keys, kinds, ttls):
                    if kind == b"none":  # gone since the scan found it
                        continue
                    rebuild = read_key(src, key, kind, field_ttls)
                    if not rebuild:
                        continue
                    writes += [[b"DEL", key], *rebuild]
                    if ttl >= 0:
                        writes.append([b"PEXPIREAT", key, ttl])
                        expiring.append(ttl / 1000)
                    copied.add(key)
                dst.pipeline(writes)
            if cursor == b"0":
                break
            print(f"sofia-redis-copy: {len(copied)} keys so far", file=sys.stderr, flush=True)
        held = dst.call(b"DBSIZE")
        after = src.call(b"DBSIZE")
        # Keys copied with a time to live may have expired since, on the target as they would have on the source.
        expired = sum(1 for t in expiring if t <= time.time())
        if after != before and not a.live and not (after < before and before - after <= expired):
            raise RedisError(f"the source went from {before} to {after} keys while it was copied: something writes to it; stop its writers and copy again")
        if not len(copied) - expired <= held <= len(copied):
            raise RedisError(f"the target holds {held} keys after {len(copied)} were copied (does something else write to it?)")
        live = f" (live: it held {before} keys when the copy began, {after} when it ended)" if a.live else ""
        print(f"sofia-redis-copy: copied {len(copied)} keys from {a.source} to {a.target}{live}")
    except (RedisError, OSError) as e:
        print(f"sofia-redis-copy: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
