#!/usr/bin/python3
"""A hostile device for the OT test zone: accepts TCP connections and never answers.

usage: listener.py <bindIP> <tcpPort>[,<tcpPort>...] [udpPort,...]

Every TCP connection is accepted and then left alone: nothing is read, nothing is
written, so a client's request sits in the socket buffer until the client gives up.
UDP datagrams are read and dropped (an SNMP agent that ignores every community).
Connections are held until the client closes them; at most MAX_HELD are kept (the
oldest is closed first) so a buggy client cannot exhaust file descriptors.
"""
import selectors
import socket
import sys

MAX_HELD = 256

host = sys.argv[1] if len(sys.argv) > 1 else "0.0.0.0"
tcp_ports = [int(p) for p in (sys.argv[2] if len(sys.argv) > 2 else "502").split(",") if p]
udp_ports = [int(p) for p in (sys.argv[3] if len(sys.argv) > 3 else "").split(",") if p]

sel = selectors.DefaultSelector()
for port in tcp_ports:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(64)
    sel.register(s, selectors.EVENT_READ, "tcp")
for port in udp_ports:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((host, port))
    sel.register(u, selectors.EVENT_READ, "udp")

held = []
print("READY", host, "tcp", tcp_ports, "udp", udp_ports, flush=True)
while True:
    for key, _ in sel.select():
        if key.data == "tcp":
            conn, peer = key.fileobj.accept()
            held.append(conn)
            print("accepted", peer, "holding", len(held), flush=True)
            while len(held) > MAX_HELD:
                held.pop(0).close()
        else:
            key.fileobj.recvfrom(65535)
