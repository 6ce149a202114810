#!/usr/bin/python3 -I
"""TCP forwarder so each test host's SQL servers answer on the host's own address.

usage: sqlproxy.py TARGET_HOST LISTEN_ADDR:PORT=TARGET_PORT ...
e.g.   sqlproxy.py 127.0.0.1 127.0.0.11:3306=3306 127.0.0.11:5432=5432

A product that connects to `{server.host}:3306` for a test host (127.0.0.11)
reaches the machine's one MariaDB on 127.0.0.1:3306, as it would reach the SQL
server on a real fleet server. Addresses that cannot be bound are reported on
stderr and skipped.
"""

import asyncio
import sys


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


def handler(target_host, target_port):
    async def handle(cr, cw):
        try:
            sr, sw = await asyncio.open_connection(target_host, target_port)
        except OSError:
            cw.close()
            return
        await asyncio.gather(pipe(cr, sw), pipe(sr, cw))

    return handle


async def main(argv):
    target = argv[0]
    servers = []
    for spec in argv[1:]:
        listen, _, tport = spec.partition("=")
        addr, _, lport = listen.rpartition(":")
        try:
            srv = await asyncio.start_server(handler(target, int(tport)), addr, int(lport), reuse_address=True)
            servers.append(srv)
        except OSError as e:
            sys.stderr.write("sqlproxy: cannot listen on %s: %s\n" % (listen, e))
    sys.stderr.write("sqlproxy: listening on %d address(es)\n" % len(servers))
    sys.stderr.flush()
    if not servers:
        return 1
    await asyncio.gather(*(s.serve_forever() for s in servers))
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__)
        sys.exit(2)
    try:
        sys.exit(asyncio.run(main(sys.argv[1:])))
    except KeyboardInterrupt:
        sys.exit(0)
