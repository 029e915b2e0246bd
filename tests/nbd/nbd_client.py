# SPDX-License-Identifier: GPL-2.0-only
"""A small raw-socket NBD client for the malformed-client, cycle and pause
tests: it speaks exactly the bytes a test asks for, including wrong ones,
which real clients (libnbd, qemu) never send."""

import socket
import struct

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REPLY_MAGIC = 0x3E889045565A9
REQUEST_MAGIC = 0x25609513
SIMPLE_MAGIC = 0x67446698
CHUNK_MAGIC = 0x668E33EF

OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_STARTTLS = 1, 2, 3, 5
OPT_INFO, OPT_GO, OPT_STRUCTURED_REPLY = 6, 7, 8
OPT_LIST_META, OPT_SET_META = 9, 10
REP_ACK, REP_SERVER, REP_INFO, REP_META = 1, 2, 3, 4
REP_ERR_UNSUP, REP_ERR_POLICY, REP_ERR_INVALID = 0x80000001, 0x80000002, 0x80000003
REP_ERR_UNKNOWN, REP_ERR_TOO_BIG = 0x80000006, 0x80000009
CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH, CMD_TRIM = 0, 1, 2, 3, 4
CMD_WRITE_ZEROES, CMD_BLOCK_STATUS = 6, 7
EPERM, EIO, EINVAL, ENOSPC = 1, 5, 22, 28


class Closed(Exception):
    """The server closed the connection."""


class Client:
    def __init__(self, path=None, tcp=None, timeout=10.0):
        if tcp:
            host, port = tcp.rsplit(":", 1)
            self.s = socket.create_connection((host.strip("[]"), int(port)),
                                              timeout=timeout)
        else:
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.s.settimeout(timeout)
            self.s.connect(path)
        self.size = None
        self.flags = None

    def close(self):
        self.s.close()

    def send(self, b):
        self.s.sendall(b)

    def recv(self, n):
        out = b""
        while len(out) < n:
            k = self.s.recv(n - len(out))
            if not k:
                raise Closed()
            out += k
        return out

    def closed_by_server(self, timeout=10.0):
        """True once the server has closed (EOF or reset)."""
        self.s.settimeout(timeout)
        try:
            while True:
                if not self.s.recv(65536):
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def greet(self, cflags=3):
        g = self.recv(18)
        magic, opt, hflags = struct.unpack(">QQH", g)
        assert magic == NBDMAGIC and opt == IHAVEOPT, g
        assert hflags == 3, hflags
        self.send(struct.pack(">I", cflags))

    def opt(self, opt, data=b""):
        self.send(struct.pack(">QII", IHAVEOPT, opt, len(data)) + data)

    def opt_reply(self, opt):
        magic, o, typ, ln = struct.unpack(">QIII", self.recv(20))
        assert magic == REPLY_MAGIC and o == opt, (hex(magic), o, opt)
        return typ, self.recv(ln)

    def go(self, name=b"", structured=False, meta=False):
        self.greet()
        if structured:
            self.opt(OPT_STRUCTURED_REPLY)
            assert self.opt_reply(OPT_STRUCTURED_REPLY)[0] == REP_ACK
        if meta:
            q = b"base:allocation"
            self.opt(OPT_SET_META, struct.pack(">I", len(name)) + name +
                     struct.pack(">II", 1, len(q)) + q)
            assert self.opt_reply(OPT_SET_META)[0] == REP_META
            assert self.opt_reply(OPT_SET_META)[0] == REP_ACK
        self.opt(OPT_GO, struct.pack(">I", len(name)) + name +
                 struct.pack(">HH", 1, 3))
        while True:
            typ, data = self.opt_reply(OPT_GO)
            if typ == REP_INFO and struct.unpack(">H", data[:2])[0] == 0:
                self.size, self.flags = struct.unpack(">QH", data[2:])
            elif typ != REP_INFO:
                assert typ == REP_ACK, hex(typ)
                return

    def request(self, cmd, handle, offset, length, flags=0, data=b""):
        self.send(struct.pack(">IHHQQI", REQUEST_MAGIC, flags, cmd, handle,
                              offset, length) + data)

    def simple_reply(self, handle=None, read_len=0):
        magic, err, h = struct.unpack(">IIQ", self.recv(16))
        assert magic == SIMPLE_MAGIC, hex(magic)
        if handle is not None:
            assert h == handle, (h, handle)
        data = self.recv(read_len) if (read_len and not err) else b""
        return err, data, h

    def read(self, handle, offset, length):
        self.request(CMD_READ, handle, offset, length)
        err, data, _ = self.simple_reply(handle, length)
        assert err == 0, err
        return data

    def write(self, handle, offset, data, flags=0):
        self.request(CMD_WRITE, handle, offset, len(data), flags, data)
        return self.simple_reply(handle)[0]

    def disconnect(self):
        self.request(CMD_DISC, 0, 0, 0)
        assert self.closed_by_server()
        self.close()
