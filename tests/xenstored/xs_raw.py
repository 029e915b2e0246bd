# SPDX-License-Identifier: GPL-2.0-only
"""A raw xenstore wire-protocol client (xen/io/xs_wire.h) for tests that
need to send what libxenstore never would: bad lengths, unknown types,
missing NULs, half messages."""

import os
import socket
import struct

HDR = struct.Struct("<IIII")   # type, req_id, tx_id, len (host order: x86)
PAYLOAD_MAX = 4096

# enum xsd_sockmsg_type
CONTROL, DIRECTORY, READ, GET_PERMS, WATCH, UNWATCH = range(6)
TRANSACTION_START, TRANSACTION_END, INTRODUCE, RELEASE = range(6, 10)
GET_DOMAIN_PATH, WRITE, MKDIR, RM, SET_PERMS, WATCH_EVENT = range(10, 16)
ERROR, IS_DOMAIN_INTRODUCED, RESUME, SET_TARGET = range(16, 20)
RESET_WATCHES, DIRECTORY_PART = 21, 22


class Closed(Exception):
    """The daemon closed the connection."""


class Conn:
    def __init__(self, path=None, timeout=5.0):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # Blocking connect: waits for room in the listen backlog.
        self.s.connect(path or os.environ["XENSTORED_PATH"])
        self.s.settimeout(timeout)
        self.req_id = 0

    def close(self):
        self.s.close()

    def send_raw(self, data):
        self.s.sendall(data)

    @staticmethod
    def pack(mtype, payload=b"", req_id=0, tx_id=0, length=None):
        if length is None:
            length = len(payload)
        return HDR.pack(mtype, req_id, tx_id, length) + payload

    def send(self, mtype, payload=b"", tx_id=0, length=None):
        self.req_id += 1
        self.send_raw(self.pack(mtype, payload, self.req_id, tx_id, length))
        return self.req_id

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise Closed()
            buf += chunk
        return buf

    def recv(self):
        """Returns (type, req_id, tx_id, body)."""
        t, r, x, n = HDR.unpack(self._read(HDR.size))
        return t, r, x, self._read(n)

    def recv_reply(self):
        """Next message that is not a watch event."""
        while True:
            m = self.recv()
            if m[0] != WATCH_EVENT:
                return m

    def call(self, mtype, payload=b"", tx_id=0):
        """Sends a request; returns (type, body) of its reply."""
        rid = self.send(mtype, payload, tx_id)
        t, r, _, body = self.recv_reply()
        assert r == rid, "reply %d for request %d" % (r, rid)
        return t, body

    def expect_error(self, name, mtype, payload=b"", tx_id=0):
        t, body = self.call(mtype, payload, tx_id)
        assert (t, body) == (ERROR, name.encode() + b"\0"), \
            "type %d: expected %s, got type %d %r" % (mtype, name, t, body)

    def expect_closed(self):
        """The daemon must close this connection (EOF, not a reply)."""
        try:
            while True:
                self.recv()
        except (Closed, ConnectionResetError):
            return
        except socket.timeout:
            raise AssertionError("connection not closed by the daemon")

    def write(self, path, value):
        t, body = self.call(WRITE, path.encode() + b"\0" + value)
        assert (t, body) == (WRITE, b"OK\0"), (t, body)

    def read(self, path):
        t, body = self.call(READ, path.encode() + b"\0")
        assert t == READ, (t, body)
        return body
