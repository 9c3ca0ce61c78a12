#!/usr/bin/env python3
"""Why a restart of ringscan can fail with EADDRINUSE, and the one-line fix, shown with
plain sockets: listeners bound the way ringscan binds them (SO_REUSEPORT, with or
without SO_REUSEADDR) serve a few connections that the server side closes first (so its
side sits in TIME_WAIT); then a plain bind with SO_REUSEADDR, as ringscan's free-port
probe (std's TcpListener::bind) does, tries the same port."""
import socket


def trial(reuseaddr):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if reuseaddr:
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    port = ls.getsockname()[1]
    ls.listen(16)
    for _ in range(5):
        c = socket.create_connection(("127.0.0.1", port))
        s, _ = ls.accept()
        s.close()  # the server closes first: its side goes to TIME_WAIT
        c.recv(1)
        c.close()
    ls.close()
    probe = socket.socket()
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind(("127.0.0.1", port))
        result = "bind ok"
    except OSError as e:
        result = f"bind failed: {e}"
    probe.close()
    label = "SO_REUSEPORT + SO_REUSEADDR" if reuseaddr else "SO_REUSEPORT only (ringscan today)"
    print(f"listener {label}: restart probe on port {port}: {result}")


trial(False)
trial(True)
