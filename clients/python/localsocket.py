#!/usr/bin/env python3
"""A localsocket peer in Python: standard library only, Python 3.9+, Unix.

Speaks the wire protocol of docs/PROTOCOL.md: the authenticated handshake
(version 2), length-prefixed frames, and JSON-RPC 2.0 requests and
notifications. Names and the default key file resolve exactly as the Node
library's defaults do, so `connect("myapp")` reaches `localsocket listen myapp`.

Library use::

    import localsocket
    with localsocket.connect("myapp", timeout=5) as conn:
        print(conn.request("echo", {"text": "hi"}))
        conn.notify("progress", {"done": 1})

Command line (same output and exit codes as the Node CLI)::

    python3 localsocket.py call NAME METHOD [PARAMS_JSON | -] [--timeout MS]
                           [--key-file FILE] [--raw] [--wait] [--qt] [--abstract]
    python3 localsocket.py notify NAME METHOD [PARAMS_JSON | -] [same options]

Every failure is a LocalSocketError whose `code` is one of the Node library's
codes (SERVER_NOT_FOUND, AUTH_FAILED, TIMEOUT, REMOTE_ERROR, ...). Windows named
pipes are not supported by this peer (UNSUPPORTED).
"""

import argparse
import collections
import errno
import hashlib
import hmac
import json
import math
import os
import random
import re
import socket
import stat
import struct
import sys
import time

__all__ = [
    "LocalSocketError",
    "Connection",
    "Incoming",
    "NO_PARAMS",
    "connect",
    "resolve_name",
    "private_directory",
    "default_key_path",
    "read_key_file",
    "load_key",
    "KeyOrigin",
    "hello_message",
    "server_mac",
    "client_mac",
    "server_proof_message",
    "client_proof_message",
    "encode_frame",
    "encode_json_frame",
    "FrameDecoder",
    "to_json",
    "main",
]

# ---- constants (docs/PROTOCOL.md) ------------------------------------------

NONCE_BYTES = 32
MAC_BYTES = 32
HEADER_BYTES = 8
HELLO_HEADER = b"LSC2\0\0\0\0"
SERVER_PROOF_HEADER = b"LSS2\0\0\0\0"
CLIENT_PROOF_HEADER = b"LSP2\0\0\0\0"
BUSY_MESSAGE = b"LSB2\0\0\0\0"
SERVER_LABEL = b"localsocket v2 server"
CLIENT_LABEL = b"localsocket v2 client"
HELLO_SIZE = HEADER_BYTES + NONCE_BYTES
SERVER_PROOF_SIZE = HEADER_BYTES + NONCE_BYTES + MAC_BYTES
CLIENT_PROOF_SIZE = HEADER_BYTES + MAC_BYTES

FRAME_HEADER_BYTES = 5
FRAME_JSON = 0x4A
FRAME_BINARY = 0x42
DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024

DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_REQUEST_TIMEOUT = 30.0
HANDSHAKE_TIMEOUT = 5.0
DEFAULT_MAX_QUEUED = 1000
CANCEL_METHOD = "$/cancelRequest"
# The close frame (PROTOCOL.md, "Closing on purpose"): the last frame of a side that closes on purpose.
CLOSE_METHOD = "$/close"
MAX_CLOSE_REASON_BYTES = 123
DEFAULT_CLOSE_TIMEOUT = 10.0


class CloseCode:
    """Close codes: 1000-3999 belong to the protocol, 4000-4999 to applications."""
    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    TOO_LARGE = 1009
    INTERNAL_ERROR = 1011
    RESTARTING = 1012
    OVERLOADED = 1013


_CLOSE_NAMES = {1000: "normal", 1001: "going away", 1002: "protocol error", 1009: "message too large",
                1011: "internal error", 1012: "restarting", 1013: "overloaded"}
# The close code for a failure found here, and the code a waiting request gets for a close code received.
_CLOSE_FOR_ERROR = {"PROTOCOL_ERROR": CloseCode.PROTOCOL_ERROR, "MESSAGE_TOO_LARGE": CloseCode.TOO_LARGE,
                    "RESOURCE_EXHAUSTED": CloseCode.OVERLOADED}
_ERROR_FOR_CLOSE = {value: key for key, value in _CLOSE_FOR_ERROR.items()}
# "No params" (the member is left out), as distinct from params that are JSON null.
NO_PARAMS = object()
MAX_REMOTE_MESSAGE_SHOWN = 500

MIN_KEY_BYTES = 16
MAX_KEY_BYTES = 1024
MAX_KEY_FILE_BYTES = 8192  # a larger key file is refused unread; the key limit applies to the key itself
MAX_JSON_DEPTH = 128  # arrays and objects a JSON message may nest (the JSON-RPC envelope counts as one)
KEY_BYTES = 32
NAME_MAX_BYTES = 255
LINUX_SHORT_NAME_MAX_BYTES = 107 - len("/proc/self/fd/2147483647/")  # 82: the socket is reached through that prefix
READ_CHUNK = 64 * 1024

ERROR_CODES = (
    "SERVER_NOT_FOUND", "CONNECTION_REFUSED", "PEER_CLOSED", "CONNECTION_ERROR", "ACCESS_DENIED",
    "RESOURCE_EXHAUSTED", "TIMEOUT", "MESSAGE_TOO_LARGE", "ADDRESS_IN_USE", "INVALID_NAME",
    "INVALID_ARGUMENT", "INVALID_STATE", "AUTH_FAILED", "PROTOCOL_ERROR", "REMOTE_ERROR", "ABORTED",
    "UNSUPPORTED", "UNKNOWN",
)


class LocalSocketError(Exception):
    """The one error type: a stable `code` (as in the Node library) and a short message.

    `remote` is set for REMOTE_ERROR: a dict with the peer's `code`, `message` and optional `data`.
    The underlying OS error, if any, is kept as `__cause__`.
    """

    def __init__(self, code, message, remote=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.remote = remote

    def __str__(self):
        return "%s: %s" % (self.code, self.message)


# ---- names --------------------------------------------------------------------


def _normalize(path):
    """POSIX normalization as Node's path.posix.normalize does it (also collapses a leading "//")."""
    absolute = path.startswith("/")
    parts = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not absolute:
                parts.append("..")
            continue
        parts.append(part)
    text = "/".join(parts)
    if absolute:
        return "/" + text
    return text or "."


def _join(*parts):
    return _normalize("/".join(p for p in parts if p))


def node_tmpdir(env=None):
    """Node's os.tmpdir() on POSIX: TMPDIR, TMP, TEMP or /tmp, one trailing slash removed."""
    env = os.environ if env is None else env
    path = env.get("TMPDIR") or env.get("TMP") or env.get("TEMP") or "/tmp"
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    return path


def runtime_dir_is_safe(path):
    """$XDG_RUNTIME_DIR is used only if it is a real directory (not a symlink), ours, and 0700."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and (st.st_mode & 0o077) == 0


def private_directory(env=None, uid=None):
    """The per-user directory holding short-named sockets."""
    env = os.environ if env is None else env
    uid = os.getuid() if uid is None else uid
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and runtime.startswith("/") and runtime_dir_is_safe(runtime):
        return _join(runtime, "localsocket")
    return _join(node_tmpdir(env), "localsocket-%d" % uid)


def _invalid_name(why):
    return LocalSocketError("INVALID_NAME", "invalid server name: %s" % why)


def _max_socket_path_bytes():
    return 107 if sys.platform.startswith("linux") else 103


class Endpoint:
    """What a name resolves to: `address` (socket path, or "\\0name" for abstract) and, for short
    names, the private directory that must be checked before use."""

    def __init__(self, kind, name, address, private_dir=None, long_path=False):
        self.kind = kind
        self.name = name
        self.address = address
        self.private_dir = private_dir
        self.long_path = long_path

    def __repr__(self):
        return "Endpoint(%r, %r)" % (self.kind, self.address)


def _unix_endpoint(name, address, private_dir=None):
    limit = _max_socket_path_bytes()
    long_path = len(address.encode()) > limit
    if long_path:
        if not sys.platform.startswith("linux"):
            raise _invalid_name("the socket path is longer than %d bytes" % limit)
        if len(os.path.basename(address).encode()) > limit - len("/proc/self/fd/2147483647/"):
            raise _invalid_name("the last part of the path is too long for a socket")
    return Endpoint("unix", name, address, private_dir, long_path)


def _qt_temp_path(env):
    """QDir::tempPath(): $TMPDIR (if not empty) else /tmp, cleaned, and canonical (symlinks
    resolved) when it exists."""
    cleaned = _normalize(env.get("TMPDIR") or "/tmp")
    if os.path.exists(cleaned):
        return os.path.realpath(cleaned)
    return cleaned


def resolve_name(name, qt=False, abstract=False, env=None):
    """Resolves a server name as the Node library does on Unix.

    A name containing "/" is a path (made absolute); any other name is a file in the private
    per-user directory. `qt` follows QLocalSocket's rules, `abstract` the Linux abstract namespace.
    """
    env = os.environ if env is None else env
    if not isinstance(name, str):
        raise _invalid_name("must be a string")
    if name == "":
        raise _invalid_name("empty")
    if "\0" in name:
        raise _invalid_name("contains a NUL character")
    if sys.platform == "win32":
        raise LocalSocketError("UNSUPPORTED", "the Python peer does not support Windows named pipes")
    if abstract:
        if not sys.platform.startswith("linux"):
            raise LocalSocketError("UNSUPPORTED", "abstract names exist only on Linux")
        if len(name.encode()) > _max_socket_path_bytes():
            raise _invalid_name("longer than %d bytes" % _max_socket_path_bytes())
        return Endpoint("abstract", name, "\0" + name)
    if qt:
        address = name if name.startswith("/") else "%s/%s" % (_qt_temp_path(env), name)
        return _unix_endpoint(name, address)
    if "/" in name:
        return _unix_endpoint(name, _join(os.getcwd(), name) if not name.startswith("/") else _normalize(name))
    if name in (".", ".."):
        raise _invalid_name('"." and ".." are not names')
    if len(name.encode()) > NAME_MAX_BYTES:
        raise _invalid_name("longer than %d bytes" % NAME_MAX_BYTES)
    if sys.platform.startswith("linux") and len(name.encode()) > LINUX_SHORT_NAME_MAX_BYTES:
        raise _invalid_name("longer than %d bytes (on Linux a short name is reached as /proc/self/fd/N/<name>)" % LINUX_SHORT_NAME_MAX_BYTES)
    directory = private_directory(env)
    return _unix_endpoint(name, _join(directory, name), directory)


def check_private_dir(directory):
    """Refuses a private directory that is a symlink, not ours, or writable by others."""
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        raise LocalSocketError("SERVER_NOT_FOUND", "server not found") from None
    except OSError as err:
        raise LocalSocketError("ACCESS_DENIED", "private socket directory is unsafe: cannot inspect it") from err
    _check_dir_stat(st)


def _check_dir_stat(st):
    why = None
    if stat.S_ISLNK(st.st_mode):
        why = "it is a symbolic link"
    elif not stat.S_ISDIR(st.st_mode):
        why = "it is not a directory"
    elif st.st_uid != os.getuid():
        why = "it belongs to another user"
    elif st.st_mode & 0o022:
        why = "others can write to it"
    if why:
        raise LocalSocketError("ACCESS_DENIED", "private socket directory is unsafe: %s" % why)


# ---- key ------------------------------------------------------------------------


def _home():
    home = os.environ.get("HOME")
    if home:
        return home
    import pwd

    return pwd.getpwuid(os.getuid()).pw_dir


def default_key_path(env=None):
    """$XDG_CONFIG_HOME/localsocket/key (when absolute), else ~/.config/localsocket/key."""
    env = os.environ if env is None else env
    config = env.get("XDG_CONFIG_HOME")
    if not (config and config.startswith("/")):
        config = _join(_home(), ".config")
    return _join(config, "localsocket", "key")


def _key_refused(why):
    return LocalSocketError("ACCESS_DENIED", "key file refused: %s" % why)


_ASCII_SPACE = b" \t\n\x0b\x0c\r"


def parse_key_bytes(data):
    """The key in a key file's bytes: one leading UTF-8 BOM and surrounding ASCII whitespace are
    ignored; what remains must be 32 to 2048 hex digits, an even number (16 to 1024 bytes)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    hex_text = data.strip(_ASCII_SPACE)
    if (not re.fullmatch(rb"[0-9a-fA-F]*", hex_text) or len(hex_text) % 2
            or not MIN_KEY_BYTES * 2 <= len(hex_text) <= MAX_KEY_BYTES * 2):
        raise _key_refused("not a localsocket key (expected %d to %d bytes as hex text)" % (MIN_KEY_BYTES, MAX_KEY_BYTES))
    return bytes.fromhex(hex_text.decode("ascii"))


def parse_key_text(text):
    """As parse_key_bytes, for the text of a key file."""
    return parse_key_bytes(text.encode("utf-8"))


def read_key_file(path):
    """Reads a key file the way the Node library does: never through a symlink (O_NOFOLLOW), never
    blocking on a FIFO (O_NONBLOCK), and only a regular file of ours that no one else can read."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise _key_refused("it is a symbolic link") from err
        if err.errno in (errno.ENOENT, errno.ENOTDIR):
            raise LocalSocketError("INVALID_ARGUMENT", "key file not found") from err
        if err.errno in (errno.ENXIO, errno.EOPNOTSUPP):  # a socket at the key path
            raise _key_refused("not a regular file") from err
        raise _key_refused("cannot open it") from err
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _key_refused("not a regular file")
        if st.st_uid != os.getuid():
            raise _key_refused("it belongs to another user")
        if st.st_mode & 0o077:
            raise _key_refused("other users can read or write it")
        limit = MAX_KEY_FILE_BYTES
        if st.st_size > limit:
            raise _key_refused("too large")
        data = b""
        while len(data) <= limit:
            chunk = os.read(fd, limit + 1 - len(data))
            if not chunk:
                break
            data += chunk
        if len(data) > limit:
            raise _key_refused("too large")
    finally:
        os.close(fd)
    return parse_key_bytes(data)


def _create_key_file(path):
    """Creates the key file atomically (a private temp file linked into place). True if we made it."""
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        temp = os.path.join(directory, ".key-%d-%s" % (os.getpid(), os.urandom(6).hex()))
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as err:
        raise _key_refused("cannot create it") from err
    try:
        try:
            os.write(fd, (os.urandom(KEY_BYTES).hex() + "\n").encode())
        finally:
            os.close(fd)
        os.link(temp, path)
        return True
    except FileExistsError:
        return False  # someone else created it first: use theirs (checked like any other)
    except OSError as err:
        raise _key_refused("cannot create it") from err
    finally:
        try:
            os.unlink(temp)
        except OSError:
            pass


def ensure_key_file(path):
    """The default key is created on first use (owner-only, atomically), as the Node library does.
    Returns the key; see load_key for where it came from."""
    return _load_default_key(path)[0]


def _load_default_key(path):
    try:
        return read_key_file(path), False
    except LocalSocketError as err:
        if err.code != "INVALID_ARGUMENT":
            raise
    created = _create_key_file(path)
    return read_key_file(path), created


class KeyOrigin:
    """Which key file was used (never the key), for the AUTH_FAILED message."""

    def __init__(self, key_file, created=False):
        self.key_file = key_file
        self.created = created


def load_key(key_file=None):
    """(key, KeyOrigin): the key in `key_file` (which must exist), or the per-user default key,
    created if missing."""
    if key_file is not None:
        return read_key_file(key_file), KeyOrigin(key_file)
    path = default_key_path()
    key, created = _load_default_key(path)
    return key, KeyOrigin(path, created)


# ---- handshake messages (pure) ------------------------------------------------------


def _mac(key, label, client_nonce, server_nonce):
    return hmac.new(key, label + client_nonce + server_nonce, hashlib.sha256).digest()


def hello_message(client_nonce):
    """HELLO: "LSC2" 00 00 00 00 | Nc (32)."""
    return HELLO_HEADER + client_nonce


def server_mac(key, client_nonce, server_nonce):
    """Ms = HMAC-SHA256(key, "localsocket v2 server" | Nc | Ns)."""
    return _mac(key, SERVER_LABEL, client_nonce, server_nonce)


def client_mac(key, client_nonce, server_nonce):
    """Mc = HMAC-SHA256(key, "localsocket v2 client" | Nc | Ns)."""
    return _mac(key, CLIENT_LABEL, client_nonce, server_nonce)


def server_proof_message(key, client_nonce, server_nonce):
    """SERVER PROOF: "LSS2" 00 00 00 00 | Ns (32) | Ms (32)."""
    return SERVER_PROOF_HEADER + server_nonce + server_mac(key, client_nonce, server_nonce)


def client_proof_message(key, client_nonce, server_nonce):
    """CLIENT PROOF: "LSP2" 00 00 00 00 | Mc (32)."""
    return CLIENT_PROOF_HEADER + client_mac(key, client_nonce, server_nonce)


# ---- frames (pure) ----------------------------------------------------------------


def _js_number(value):
    """A float as JavaScript's Number#toString writes it, so output matches JSON.stringify."""
    if value != value or math.isinf(value):
        raise ValueError("NaN and Infinity are not JSON")
    if value == 0:
        return "0"
    # repr gives the shortest digits that round-trip, as JavaScript does; only the layout differs.
    mantissa, _, exp_text = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    exp10 = (int(exp_text) if exp_text else 0) - len(fraction)
    stripped = digits.rstrip("0")
    exp10 += len(digits) - len(stripped)
    digits = stripped
    k = len(digits)
    n = k + exp10  # the value is 0.DIGITS x 10^n
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        text = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-") + str(abs(e))
    return ("-" if value < 0 else "") + text


def _encode(value, out):
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, float):
        out.append(_js_number(value))
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    elif isinstance(value, dict):
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise TypeError("JSON object keys must be strings")
            if i:
                out.append(",")
            out.append(json.dumps(key, ensure_ascii=False))
            out.append(":")
            _encode(item, out)
        out.append("}")
    else:
        raise TypeError("not a JSON value: %s" % type(value).__name__)


def to_json(value):
    """JSON text exactly as JavaScript's JSON.stringify writes the same value (compact, UTF-8,
    JavaScript number layout), so that both CLIs print the same bytes."""
    out = []
    try:
        _encode(value, out)
    except (TypeError, ValueError, RecursionError) as err:
        raise LocalSocketError("INVALID_ARGUMENT", "invalid argument: the value cannot be sent as JSON") from err
    text = "".join(out)
    if json_too_deep(text):
        # Never sent what the peer must refuse.
        raise LocalSocketError("INVALID_ARGUMENT", "invalid argument: the value nests deeper than %d levels" % MAX_JSON_DEPTH)
    return text


def _reject_constant(name):
    raise ValueError("not JSON: %s" % name)


def json_too_deep(data, limit=MAX_JSON_DEPTH):
    """Whether JSON text (bytes or str) nests more than `limit` arrays and objects: one linear scan,
    counting [ and { outside strings, before any recursive parser or printer sees it."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) < 2 * (limit + 1):
        return False
    depth = 0
    in_string = False
    i, n = 0, len(data)
    while i < n:
        c = data[i]
        if in_string:
            if c == 0x5C:
                i += 1
            elif c == 0x22:
                in_string = False
        elif c == 0x22:
            in_string = True
        elif c == 0x5B or c == 0x7B:
            depth += 1
            if depth > limit:
                return True
        elif c == 0x5D or c == 0x7D:
            depth -= 1
        i += 1
    return False


def _parse_float(text):
    """JSON has one number type: 1.0 and 1e0 are the integer 1, as in JavaScript (so `1.0` is an integer id)."""
    value = float(text)
    if value.is_integer() and abs(value) <= 2 ** 53 - 1:
        return int(value)
    return value


def parse_json(data):
    """Strict JSON from UTF-8 bytes (no NaN/Infinity, invalid UTF-8 refused, at most MAX_JSON_DEPTH
    levels of nesting); raises ValueError."""
    if json_too_deep(data):
        raise ValueError("JSON nested deeper than %d levels" % MAX_JSON_DEPTH)
    return json.loads(data.decode("utf-8"), parse_constant=_reject_constant, parse_float=_parse_float)


def encode_frame(frame_type, payload, max_message_size=DEFAULT_MAX_MESSAGE_SIZE):
    """type (1) | length (uint32 big-endian) | payload. Oversize fails before anything is written."""
    if frame_type not in (FRAME_JSON, FRAME_BINARY):
        raise LocalSocketError("INVALID_ARGUMENT", "invalid argument: unknown frame type")
    if len(payload) > max_message_size:
        raise LocalSocketError("MESSAGE_TOO_LARGE", "message too large")
    return struct.pack(">BI", frame_type, len(payload)) + bytes(payload)


def encode_json_frame(value, max_message_size=DEFAULT_MAX_MESSAGE_SIZE):
    return encode_frame(FRAME_JSON, to_json(value).encode("utf-8"), max_message_size)


def _is_close_code(value):
    return isinstance(value, int) and not isinstance(value, bool) and 1000 <= value <= 4999


def cut_reason(text):
    """The longest prefix of `text` within MAX_CLOSE_REASON_BYTES UTF-8 bytes, never splitting a character."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= MAX_CLOSE_REASON_BYTES:
        return text
    return data[:MAX_CLOSE_REASON_BYTES].decode("utf-8", "ignore")


def describe_close(code, reason):
    """`1001 going away: shutting down`."""
    name = _CLOSE_NAMES.get(code, "application" if code >= 4000 else "code")
    return "%d %s" % (code, name) if reason == "" else "%d %s: %s" % (code, name, reason)


def encode_close_frame(code, reason=""):
    """The close frame, in the canonical layout (as the Node library writes it)."""
    if not _is_close_code(code):
        raise LocalSocketError("INVALID_ARGUMENT", "invalid argument: close code must be an integer from 1000 to 4999")
    if not isinstance(reason, str):
        raise LocalSocketError("INVALID_ARGUMENT", "invalid argument: close reason must be a string")
    return encode_json_frame({"jsonrpc": "2.0", "method": CLOSE_METHOD,
                              "params": {"code": code, "reason": cut_reason(reason)}})


def read_close(params):
    """(code, reason) of a received close frame's params; PROTOCOL_ERROR if they are malformed."""
    if not isinstance(params, dict):
        raise _protocol_error("bad close frame (params must be an object)")
    code = params.get("code")
    if not _is_close_code(code):
        raise _protocol_error("bad close frame (code must be an integer from 1000 to 4999)")
    reason = params.get("reason", "")
    if not isinstance(reason, str) or len(reason.encode("utf-8", "surrogatepass")) > MAX_CLOSE_REASON_BYTES:
        raise _protocol_error("bad close frame (reason must be a string of at most %d UTF-8 bytes)" % MAX_CLOSE_REASON_BYTES)
    return code, reason


class FrameDecoder:
    """Bytes in, frames out. The length field is checked against `max_message_size` before anything
    is buffered for the payload; at most one incomplete frame is held."""

    def __init__(self, max_message_size=DEFAULT_MAX_MESSAGE_SIZE):
        self.max_message_size = max_message_size
        self._buffer = bytearray()

    @property
    def buffered(self):
        return len(self._buffer)

    def push(self, chunk):
        """Returns the list of complete frames as (type, payload bytes); raises LocalSocketError
        MESSAGE_TOO_LARGE or PROTOCOL_ERROR for bad input (the connection must then be dropped)."""
        self._buffer += chunk
        frames = []
        while len(self._buffer) >= FRAME_HEADER_BYTES:
            frame_type, length = struct.unpack_from(">BI", self._buffer)
            if frame_type not in (FRAME_JSON, FRAME_BINARY):
                raise LocalSocketError("PROTOCOL_ERROR", "protocol error: unknown frame type")
            if length > self.max_message_size:
                raise LocalSocketError("MESSAGE_TOO_LARGE", "message too large")
            end = FRAME_HEADER_BYTES + length
            if len(self._buffer) < end:
                break
            frames.append((frame_type, bytes(self._buffer[FRAME_HEADER_BYTES:end])))
            del self._buffer[:end]
        return frames


# ---- connection -----------------------------------------------------------------------


_CONNECT_ERRNO = {
    errno.ENOENT: "SERVER_NOT_FOUND",
    errno.ENOTDIR: "SERVER_NOT_FOUND",
    errno.ECONNREFUSED: "CONNECTION_REFUSED",
    errno.ENOTSOCK: "CONNECTION_REFUSED",
    errno.EPROTOTYPE: "CONNECTION_REFUSED",
    errno.EACCES: "ACCESS_DENIED",
    errno.EPERM: "ACCESS_DENIED",
    errno.EMFILE: "RESOURCE_EXHAUSTED",
    errno.ENFILE: "RESOURCE_EXHAUSTED",
    errno.ENOBUFS: "RESOURCE_EXHAUSTED",
    errno.ENOMEM: "RESOURCE_EXHAUSTED",
    errno.ETIMEDOUT: "TIMEOUT",
    errno.ENAMETOOLONG: "INVALID_NAME",
    errno.ELOOP: "INVALID_NAME",
}
_BUSY_ERRNO = {errno.EAGAIN, errno.EWOULDBLOCK, getattr(errno, "EBUSY", -1)}
_MESSAGES = {
    "SERVER_NOT_FOUND": "server not found",
    "CONNECTION_REFUSED": "connection refused",
    "ACCESS_DENIED": "access denied",
    "RESOURCE_EXHAUSTED": "out of resources",
    "TIMEOUT": "timed out",
    "INVALID_NAME": "invalid server name",
    "UNKNOWN": "unexpected system error",
    "CONNECTION_ERROR": "the connection broke",
}


class _Retry(Exception):
    """Worth another try before the deadline: the backlog is full (EAGAIN; `error` None), the server
    answered BUSY, or it closed before answering. `error` is reported if the deadline passes."""

    def __init__(self, error):
        super().__init__()
        self.error = error


def _system_error(err, operation):
    code = _CONNECT_ERRNO.get(err.errno, "UNKNOWN")
    if operation != "connect" and code in ("SERVER_NOT_FOUND", "CONNECTION_REFUSED"):
        code = "CONNECTION_ERROR"
    return LocalSocketError(code, "%s: %s" % (operation, _MESSAGES.get(code, code.lower())))


def _remaining(deadline):
    return deadline - time.monotonic()


def _open_private_dir(directory):
    """Linux: opens the private directory once (O_DIRECTORY|O_NOFOLLOW), checks it on the descriptor,
    and returns the descriptor, through which the socket is then reached (/proc/self/fd/N/NAME), so a
    directory swapped in after the check is never the one we connect in. Elsewhere: checks by path."""
    if not sys.platform.startswith("linux"):
        check_private_dir(directory)
        return None
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        if err.errno == errno.ENOENT:
            raise LocalSocketError("SERVER_NOT_FOUND", "server not found") from err
        why = {errno.ELOOP: "it is a symbolic link", errno.ENOTDIR: "it is not a directory"}.get(err.errno, "cannot open it")
        raise LocalSocketError("ACCESS_DENIED", "private socket directory is unsafe: %s" % why) from err
    try:
        _check_dir_stat(os.fstat(fd))
    except BaseException:
        os.close(fd)
        raise
    return fd


def _dial_once(endpoint, deadline):
    """One connect() with the deadline as its timeout; the socket is closed on any failure."""
    dir_fd = _open_private_dir(endpoint.private_dir) if endpoint.private_dir else None
    sock = None
    try:
        address = endpoint.address
        if dir_fd is not None:
            address = "/proc/self/fd/%d/%s" % (dir_fd, os.path.basename(address))
            if len(address.encode()) > _max_socket_path_bytes():
                raise LocalSocketError("INVALID_NAME", "invalid server name: too long")
        elif endpoint.long_path:
            # Longer than sun_path: reach it through a descriptor of its directory, as the Node library does.
            dir_fd = os.open(os.path.dirname(address), os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
            address = "/proc/self/fd/%d/%s" % (dir_fd, os.path.basename(address))
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(max(_remaining(deadline), 0.001))
        sock.connect(address)
        return sock
    except socket.timeout:
        sock.close()
        raise LocalSocketError("TIMEOUT", "connect: timed out") from None
    except OSError as err:
        if sock is not None:
            sock.close()
        if err.errno in _BUSY_ERRNO:
            raise _Retry(None) from err
        raise _system_error(err, "connect") from err
    except BaseException:
        if sock is not None:
            sock.close()
        raise
    finally:
        if dir_fd is not None:
            os.close(dir_fd)


RAW_SERVER_HINT = "no localsocket handshake from the server (a raw-mode server? try raw mode)"


def _recv_exactly(sock, size, deadline, received):
    """Reads exactly `size` bytes before `deadline`. `received` says whether any handshake byte came
    before this read (for the wording of a timeout or an early close, as in the Node library)."""
    data = b""
    while len(data) < size:
        left = _remaining(deadline)
        try:
            if left <= 0:
                raise socket.timeout()
            sock.settimeout(left)
            chunk = sock.recv(size - len(data))
        except socket.timeout:
            got = received or bool(data)
            raise LocalSocketError("TIMEOUT", "connect: timed out: %s" % (
                "the handshake did not complete" if got else RAW_SERVER_HINT)) from None
        except OSError:
            chunk = b""
        if not chunk:
            if received or data:
                raise LocalSocketError("PROTOCOL_ERROR", "connect: %s" % RAW_SERVER_HINT)
            # Closed before answering (connection limit, shutting down): worth another try.
            raise _Retry(LocalSocketError("CONNECTION_REFUSED", "connect: the server closed the connection before the handshake"))
        data += chunk
    return data


def _key_mismatch(origin):
    text = "authentication failed: key mismatch, the server does not hold our key"
    if origin is not None and origin.key_file:
        text += " (we used %s" % origin.key_file
        text += ", which was just created: the server uses another key file)" if origin.created else ")"
    return LocalSocketError("AUTH_FAILED", text)


def client_handshake(sock, key, deadline, client_nonce=None, origin=None):
    """Runs the client side of handshake v2 on a connected socket. Raises _Retry on BUSY or on a close
    before any answer; AUTH_FAILED on a key mismatch; PROTOCOL_ERROR or TIMEOUT for a server that does
    not speak it."""
    nonce = os.urandom(NONCE_BYTES) if client_nonce is None else client_nonce
    sock.settimeout(max(_remaining(deadline), 0.001))
    try:
        sock.sendall(hello_message(nonce))
    except socket.timeout:
        raise LocalSocketError("TIMEOUT", "connect: timed out: %s" % RAW_SERVER_HINT) from None
    except OSError:
        raise _Retry(LocalSocketError("CONNECTION_REFUSED", "connect: the server closed the connection before the handshake")) from None
    header = _recv_exactly(sock, HEADER_BYTES, deadline, False)
    if header == BUSY_MESSAGE:
        raise _Retry(LocalSocketError("RESOURCE_EXHAUSTED", "connect: the server is busy"))
    if header != SERVER_PROOF_HEADER:
        echoed = "the server echoed our hello: " if header == HELLO_HEADER else ""
        raise LocalSocketError("PROTOCOL_ERROR", "connect: %s%s" % (echoed, RAW_SERVER_HINT))
    rest = _recv_exactly(sock, SERVER_PROOF_SIZE - HEADER_BYTES, deadline, True)
    # Anything already waiting behind the proof was sent before our proof: not a localsocket server.
    # (Non-blocking: with a timeout set, Python would first wait for data to arrive.)
    sock.setblocking(False)
    try:
        early = sock.recv(HEADER_BYTES + 1, socket.MSG_PEEK)
    except OSError:  # BlockingIOError included: nothing there, as it should be
        early = b""
    if early:
        # A server may answer and then, out of room, drop us with BUSY before our proof arrives: retry.
        if len(early) <= HEADER_BYTES and BUSY_MESSAGE.startswith(early):
            if _recv_exactly(sock, HEADER_BYTES, deadline, True) == BUSY_MESSAGE:
                raise _Retry(LocalSocketError("RESOURCE_EXHAUSTED", "connect: the server is busy"))
        raise LocalSocketError("PROTOCOL_ERROR", "connect: the server sent data before the handshake ended")
    server_nonce, mac = rest[:NONCE_BYTES], rest[NONCE_BYTES:]
    if not hmac.compare_digest(mac, server_mac(key, nonce, server_nonce)):
        raise _key_mismatch(origin)
    try:
        sock.sendall(client_proof_message(key, nonce, server_nonce))
    except socket.timeout:
        raise LocalSocketError("TIMEOUT", "connect: timed out: the handshake did not complete") from None
    except OSError as err:
        raise LocalSocketError("CONNECTION_ERROR", "connect: the connection broke") from err


class Incoming:
    """Something the peer sent that no handler took: kind is "notification" (method, params),
    "request" is never queued (requests always get an answer), "message" (value: a JSON frame that is
    not JSON-RPC) or "binary" (value: bytes)."""

    __slots__ = ("kind", "method", "params", "value")

    def __init__(self, kind, method=None, params=None, value=None):
        self.kind = kind
        self.method = method
        self.params = params
        self.value = value

    def __repr__(self):
        if self.kind == "notification":
            return "Incoming(notification %r %r)" % (self.method, self.params)
        return "Incoming(%s %r)" % (self.kind, self.value)


class Connection:
    """A message connection. Single-threaded: incoming requests are answered by the handlers
    registered with `handle()` while this side waits in `request()` or `receive()`.

    Unhandled notifications and messages are queued for `receive()`, at most `max_queued` (the
    oldest is dropped beyond that and counted in `dropped`). Use one Connection from one thread
    at a time. Every wait has a deadline: sends and requests `request_timeout` seconds (30 by
    default) unless given one; a send that times out part way fails the connection (TIMEOUT).
    Any other failure (PEER_CLOSED, PROTOCOL_ERROR, MESSAGE_TOO_LARGE, CONNECTION_ERROR) also
    ends the connection, and every later call raises it again.

    Closing speaks the close handshake: `close()` sends the close frame (code 1000 unless given),
    ends its half of the stream and reads until the peer hangs up (within `close_timeout` seconds),
    and a failure found here (a bad frame, an oversize length) sends the matching code before it
    closes. When the peer closes on purpose, `close_code` and `close_reason` say how (and
    `closed_by` is "peer"); they stay None when the connection was lost without a close frame.
    """

    def __init__(self, sock, max_message_size=DEFAULT_MAX_MESSAGE_SIZE, request_timeout=DEFAULT_REQUEST_TIMEOUT,
                 max_queued=DEFAULT_MAX_QUEUED):
        self._sock = sock
        self.max_message_size = max_message_size
        self.request_timeout = request_timeout
        self._decoder = FrameDecoder(max_message_size)
        self._frames = collections.deque()
        self._next_id = 1
        self._responses = {}
        self._waiting = set()
        self._handlers = {}
        self._notification_handlers = {}
        self._queue = collections.deque()
        self.max_queued = max_queued
        self.dropped = 0
        self._failure = None
        self.close_timeout = DEFAULT_CLOSE_TIMEOUT
        # How the connection ended: None while open or when it was lost; "local" or "peer" after a close frame.
        self.closed_by = None
        self.close_code = None
        self.close_reason = None

    # -- lifecycle

    @property
    def is_open(self):
        return self._sock is not None and self._failure is None

    def close(self, code=CloseCode.NORMAL, reason=""):
        """Closes the connection by the close handshake (idempotent): sends the close frame with
        `code` (1000-4999) and `reason` (cut to 123 UTF-8 bytes), then ends the stream and reads,
        discarding, until the peer closes too or `close_timeout` passes."""
        frame = encode_close_frame(code, reason)
        sock, self._sock = self._sock, None
        if self._failure is None:
            self._failure = LocalSocketError("INVALID_STATE", "the connection is closed")
            if sock is not None:
                self._set_closed("local", code, cut_reason(reason))
                self._close_gracefully(sock, frame)
                return
        if sock is not None:
            sock.close()

    def _set_closed(self, by, code, reason):
        self.closed_by = by
        self.close_code = code
        self.close_reason = reason

    def _close_gracefully(self, sock, frame):
        """Sends `frame`, ends our half, reads and drops until the peer closes or close_timeout passes."""
        deadline = time.monotonic() + self.close_timeout
        try:
            sock.settimeout(max(self.close_timeout, 0.001))
            sock.sendall(frame)
            sock.shutdown(socket.SHUT_WR)
            while True:
                left = _remaining(deadline)
                if left <= 0:
                    break
                sock.settimeout(left)
                if not sock.recv(READ_CHUNK):
                    break
        except OSError:
            pass  # the peer is gone already (socket.timeout is an OSError too): nothing more to say
        finally:
            sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _fail(self, error, close_code=None):
        """Ends the connection with `error` and raises it. With `close_code` (a failure found here),
        the peer is told why first: the close frame with that code and the error's message."""
        if self._failure is None:
            self._failure = error
        sock, self._sock = self._sock, None
        if sock is not None:
            if close_code is None:
                sock.close()
            else:
                reason = cut_reason(error.message)
                self._set_closed("local", close_code, reason)
                self._close_gracefully(sock, encode_close_frame(close_code, reason))
        raise error

    def _fail_here(self, error):
        """A failure found here (the peer's fault): the close code that matches its code."""
        self._fail(error, _CLOSE_FOR_ERROR.get(error.code, CloseCode.INTERNAL_ERROR))

    def _check_open(self):
        if self._failure is not None:
            raise self._failure

    # -- sending

    def _write(self, data, deadline=None, what="send"):
        self._check_open()
        left = self.request_timeout if deadline is None else _remaining(deadline)
        try:
            self._sock.settimeout(max(left, 0.001))
            self._sock.sendall(data)
        except socket.timeout:
            # Part of a frame may be out: the stream can no longer be trusted.
            self._fail(LocalSocketError("TIMEOUT", "%s: timed out" % what))
        except OSError as err:
            self._fail(_io_error(err, "write"))

    def send(self, value):
        """Sends one JSON message (any JSON value)."""
        self._write(encode_json_frame(value, self.max_message_size))

    def send_binary(self, data):
        """Sends one binary message."""
        self._write(encode_frame(FRAME_BINARY, bytes(data), self.max_message_size))

    def notify(self, method, params=NO_PARAMS):
        """Sends a JSON-RPC notification (no answer). Without `params` the member is left out."""
        message = {"jsonrpc": "2.0", "method": _method(method)}
        if params is not NO_PARAMS:
            message["params"] = params
        self._write(encode_json_frame(message, self.max_message_size), what="notify")

    def request(self, method, params=NO_PARAMS, timeout=None):
        """Sends a request and waits for its answer; returns the result.

        Raises LocalSocketError REMOTE_ERROR (`remote` = the peer's code, message, data), TIMEOUT
        (after `timeout` seconds, default `request_timeout`; the peer is told to cancel),
        PEER_CLOSED when the connection ends first, or the connection's failure.
        """
        timeout = self.request_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        request_id = self._next_id
        self._next_id += 1
        message = {"jsonrpc": "2.0", "id": request_id, "method": _method(method)}
        if params is not NO_PARAMS:
            message["params"] = params
        self._write(encode_json_frame(message, self.max_message_size), deadline, what="request")
        self._waiting.add(request_id)
        try:
            while request_id not in self._responses:
                if not self._pump(deadline):
                    try:
                        self.notify(CANCEL_METHOD, {"id": request_id})
                    except LocalSocketError:
                        pass
                    raise LocalSocketError("TIMEOUT", "request: timed out")
        finally:
            self._waiting.discard(request_id)
        reply = self._responses.pop(request_id)
        if "error" in reply:
            raise _remote_error(reply["error"])
        return reply.get("result")

    # -- receiving

    def handle(self, method, handler):
        """Answers requests for `method` with handler(params). A raised exception becomes an error reply
        (code -32000 and str(exception); an exception with an integer `code` chooses the code, and may
        carry `data`). Never a traceback."""
        self._handlers[method] = handler
        return self

    def on_notification(self, method, handler):
        """Calls handler(params) for each notification `method` instead of queueing it."""
        self._notification_handlers[method] = handler
        return self

    def receive(self, timeout=None):
        """The next queued notification or message (an Incoming), answering requests meanwhile.
        Raises TIMEOUT after `timeout` seconds (default `request_timeout`), PEER_CLOSED at the end."""
        deadline = time.monotonic() + (self.request_timeout if timeout is None else timeout)
        while not self._queue:
            if not self._pump(deadline):
                raise LocalSocketError("TIMEOUT", "receive: timed out")
        return self._queue.popleft()

    def _pump(self, deadline):
        """Reads and dispatches at least one frame. False when the deadline passed first."""
        while not self._frames:
            self._check_open()
            left = _remaining(deadline)
            if left <= 0:
                return False
            try:
                self._sock.settimeout(left)
                chunk = self._sock.recv(READ_CHUNK)
            except socket.timeout:
                return False
            except OSError as err:
                self._fail(_io_error(err, "read"))
            if not chunk:
                if self._decoder.buffered:
                    self._fail(LocalSocketError("PROTOCOL_ERROR", "protocol error: the connection ended inside a frame"))
                self._fail(LocalSocketError("PEER_CLOSED", "the connection was lost: the peer went away without a close frame"))
            try:
                self._frames.extend(self._decoder.push(chunk))
            except LocalSocketError as err:
                self._fail_here(err)
        frame_type, payload = self._frames.popleft()
        self._dispatch(frame_type, payload)
        return True

    def _enqueue(self, item):
        if len(self._queue) >= self.max_queued:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(item)

    def _dispatch(self, frame_type, payload):
        if frame_type == FRAME_BINARY:
            self._enqueue(Incoming("binary", value=payload))
            return
        try:
            value = parse_json(payload)
        except ValueError:
            self._fail_here(LocalSocketError("PROTOCOL_ERROR", "protocol error: invalid JSON"))
        if not (isinstance(value, dict) and value.get("jsonrpc") == "2.0"):
            self._enqueue(Incoming("message", value=value))
            return
        method = value.get("method")
        request_id = value.get("id")
        if "method" in value:
            if not isinstance(method, str):
                self._fail_here(_protocol_error("method must be a string"))
            if "id" not in value:
                if method == CLOSE_METHOD:
                    self._on_peer_close(value.get("params"))
                elif method == CANCEL_METHOD:
                    pass  # handlers here run to completion before the next frame is read: nothing to cancel
                elif method in self._notification_handlers:
                    self._notification_handlers[method](value.get("params"))
                else:
                    self._enqueue(Incoming("notification", method=method, params=value.get("params")))
            elif _is_request_id(request_id):
                self._answer(request_id, method, value.get("params"))
            else:
                self._fail_here(_protocol_error("request id must be an integer"))
            return
        if request_id is None and "id" in value and _is_error_object(value.get("error")):
            return  # the peer could not read something of ours: no request to settle
        if not _is_request_id(request_id):
            self._fail_here(_protocol_error("reply id must be an integer"))
        if "error" in value:
            if not _is_error_object(value["error"]):
                self._fail_here(_protocol_error("bad error object"))
            if "result" in value:
                self._fail_here(_protocol_error("an answer with both a result and an error"))
        elif "result" not in value:
            self._fail_here(_protocol_error("a reply needs a result or an error"))
        if request_id in self._waiting:
            self._responses[request_id] = value
        # else: a late answer to a request that timed out: dropped

    def _on_peer_close(self, params):
        """The peer's close frame: it closes on purpose. Ends here at once; what waits raises the
        code the close code names (PEER_CLOSED unless 1002, 1009 or 1013)."""
        try:
            code, reason = read_close(params)
        except LocalSocketError as err:
            self._fail_here(err)
        self._set_closed("peer", code, reason)
        words = describe_close(code, reason)
        self._fail(LocalSocketError(_ERROR_FOR_CLOSE.get(code, "PEER_CLOSED"), "the peer closed the connection (%s)" % words))

    def _answer(self, request_id, method, params):
        handler = self._handlers.get(method)
        if handler is None:
            reply = {"jsonrpc": "2.0", "id": request_id, "error": {"code": -32601, "message": "method not found"}}
        else:
            try:
                reply = {"jsonrpc": "2.0", "id": request_id, "result": handler(params)}
                data = encode_json_frame(reply, self.max_message_size)
            except Exception as err:  # a handler's failure is an error reply, never a crash
                code = getattr(err, "code", None)
                message = getattr(err, "message", None)
                if not isinstance(message, str):
                    message = str(err) or "handler failed"
                if _is_request_id(code):
                    error = {"code": code, "message": message}
                    if getattr(err, "data", None) is not None:
                        error["data"] = err.data
                else:
                    error = {"code": -32000, "message": message}
                reply = {"jsonrpc": "2.0", "id": request_id, "error": error}
            else:
                self._write(data)
                return
        try:
            data = encode_json_frame(reply, self.max_message_size)
        except LocalSocketError:  # error data that cannot be sent: the code and message still go
            reply["error"].pop("data", None)
            data = encode_json_frame(reply, self.max_message_size)
        self._write(data)


def _io_error(err, what):
    """The peer going away under a read or write (EPIPE, ECONNRESET) is PEER_CLOSED, as Qt reports it;
    other I/O faults are CONNECTION_ERROR."""
    if isinstance(err, (BrokenPipeError, ConnectionResetError)):
        return LocalSocketError("PEER_CLOSED", "%s: the peer closed the connection" % what)
    return LocalSocketError("CONNECTION_ERROR", "%s: the connection broke" % what)


def _protocol_error(why):
    return LocalSocketError("PROTOCOL_ERROR", "protocol error: %s" % why)


def _is_request_id(value):
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= 2 ** 53 - 1


def _is_error_object(value):
    return (isinstance(value, dict) and _is_request_id(value.get("code")) and isinstance(value.get("message"), str))


def _remote_error(error):
    """REMOTE_ERROR for an error answer, worded as the Node library words it."""
    remote = {"code": error["code"], "message": error["message"]}
    if "data" in error:
        remote["data"] = error["data"]
    shown = remote["message"]
    if len(shown) > MAX_REMOTE_MESSAGE_SHOWN:
        shown = shown[:MAX_REMOTE_MESSAGE_SHOWN] + "..."
    return LocalSocketError("REMOTE_ERROR", "%s (remote code %d)" % (shown, remote["code"]), remote)


def _method(method):
    if not isinstance(method, str) or method == "":
        raise LocalSocketError("INVALID_ARGUMENT", "invalid argument: method must be a non-empty string")
    return method


def connect(name, key_file=None, raw=False, timeout=DEFAULT_CONNECT_TIMEOUT, wait=False, qt=False, abstract=False,
            max_message_size=DEFAULT_MAX_MESSAGE_SIZE, request_timeout=DEFAULT_REQUEST_TIMEOUT, key=None):
    """Connects to the server `name` and authenticates (unless `raw`); returns a Connection.

    `timeout` (seconds) bounds the whole connect, retries and handshake included. A busy server is
    retried with backoff within it; with `wait`, so is a server that is not up yet.
    Raises LocalSocketError: SERVER_NOT_FOUND, CONNECTION_REFUSED, ACCESS_DENIED, AUTH_FAILED,
    TIMEOUT, INVALID_NAME, INVALID_ARGUMENT (key file missing), ...
    """
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise LocalSocketError("INVALID_ARGUMENT", "invalid argument: timeout must be a positive number")
    endpoint = resolve_name(name, qt=qt, abstract=abstract)
    if raw and (key_file is not None or key is not None):
        raise LocalSocketError("INVALID_ARGUMENT", "invalid argument: raw mode uses no key")
    if raw:
        secret, origin = None, None
    elif key is not None:
        secret, origin = bytes(key), None
    else:
        secret, origin = load_key(key_file)
    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        try:
            sock = _dial_once(endpoint, deadline)
            try:
                if secret is not None:
                    client_handshake(sock, secret, min(deadline, time.monotonic() + HANDSHAKE_TIMEOUT), origin=origin)
            except BaseException:
                sock.close()
                raise
            return Connection(sock, max_message_size=max_message_size, request_timeout=request_timeout)
        except _Retry as retry:
            last = retry.error
        except LocalSocketError as err:
            if not (wait and err.code in ("SERVER_NOT_FOUND", "CONNECTION_REFUSED")):
                raise
            last = None
        # Exponential backoff with jitter, capped so that a server that appears is found quickly.
        left = _remaining(deadline)
        if left > 0:
            time.sleep(min(left, min(0.25, 0.005 * 2 ** min(attempt, 10)) * (0.5 + random.random() / 2)))
        if _remaining(deadline) <= 0:
            # No time for another try. A refusal for lack of room keeps its code: it is not a
            # timeout of ours, and never AUTH_FAILED.
            if last is not None:
                raise LocalSocketError(last.code, "%s (retried until the deadline)" % last.message)
            raise LocalSocketError("TIMEOUT", "connect: timed out")
        attempt += 1


# ---- command line ------------------------------------------------------------------------

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _one_line(text):
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()


def _print_error(code, message):
    sys.stderr.write("localsocket: %s: %s\n" % (code, _one_line(message)))
    sys.stderr.flush()


def _build_parser():
    parser = _Parser(prog="localsocket.py", description="localsocket peer: JSON-RPC requests and notifications.")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)
    for command, summary in (("call", "send a request and print its result as JSON"),
                             ("notify", "send a notification")):
        sub = commands.add_parser(command, help=summary, description=summary)
        sub.add_argument("name", metavar="NAME")
        sub.add_argument("method", metavar="METHOD")
        sub.add_argument("params", metavar="PARAMS_JSON", nargs="?", help='JSON params, or "-" to read them from stdin')
        sub.add_argument("--timeout", metavar="MS", help="deadline for the whole command (default 10000)")
        sub.add_argument("--wait", action="store_true", help="wait (up to the timeout) for a server that is not up yet")
        sub.add_argument("--raw", action="store_true", help="no authentication handshake")
        sub.add_argument("--key-file", metavar="FILE", help="key file instead of ~/.config/localsocket/key")
        sub.add_argument("--qt", action="store_true", help="resolve NAME as Qt's QLocalSocket does")
        sub.add_argument("--abstract", action="store_true", help="Linux abstract namespace")
    return parser


def _params(text):
    if text is None:
        return NO_PARAMS
    if text == "-":
        data = sys.stdin.buffer.read(DEFAULT_MAX_MESSAGE_SIZE + 1)
        if len(data) > DEFAULT_MAX_MESSAGE_SIZE:
            raise LocalSocketError("MESSAGE_TOO_LARGE", "message too large")
        what = "stdin"
    else:
        data = text.encode("utf-8", "surrogateescape")
        what = "PARAMS_JSON"
    try:
        return parse_json(data)
    except ValueError:
        raise UsageError("%s is not valid JSON" % what) from None


def _run(argv):
    args = _build_parser().parse_args(argv)
    if args.command is None:
        raise UsageError("no command given; commands: call, notify")
    timeout_ms = 10000
    if args.timeout is not None:
        if not re.fullmatch(r"\d+", args.timeout) or not 1 <= int(args.timeout) <= 2 ** 31 - 1:
            raise UsageError("--timeout must be a whole number from 1 to %d (got \"%s\")" % (2 ** 31 - 1, args.timeout))
        timeout_ms = int(args.timeout)
    if args.raw and args.key_file is not None:
        raise UsageError("--raw and --key-file cannot be combined (raw mode uses no key)")
    if args.qt and args.abstract:
        raise UsageError("--qt and --abstract cannot be combined")
    if args.key_file == "":
        raise UsageError("--key-file needs a value")
    params = _params(args.params)
    deadline = time.monotonic() + timeout_ms / 1000
    conn = connect(args.name, key_file=args.key_file, raw=args.raw, timeout=timeout_ms / 1000, wait=args.wait,
                   qt=args.qt, abstract=args.abstract)
    with conn:
        # One deadline for the whole command: a server that does not read cannot hold us past it.
        conn.request_timeout = max(_remaining(deadline), 0.001)
        if args.command == "notify":
            conn.notify(args.method, params)
            return EXIT_OK
        result = conn.request(args.method, params, timeout=max(_remaining(deadline), 0.001))
    sys.stdout.write(to_json(result) + "\n")
    sys.stdout.flush()
    return EXIT_OK


def main(argv=None):
    """The command line; returns the exit status (0 ok, 1 failure, 2 usage error, 130 interrupted)."""
    try:
        return _run(sys.argv[1:] if argv is None else argv)
    except UsageError as err:
        _print_error("INVALID_ARGUMENT", "%s (see --help)" % err)
        return EXIT_USAGE
    except LocalSocketError as err:
        _print_error(err.code, err.message)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception:  # never a traceback on the user's terminal (set LOCALSOCKET_DEBUG to see it)
        _print_error("UNKNOWN", "unexpected error")
        if os.environ.get("LOCALSOCKET_DEBUG"):
            raise
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
