"""Unit tests of the Python peer: the wire vectors of docs/test-vectors.json, names, the key file,
and the client handshake and message loop against small fake servers written here.

Run: python3 -m unittest clients/python/test_localsocket.py (npm test runs it from
test/python-peer.test.ts).
"""

import json
import os
import shutil
import socket
import stat
import sys
import tempfile
import threading
import time
import unittest

import localsocket as ls

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS_FILE = os.environ.get("LOCALSOCKET_VECTORS") or os.path.join(HERE, "..", "..", "docs", "test-vectors.json")
with open(VECTORS_FILE, encoding="utf-8") as f:
    VECTORS = json.load(f)
HS = VECTORS["handshake"]
KEY = bytes.fromhex(HS["key"])
NC = bytes.fromhex(HS["client_nonce"])
NS = bytes.fromhex(HS["server_nonce"])


def h(text):
    return bytes.fromhex(text)


def all_frames():
    return list(VECTORS["frames"].items()) + list(VECTORS["rpc"].items())


class HandshakeVectors(unittest.TestCase):
    def test_messages_match_the_vectors(self):
        self.assertEqual(ls.hello_message(NC), h(HS["hello"]))
        self.assertEqual(ls.server_mac(KEY, NC, NS), h(HS["server_mac"]))
        self.assertEqual(ls.server_proof_message(KEY, NC, NS), h(HS["server_proof"]))
        self.assertEqual(ls.client_mac(KEY, NC, NS), h(HS["client_mac"]))
        self.assertEqual(ls.client_proof_message(KEY, NC, NS), h(HS["client_proof"]))
        self.assertEqual(ls.BUSY_MESSAGE, h(HS["busy"]))
        self.assertEqual(ls.SERVER_LABEL, HS["server_label"].encode("ascii"))
        self.assertEqual(ls.CLIENT_LABEL, HS["client_label"].encode("ascii"))

    def test_sizes(self):
        self.assertEqual(len(h(HS["hello"])), 40)
        self.assertEqual(len(h(HS["server_proof"])), 72)
        self.assertEqual(len(h(HS["client_proof"])), 40)

    def test_key_file_text_parses_to_the_key(self):
        self.assertEqual(ls.parse_key_text(HS["key_file_text"]), KEY)

    def test_the_proofs_depend_on_key_nonces_and_role(self):
        other = bytes(32)
        self.assertNotEqual(ls.server_mac(other, NC, NS), ls.server_mac(KEY, NC, NS))
        self.assertNotEqual(ls.server_mac(KEY, NS, NC), ls.server_mac(KEY, NC, NS))
        self.assertNotEqual(ls.client_mac(KEY, NC, NS), ls.server_mac(KEY, NC, NS))


class SecurityDocVectors(unittest.TestCase):
    """docs/SECURITY.md carries a second set of handshake vectors (other nonces): the same code must
    produce them too."""

    def test_security_md_vectors(self):
        path = os.path.join(os.path.dirname(VECTORS_FILE), "SECURITY.md")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        block = text[text.index("### Test vectors"):]
        block = block[block.index("```text") + 7:]
        block = block[:block.index("```")]
        v = dict(line.split() for line in block.strip().splitlines())
        key, nc, ns = h(v["key"]), h(v["Nc"]), h(v["Ns"])
        self.assertEqual(ls.hello_message(nc), h(v["hello"]))
        self.assertEqual(ls.server_proof_message(key, nc, ns), h(v["server-proof"]))
        self.assertEqual(ls.client_proof_message(key, nc, ns), h(v["client-proof"]))
        self.assertEqual(ls.BUSY_MESSAGE, h(v["busy"]))


class FrameVectors(unittest.TestCase):
    def test_encoding_matches(self):
        for name, v in all_frames():
            with self.subTest(name):
                if v["type"] == "json":
                    self.assertEqual(ls.to_json(v["value"]).encode(), h(v["payload"]))
                    self.assertEqual(ls.encode_json_frame(v["value"]), h(v["frame"]))
                else:
                    self.assertEqual(ls.encode_frame(ls.FRAME_BINARY, h(v["payload"])), h(v["frame"]))

    def test_decoding_split_at_every_byte(self):
        for name, v in all_frames():
            frame = h(v["frame"])
            for cut in range(len(frame) + 1):
                with self.subTest(name, cut=cut):
                    decoder = ls.FrameDecoder()
                    got = decoder.push(frame[:cut]) + decoder.push(frame[cut:])
                    self.assertEqual(len(got), 1)
                    frame_type, payload = got[0]
                    self.assertEqual(payload, h(v["payload"]))
                    self.assertEqual(frame_type, ls.FRAME_JSON if v["type"] == "json" else ls.FRAME_BINARY)
                    if v["type"] == "json":
                        self.assertEqual(ls.parse_json(payload), v["value"])
                    self.assertEqual(decoder.buffered, 0)

    def test_many_frames_in_one_chunk_and_byte_by_byte(self):
        frames = all_frames()
        stream = b"".join(h(v["frame"]) for _, v in frames)
        decoder = ls.FrameDecoder()
        self.assertEqual([p for _, p in decoder.push(stream)], [h(v["payload"]) for _, v in frames])
        decoder = ls.FrameDecoder()
        got = []
        for i in range(len(stream)):
            got += decoder.push(stream[i:i + 1])
        self.assertEqual([p for _, p in got], [h(v["payload"]) for _, v in frames])

    def test_invalid_frames(self):
        for name, v in VECTORS["invalid_frames"].items():
            with self.subTest(name):
                decoder = ls.FrameDecoder(v["max_message_size"])
                data = h(v["bytes"])
                if v["error"] is None:
                    self.assertEqual(decoder.push(data), [])
                    continue
                with self.assertRaises(ls.LocalSocketError) as caught:
                    for frame_type, payload in decoder.push(data):
                        if frame_type == ls.FRAME_JSON:
                            try:
                                ls.parse_json(payload)
                            except ValueError:
                                raise ls.LocalSocketError("PROTOCOL_ERROR", "invalid JSON") from None
                self.assertEqual(caught.exception.code, v["error"])

    def test_too_large_is_refused_on_the_header_alone(self):
        decoder = ls.FrameDecoder(16)
        with self.assertRaises(ls.LocalSocketError) as caught:
            decoder.push(bytes([0x42, 0, 0, 0, 17]))
        self.assertEqual(caught.exception.code, "MESSAGE_TOO_LARGE")
        decoder = ls.FrameDecoder(16)
        self.assertEqual(decoder.push(bytes([0x42, 0, 0, 0, 16])), [])

    def test_sender_refuses_oversize(self):
        with self.assertRaises(ls.LocalSocketError) as caught:
            ls.encode_frame(ls.FRAME_BINARY, bytes(17), 16)
        self.assertEqual(caught.exception.code, "MESSAGE_TOO_LARGE")
        self.assertEqual(len(ls.encode_frame(ls.FRAME_BINARY, bytes(16), 16)), 21)

    def test_json_is_written_as_javascript_writes_it(self):
        self.assertEqual(ls.to_json([1.0, 1e21, 1e-7, 0.000001, 1e16, -0.5]), "[1,1e+21,1e-7,0.000001,10000000000000000,-0.5]")
        self.assertEqual(ls.to_json({"a": [True, None, "\u00e9\n"]}), '{"a":[true,null,"\u00e9\\n"]}')
        for bad in (float("nan"), {1: 2}, object()):
            with self.assertRaises(ls.LocalSocketError):
                ls.to_json(bad)

    def test_parse_json_is_strict(self):
        for bad in (b"NaN", b"[Infinity]", b"", b"\xff", b'{"a":'):
            with self.assertRaises(ValueError):
                ls.parse_json(bad)


class CloseVectors(unittest.TestCase):
    def test_codes_and_frames(self):
        close = VECTORS["close"]
        self.assertEqual(close["codes"], {k: getattr(ls.CloseCode, k) for k in close["codes"]})
        self.assertEqual(close["max_reason_bytes"], ls.MAX_CLOSE_REASON_BYTES)
        for name, v in close["frames"].items():
            params = v["value"]["params"]
            self.assertEqual(ls.encode_close_frame(params["code"], params["reason"]), h(v["frame"]), name)
            self.assertEqual(ls.read_close(params), (params["code"], params["reason"]), name)

    def test_valid_and_invalid_params(self):
        for name, v in VECTORS["close"]["valid_params"].items():
            self.assertEqual(ls.read_close(v["params"]), (v["code"], v["reason"]), name)
        for name, v in VECTORS["close"]["invalid_params"].items():
            with self.assertRaises(ls.LocalSocketError, msg=name) as caught:
                ls.read_close(v["params"])
            self.assertEqual(caught.exception.code, "PROTOCOL_ERROR", name)


class TempDirCase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="lspy-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class Names(TempDirCase):
    def test_safe_runtime_dir(self):
        run = os.path.join(self.dir, "run")
        os.mkdir(run, 0o700)
        os.chmod(run, 0o700)
        ep = ls.resolve_name("app", env={"XDG_RUNTIME_DIR": run + "/"})
        self.assertEqual(ep.address, run + "/localsocket/app")
        self.assertEqual(ep.private_dir, run + "/localsocket")

    def test_unsafe_or_relative_runtime_dir_falls_back_to_tmp(self):
        run = os.path.join(self.dir, "run")
        os.mkdir(run)
        os.chmod(run, 0o755)
        uid = os.getuid()
        ep = ls.resolve_name("app", env={"XDG_RUNTIME_DIR": run, "TMPDIR": "/var/tmp/"})
        self.assertEqual(ep.address, "/var/tmp/localsocket-%d/app" % uid)
        link = os.path.join(self.dir, "link")
        os.chmod(run, 0o700)
        os.symlink(run, link)
        ep = ls.resolve_name("app", env={"XDG_RUNTIME_DIR": link})
        self.assertEqual(ep.address, "/tmp/localsocket-%d/app" % uid)
        ep = ls.resolve_name("app", env={"XDG_RUNTIME_DIR": "relative/run", "TMP": "/t"})
        self.assertEqual(ep.address, "/t/localsocket-%d/app" % uid)

    def test_paths_and_invalid_names(self):
        self.assertEqual(ls.resolve_name("/a//b/../s", env={}).address, "/a/s")
        self.assertEqual(ls.resolve_name("d/s", env={}).address, os.path.join(os.getcwd(), "d/s"))
        self.assertIsNone(ls.resolve_name("/a/s", env={}).private_dir)
        for bad in ("", ".", "..", "a\0b", "x" * 256):
            with self.subTest(bad=bad[:10]), self.assertRaises(ls.LocalSocketError) as caught:
                ls.resolve_name(bad, env={})
            self.assertEqual(caught.exception.code, "INVALID_NAME")
        long_dir = "/t/" + "d" * 60
        ep = ls.resolve_name("x" * 60, env={"TMPDIR": long_dir})
        self.assertEqual(ep.address, "%s/localsocket-%d/%s" % (long_dir, os.getuid(), "x" * 60))
        self.assertEqual(ep.long_path, sys.platform.startswith("linux"))
        self.assertFalse(ls.resolve_name("x" * 60, env={"TMPDIR": "/t"}).long_path)

    def test_qt_names(self):
        self.assertEqual(ls.resolve_name("app", qt=True, env={"TMPDIR": "/q/"}).address, "/q/app")
        self.assertEqual(ls.resolve_name("app", qt=True, env={}).address, "/tmp/app")
        self.assertEqual(ls.resolve_name("/s/app", qt=True, env={}).address, "/s/app")
        os.symlink(self.dir, os.path.join(self.dir, "tmp-link"))
        linked = ls.resolve_name("app", qt=True, env={"TMPDIR": os.path.join(self.dir, "tmp-link") + "/"})
        self.assertEqual(linked.address, os.path.join(os.path.realpath(self.dir), "app"))

    def test_default_key_path(self):
        self.assertEqual(ls.default_key_path({"XDG_CONFIG_HOME": "/c/"}), "/c/localsocket/key")
        self.assertEqual(ls.default_key_path({"XDG_CONFIG_HOME": "rel"}), os.path.join(ls._home(), ".config/localsocket/key"))

    def test_private_dir_checks(self):
        with self.assertRaises(ls.LocalSocketError) as caught:
            ls.check_private_dir(os.path.join(self.dir, "missing"))
        self.assertEqual(caught.exception.code, "SERVER_NOT_FOUND")
        d = os.path.join(self.dir, "p")
        os.mkdir(d)
        os.chmod(d, 0o777)
        with self.assertRaises(ls.LocalSocketError) as caught:
            ls.check_private_dir(d)
        self.assertEqual(caught.exception.code, "ACCESS_DENIED")
        os.chmod(d, 0o700)
        ls.check_private_dir(d)
        link = os.path.join(self.dir, "l")
        os.symlink(d, link)
        with self.assertRaises(ls.LocalSocketError) as caught:
            ls.check_private_dir(link)
        self.assertEqual(caught.exception.code, "ACCESS_DENIED")


class KeyFile(TempDirCase):
    def write(self, name, text, mode=0o600):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def refused(self, path, code="ACCESS_DENIED"):
        with self.assertRaises(ls.LocalSocketError) as caught:
            ls.read_key_file(path)
        self.assertEqual(caught.exception.code, code)
        return caught.exception

    def test_reads_a_good_key(self):
        self.assertEqual(ls.read_key_file(self.write("k", HS["key_file_text"])), KEY)
        self.assertEqual(ls.read_key_file(self.write("k2", "  " + HS["key"].upper() + " \n")), KEY)

    def test_refuses_loose_modes_symlinks_fifos_and_garbage(self):
        self.refused(self.write("g", HS["key_file_text"], 0o640))
        self.refused(self.write("o", HS["key_file_text"], 0o604))
        good = self.write("k", HS["key_file_text"])
        link = os.path.join(self.dir, "link")
        os.symlink(good, link)
        self.assertIn("symbolic link", self.refused(link).message)
        fifo = os.path.join(self.dir, "fifo")
        os.mkfifo(fifo, 0o600)
        started = time.monotonic()
        self.assertIn("regular file", self.refused(fifo).message)  # and did not block on the FIFO
        self.assertLess(time.monotonic() - started, 5)
        self.refused(self.dir)
        sock_path = os.path.join(self.dir, "sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(sock_path)
        try:
            self.assertIn("regular file", self.refused(sock_path).message)
        finally:
            listener.close()
        self.refused(os.path.join(good, "below-a-file"), "INVALID_ARGUMENT")
        self.refused(self.write("short", "abcd"))
        self.refused(self.write("odd", "a" * 33))
        self.refused(self.write("nothex", "z" * 64))
        self.refused(self.write("big", "a" * 4000))
        self.refused(os.path.join(self.dir, "missing"), "INVALID_ARGUMENT")

    @unittest.skipUnless(os.getuid() == 0, "needs root to give a file to another user")
    def test_refuses_a_key_owned_by_someone_else(self):
        path = self.write("k", HS["key_file_text"])
        os.chown(path, 65534, 65534)
        self.assertIn("another user", self.refused(path).message)

    def test_default_key_is_created_owner_only(self):
        path = os.path.join(self.dir, "cfg", "localsocket", "key")
        key = ls.ensure_key_file(path)
        self.assertEqual(len(key), 32)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertEqual(ls.ensure_key_file(path), key)
        self.assertEqual(os.listdir(os.path.dirname(path)), ["key"])


class FakeServer:
    """A Unix socket server run on a thread; `script(conn, index)` plays one connection."""

    def __init__(self, path, script, connections=1):
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(8)
        self.listener.settimeout(10)
        self.errors = []
        self.thread = threading.Thread(target=self._run, args=(script, connections), daemon=True)
        self.thread.start()

    def _run(self, script, connections):
        try:
            for index in range(connections):
                conn, _ = self.listener.accept()
                conn.settimeout(10)
                with conn:
                    script(conn, index)
        except Exception as err:  # reported by join()
            self.errors.append(err)

    def join(self):
        self.thread.join(15)
        self.listener.close()
        if self.errors:
            raise self.errors[0]


def recv_exactly(conn, n):
    data = b""
    while len(data) < n:
        try:
            chunk = conn.recv(n - len(data))
        except ConnectionResetError:  # the client closed with our bytes unread: the same as an end here
            break
        if not chunk:
            break
        data += chunk
    return data


def server_handshake(conn, key=KEY):
    hello = recv_exactly(conn, 40)
    assert hello[:8] == b"LSC2\0\0\0\0", hello
    nc = hello[8:]
    conn.sendall(ls.server_proof_message(key, nc, NS))
    proof = recv_exactly(conn, 40)
    assert proof == ls.client_proof_message(key, nc, NS), "bad client proof"


class Handshake(TempDirCase):
    def key_file(self):
        path = os.path.join(self.dir, "key")
        with open(path, "w") as f:
            f.write(HS["key_file_text"])
        os.chmod(path, 0o600)
        return path

    def test_busy_is_retried_within_the_deadline(self):
        path = os.path.join(self.dir, "s")
        seen = []

        def script(conn, index):
            if index < 2:
                recv_exactly(conn, 40)
                conn.sendall(ls.BUSY_MESSAGE)
                return
            server_handshake(conn)
            seen.append(ls.FrameDecoder().push(recv_exactly(conn, len(h(VECTORS["frames"]["json_small"]["frame"])))))

        server = FakeServer(path, script, connections=3)
        with ls.connect(path, key_file=self.key_file(), timeout=10) as conn:
            conn.send({"n": 1})
        server.join()
        self.assertEqual(seen, [[(ls.FRAME_JSON, b'{"n":1}')]])

    def test_busy_right_after_the_server_proof_is_retried(self):
        path = os.path.join(self.dir, "s")

        def script(conn, index):
            if index == 0:
                hello = recv_exactly(conn, 40)
                conn.sendall(ls.server_proof_message(KEY, hello[8:], NS) + ls.BUSY_MESSAGE)
                return
            server_handshake(conn)

        server = FakeServer(path, script, connections=2)
        with ls.connect(path, key_file=self.key_file(), timeout=10):
            pass
        server.join()

    def test_busy_until_the_deadline_keeps_its_code(self):
        path = os.path.join(self.dir, "s")

        def script(conn, index):
            recv_exactly(conn, 40)
            conn.sendall(ls.BUSY_MESSAGE)

        server = FakeServer(path, script, connections=10 ** 6)
        with self.assertRaises(ls.LocalSocketError) as caught:
            ls.connect(path, key_file=self.key_file(), timeout=0.5)
        # Busy to the end is not a timeout of ours, and never AUTH_FAILED.
        self.assertEqual(caught.exception.code, "RESOURCE_EXHAUSTED")
        self.assertEqual(caught.exception.message, "connect: the server is busy (retried until the deadline)")
        server.listener.close()

    def test_a_close_before_any_answer_is_retried(self):
        path = os.path.join(self.dir, "s")

        def script(conn, index):
            if index == 0:
                return  # closed at once (a server out of room)
            server_handshake(conn)

        server = FakeServer(path, script, connections=2)
        with ls.connect(path, key_file=self.key_file(), timeout=10):
            pass
        server.join()

    def test_a_server_without_the_key_gets_no_client_proof(self):
        path = os.path.join(self.dir, "s")
        after = []

        def script(conn, index):
            hello = recv_exactly(conn, 40)
            conn.sendall(ls.server_proof_message(bytes(32), hello[8:], NS))
            after.append(recv_exactly(conn, 40))

        server = FakeServer(path, script)
        key_file = self.key_file()
        with self.assertRaises(ls.LocalSocketError) as caught:
            ls.connect(path, key_file=key_file, timeout=5)
        self.assertEqual(caught.exception.code, "AUTH_FAILED")
        self.assertEqual(caught.exception.message,
                         "authentication failed: key mismatch, the server does not hold our key (we used %s)" % key_file)
        server.join()
        self.assertEqual(after, [b""])

    def test_a_server_that_speaks_another_protocol(self):
        path = os.path.join(self.dir, "s")
        replies = [b"HTTP/1.1 400 Bad Request\r\n\r\n" + bytes(64), None, b"LSS2\0\0\0\0" + bytes(70)]

        def script(conn, index):
            hello = recv_exactly(conn, 40)
            conn.sendall(replies[index] or hello)  # None: echo the hello back
            recv_exactly(conn, 1)

        server = FakeServer(path, script, connections=3)
        for expected in ("connect: " + ls.RAW_SERVER_HINT, "connect: the server echoed our hello: " + ls.RAW_SERVER_HINT,
                         "connect: the server sent data before the handshake ended"):
            with self.assertRaises(ls.LocalSocketError) as caught:
                ls.connect(path, key_file=self.key_file(), timeout=5)
            self.assertEqual(caught.exception.code, "PROTOCOL_ERROR")
            self.assertEqual(caught.exception.message, expected)
        server.join()

    def test_a_raw_server_that_waits_is_a_timeout_with_a_hint(self):
        path = os.path.join(self.dir, "s")
        server = FakeServer(path, lambda conn, i: recv_exactly(conn, 41))
        with self.assertRaises(ls.LocalSocketError) as caught:
            ls.connect(path, key_file=self.key_file(), timeout=0.5)
        self.assertEqual(caught.exception.code, "TIMEOUT")
        self.assertEqual(caught.exception.message, "connect: timed out: " + ls.RAW_SERVER_HINT)
        server.join()

    def test_no_server(self):
        with self.assertRaises(ls.LocalSocketError) as caught:
            ls.connect(os.path.join(self.dir, "none"), raw=True, timeout=1)
        self.assertEqual(caught.exception.code, "SERVER_NOT_FOUND")
        with self.assertRaises(ls.LocalSocketError) as caught:
            ls.connect(os.path.join(self.dir, "none"), raw=True, timeout=0.3, wait=True)
        self.assertEqual(caught.exception.code, "TIMEOUT")

    @unittest.skipUnless(sys.platform.startswith("linux"), "paths longer than sun_path are reachable only on Linux")
    def test_a_path_longer_than_sun_path(self):
        deep = os.path.join(self.dir, "d" * 60, "e" * 60)
        os.makedirs(deep)
        path = os.path.join(deep, "sock")
        self.assertGreater(len(path.encode()), 107)
        dir_fd = os.open(deep, os.O_RDONLY | os.O_DIRECTORY)
        try:
            server = FakeServer("/proc/self/fd/%d/sock" % dir_fd, lambda conn, i: conn.sendall(ls.encode_json_frame("far")))
        finally:
            os.close(dir_fd)
        self.assertTrue(stat.S_ISSOCK(os.lstat(path).st_mode))
        with ls.connect(path, raw=True, timeout=5) as conn:
            self.assertEqual(conn.receive(timeout=5).value, "far")
        server.join()

    @unittest.skipUnless(sys.platform.startswith("linux"), "abstract names exist only on Linux")
    def test_an_abstract_name(self):
        name = "lspy-%d-%s" % (os.getpid(), os.urandom(4).hex())
        server = FakeServer("\0" + name, lambda conn, i: conn.sendall(ls.encode_json_frame("abstract")))
        with ls.connect(name, raw=True, abstract=True, timeout=5) as conn:
            self.assertEqual(conn.receive(timeout=5).value, "abstract")
        server.join()

    def test_wait_finds_a_server_that_starts_later(self):
        path = os.path.join(self.dir, "late")
        holder = {}

        def start():
            time.sleep(0.3)
            holder["server"] = FakeServer(path, lambda conn, i: conn.sendall(ls.encode_json_frame({"hi": 1})))

        thread = threading.Thread(target=start)
        thread.start()
        with ls.connect(path, raw=True, timeout=10, wait=True) as conn:
            self.assertEqual(conn.receive(timeout=5).value, {"hi": 1})
        thread.join()
        holder["server"].join()


class Messages(TempDirCase):
    def pair(self, script):
        path = os.path.join(self.dir, "s")
        server = FakeServer(path, script)
        conn = ls.connect(path, raw=True, timeout=5)
        self.addCleanup(conn.close)
        return server, conn

    @staticmethod
    def read_frames(conn, decoder, count):
        frames = []
        while len(frames) < count:
            chunk = conn.recv(65536)
            if not chunk:
                break
            frames += decoder.push(chunk)
        return [json.loads(p) if t == ls.FRAME_JSON else p for t, p in frames]

    def test_request_answer_notifications_and_binary_meanwhile(self):
        def script(conn, index):
            decoder = ls.FrameDecoder()
            [req] = self.read_frames(conn, decoder, 1)
            assert req == {"jsonrpc": "2.0", "id": 1, "method": "echo", "params": [1, 2]}, req
            conn.sendall(ls.encode_json_frame({"jsonrpc": "2.0", "method": "tick", "params": 7})
                         + ls.encode_frame(ls.FRAME_BINARY, b"\x00\xff")
                         + ls.encode_json_frame({"jsonrpc": "2.0", "id": 99, "result": "stale"})
                         + ls.encode_json_frame({"jsonrpc": "2.0", "id": 1, "result": [1, 2]}))
            notes = self.read_frames(conn, decoder, 2)
            assert notes == [{"jsonrpc": "2.0", "method": "done"}, {"jsonrpc": "2.0", "method": "null-params", "params": None}], notes

        server, conn = self.pair(script)
        self.assertEqual(conn.request("echo", [1, 2]), [1, 2])
        conn.notify("done")
        conn.notify("null-params", None)
        first = conn.receive(timeout=1)
        self.assertEqual((first.kind, first.method, first.params), ("notification", "tick", 7))
        self.assertEqual((conn.receive(timeout=1).kind, ), ("binary", ))
        server.join()

    def test_unhandled_items_are_queued_up_to_max_queued(self):
        def script(conn, index):
            conn.sendall(b"".join(ls.encode_json_frame({"jsonrpc": "2.0", "method": "n", "params": i}) for i in range(5))
                         + ls.encode_json_frame({"jsonrpc": "2.0", "id": 1, "result": "done"}))
            recv_exactly(conn, 1)

        server, conn = self.pair(lambda c, i: (self.read_frames(c, ls.FrameDecoder(), 1), script(c, i)))
        conn.max_queued = 2
        self.assertEqual(conn.request("go"), "done")
        self.assertEqual([conn.receive(timeout=1).params for _ in range(2)], [3, 4])
        self.assertEqual(conn.dropped, 3)
        conn.close()
        server.join()

    def test_remote_error(self):
        def script(conn, index):
            [req] = self.read_frames(conn, ls.FrameDecoder(), 1)
            conn.sendall(ls.encode_json_frame({"jsonrpc": "2.0", "id": req["id"], "error": {"code": -32601, "message": "method not found", "data": {"m": 1}}}))

        server, conn = self.pair(script)
        with self.assertRaises(ls.LocalSocketError) as caught:
            conn.request("nope")
        self.assertEqual(caught.exception.code, "REMOTE_ERROR")
        self.assertEqual(caught.exception.remote, {"code": -32601, "message": "method not found", "data": {"m": 1}})
        self.assertEqual(caught.exception.message, "method not found (remote code -32601)")
        server.join()

    def test_timeout_sends_a_cancel(self):
        got = []

        def script(conn, index):
            got.extend(self.read_frames(conn, ls.FrameDecoder(), 2))

        server, conn = self.pair(script)
        with self.assertRaises(ls.LocalSocketError) as caught:
            conn.request("slow", timeout=0.2)
        self.assertEqual(caught.exception.code, "TIMEOUT")
        server.join()
        self.assertEqual(got[1], {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": got[0]["id"]}})

    def test_a_send_to_a_peer_that_never_reads_times_out(self):
        release = threading.Event()
        server, conn = self.pair(lambda c, i: release.wait(10))
        conn.request_timeout = 0.3
        try:
            with self.assertRaises(ls.LocalSocketError) as caught:
                conn.notify("big", "n" * (900 * 1024))
            self.assertEqual(caught.exception.code, "TIMEOUT")
            self.assertFalse(conn.is_open)  # part of a frame may be out: the connection is done
        finally:
            release.set()
            server.join()

    def test_peer_closed_and_oversize_and_garbage(self):
        server, conn = self.pair(lambda c, i: self.read_frames(c, ls.FrameDecoder(), 1))
        with self.assertRaises(ls.LocalSocketError) as caught:
            conn.request("x", timeout=5)
        self.assertEqual(caught.exception.code, "PEER_CLOSED")
        with self.assertRaises(ls.LocalSocketError) as caught:
            conn.notify("after")
        self.assertEqual(caught.exception.code, "PEER_CLOSED")
        server.join()

        bad_shapes = [ls.encode_json_frame(v) for v in (
            {"jsonrpc": "2.0", "method": 7},
            {"jsonrpc": "2.0", "id": "a", "method": "m"},
            {"jsonrpc": "2.0", "id": "a", "result": 1},
            {"jsonrpc": "2.0", "id": 1},
            {"jsonrpc": "2.0", "id": 1, "error": {"code": "x", "message": "m"}},
        )]
        for data, code in [(bytes([0x42, 0, 0x10, 0, 1]), "MESSAGE_TOO_LARGE"), (b"X\0\0\0\0", "PROTOCOL_ERROR"),
                           (b"J\0\0\0\x02{x", "PROTOCOL_ERROR")] + [(d, "PROTOCOL_ERROR") for d in bad_shapes]:
            os.unlink(os.path.join(self.dir, "s"))
            server, conn = self.pair(lambda c, i, data=data: c.sendall(data))
            with self.assertRaises(ls.LocalSocketError) as caught:
                conn.receive(timeout=5)
            self.assertEqual(caught.exception.code, code)
            self.assertFalse(conn.is_open)
            server.join()

    def test_close_sends_the_close_frame_then_reads_until_the_peer_hangs_up(self):
        got = []

        def script(conn, index):
            got.extend(self.read_frames(conn, ls.FrameDecoder(), 2))
            # Written after the client's close: it must not fail the client (it reads them and drops them).
            conn.sendall(ls.encode_json_frame({"jsonrpc": "2.0", "method": "late", "params": "x" * 1000}) * 50)

        server, conn = self.pair(script)
        conn.notify("first")
        conn.close(4100, "bye " + "\u00e9" * 100)
        server.join()
        self.assertEqual(got[0]["method"], "first")
        self.assertEqual(got[1]["method"], "$/close")
        # The reason is cut to 123 UTF-8 bytes, at a character boundary.
        self.assertEqual(got[1]["params"], {"code": 4100, "reason": "bye " + "\u00e9" * 59})
        self.assertEqual((conn.closed_by, conn.close_code), ("local", 4100))
        with self.assertRaises(ls.LocalSocketError) as caught:
            conn.notify("after")
        self.assertEqual(caught.exception.code, "INVALID_STATE")

    def test_the_peers_close_frame_ends_the_connection_with_its_code_and_reason(self):
        for code, reason, expected in [(1001, "shutting down", "PEER_CLOSED"), (1009, "too big", "MESSAGE_TOO_LARGE"),
                                       (1013, "busy", "RESOURCE_EXHAUSTED"), (4000, "", "PEER_CLOSED")]:
            if os.path.exists(os.path.join(self.dir, "s")):
                os.unlink(os.path.join(self.dir, "s"))

            def script(conn, index, code=code, reason=reason):
                self.read_frames(conn, ls.FrameDecoder(), 1)
                conn.sendall(ls.encode_close_frame(code, reason))
                recv_exactly(conn, 1)  # until the client hangs up

            server, conn = self.pair(script)
            with self.assertRaises(ls.LocalSocketError) as caught:
                conn.request("waits", timeout=5)
            self.assertEqual(caught.exception.code, expected)
            self.assertIn(str(code), caught.exception.message)
            self.assertEqual((conn.closed_by, conn.close_code, conn.close_reason), ("peer", code, reason))
            self.assertFalse(conn.is_open)
            server.join()

    def test_a_lost_connection_has_no_close_code(self):
        server, conn = self.pair(lambda c, i: self.read_frames(c, ls.FrameDecoder(), 1))
        with self.assertRaises(ls.LocalSocketError) as caught:
            conn.request("x", timeout=5)
        self.assertEqual(caught.exception.code, "PEER_CLOSED")
        self.assertEqual((conn.closed_by, conn.close_code), (None, None))
        server.join()

    def test_a_failure_here_sends_its_close_code(self):
        for data, code, close_code in [(bytes([0x42, 0x80, 0, 0, 0]), "MESSAGE_TOO_LARGE", 1009),
                                       (b"X\0\0\0\0", "PROTOCOL_ERROR", 1002),
                                       (ls.encode_json_frame({"jsonrpc": "2.0", "method": "$/close", "params": {"code": 99}}),
                                        "PROTOCOL_ERROR", 1002)]:
            if os.path.exists(os.path.join(self.dir, "s")):
                os.unlink(os.path.join(self.dir, "s"))
            back = []

            def script(conn, index, data=data):
                decoder = ls.FrameDecoder()
                self.read_frames(conn, decoder, 1)
                conn.sendall(data)
                back.extend(self.read_frames(conn, decoder, 1))

            server, conn = self.pair(script)
            with self.assertRaises(ls.LocalSocketError) as caught:
                conn.request("x", timeout=5)
            self.assertEqual(caught.exception.code, code)
            server.join()
            self.assertEqual(back[0]["method"], "$/close")
            self.assertEqual(back[0]["params"]["code"], close_code)
            self.assertEqual(back[0]["params"]["reason"], caught.exception.message[:123])

    def test_handlers_answer_incoming_requests(self):
        replies = []

        class Refused(Exception):
            code = 4001
            data = {"why": "policy"}

        class Unsendable(Exception):
            code = 4002
            data = object()  # not JSON: the code and message still go

        def refuse(params):
            raise Refused("no thanks")

        def script(conn, index):
            decoder = ls.FrameDecoder()
            conn.sendall(b"".join(ls.encode_json_frame({"jsonrpc": "2.0", "id": i, "method": m, "params": p})
                                  for i, m, p in ((1, "add", [2, 3]), (2, "refuse", None), (3, "boom", None), (4, "nope", None),
                                                  (5, "unsendable", None), (6, "$/cancelRequest", None))))
            conn.sendall(ls.encode_json_frame({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 1}}))
            replies.extend(self.read_frames(conn, decoder, 6))
            conn.sendall(ls.encode_json_frame({"jsonrpc": "2.0", "method": "bye"}))

        server, conn = self.pair(script)
        def unsendable(params):
            raise Unsendable("odd data")

        conn.handle("add", lambda p: p[0] + p[1]).handle("refuse", refuse).handle("boom", lambda p: 1 / 0)
        conn.handle("unsendable", unsendable)
        seen = []
        conn.on_notification("bye", seen.append)
        with self.assertRaises(ls.LocalSocketError):
            conn.receive(timeout=5)  # the server closes after "bye"
        server.join()
        self.assertEqual(seen, [None])
        self.assertEqual(replies[0], {"jsonrpc": "2.0", "id": 1, "result": 5})
        self.assertEqual(replies[1]["error"], {"code": 4001, "message": "no thanks", "data": {"why": "policy"}})
        self.assertEqual(replies[2]["error"]["code"], -32000)
        self.assertNotIn("Traceback", json.dumps(replies[2]))
        self.assertEqual(replies[3]["error"]["code"], -32601)
        self.assertEqual(replies[4]["error"], {"code": 4002, "message": "odd data"})
        # A request named like the cancel notification is still a request, answered "method not found";
        # the cancel notification itself is no request and gets no answer (6 replies, not 7).
        self.assertEqual(replies[5], {"jsonrpc": "2.0", "id": 6, "error": {"code": -32601, "message": "method not found"}})
        self.assertEqual(len(replies), 6)


if __name__ == "__main__":
    unittest.main()
