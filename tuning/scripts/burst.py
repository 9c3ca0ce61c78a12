#!/usr/bin/env python3
"""A burst of simultaneous clamd connections: N non-blocking connects issued at once,
then zPING on each; per connection, the time from connect() to PONG.

What a full listen backlog does to a burst:
  TCP:  the kernel drops the SYN (or the handshake's last ACK) it has no queue room for,
        and the client retransmits after 1 s (then 3 s, 7 s...): connections taking
        >= 1 s are the ones that hit a full backlog.
  UNIX: connect() on a full backlog fails at once with EAGAIN (non-blocking, as here;
        a blocking client sleeps in connect() instead).

usage: burst.py (--tcp HOST:PORT | --unix PATH) [-n 1000] [--rounds 3] [--timeout 15]
Prints one line per round: ok, failed (with the errno names), slow (>= 1 s), p50, p99, max.
"""
import argparse
import errno
import os
import selectors
import socket
import time


def one_round(args):
    sel = selectors.DefaultSelector()
    start = {}
    failed = {}
    done = []
    socks = []
    t0 = time.monotonic()
    for i in range(args.n):
        if args.unix:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            addr = args.unix
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            host, port = args.tcp.rsplit(":", 1)
            addr = (host, int(port))
        s.setblocking(False)
        start[s] = time.monotonic()
        rc = s.connect_ex(addr)
        if rc in (0, errno.EINPROGRESS):
            sel.register(s, selectors.EVENT_WRITE, "connecting")
            socks.append(s)
        else:
            failed[errno.errorcode.get(rc, str(rc))] = failed.get(errno.errorcode.get(rc, str(rc)), 0) + 1
            s.close()
    issued = time.monotonic() - t0
    deadline = time.monotonic() + args.timeout
    pending = len(socks)
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            if key.data == "connecting":
                rc = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if rc:
                    name = errno.errorcode.get(rc, str(rc))
                    failed[name] = failed.get(name, 0) + 1
                    sel.unregister(s); s.close(); pending -= 1
                    continue
                try:
                    s.send(b"zPING\0")
                except OSError as e:
                    name = errno.errorcode.get(e.errno, str(e.errno))
                    failed[name] = failed.get(name, 0) + 1
                    sel.unregister(s); s.close(); pending -= 1
                    continue
                sel.modify(s, selectors.EVENT_READ, "waiting")
            else:
                try:
                    data = s.recv(16)
                except OSError as e:
                    data = None
                    name = errno.errorcode.get(e.errno, str(e.errno))
                if data == b"PONG\0":
                    done.append(time.monotonic() - start[s])
                else:
                    name = name if data is None else "bad-reply"
                    failed[name] = failed.get(name, 0) + 1
                sel.unregister(s); s.close(); pending -= 1
    if pending:
        failed["timeout"] = pending
        for key in list(sel.get_map().values()):
            key.fileobj.close()
    done.sort()
    pct = lambda q: done[min(len(done) - 1, int(q * len(done)))] if done else float("nan")
    slow = sum(1 for d in done if d >= 1.0)
    return (f"n={args.n} ok={len(done)} failed={sum(failed.values())} "
            f"{dict(sorted(failed.items())) if failed else ''} slow>=1s={slow} "
            f"p50={pct(0.5)*1e3:.1f}ms p99={pct(0.99)*1e3:.1f}ms max={(done[-1] if done else 0)*1e3:.1f}ms "
            f"(connects issued in {issued*1e3:.0f}ms)")


def main():
    p = argparse.ArgumentParser()
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--tcp")
    g.add_argument("--unix")
    p.add_argument("-n", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--timeout", type=float, default=15.0)
    args = p.parse_args()
    for r in range(args.rounds):
        print(f"round {r + 1}: {one_round(args)}", flush=True)
        time.sleep(0.5)


if __name__ == "__main__":
    main()
