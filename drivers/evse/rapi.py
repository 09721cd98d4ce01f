"""Pure OpenEVSE RAPI framing: encode commands, decode replies and notifications, split a byte stream.

Wire format (OpenEVSE/open_evse ``firmware/open_evse/rapi_proc.h``; HARDWARE.md §4)::

    $cc p1 p2 ...^xk\\r     xk = 2 hex digits, 8-bit XOR of every character before '^' (v2.0.0+)
    $cc p1 p2 ...*ck\\r     ck = 2 hex digits, 8-bit sum of every character before '*' (legacy)
    $cc p1 p2 ... :ss^xk\\r optional sequence id, echoed in the reply (v3.0.0+)
    $cc p1 p2 ...\\r        no checksum

Frames without a checksum are accepted on input because the firmware really sends them: replies of
RAPI v1.0.3 and older, and asynchronous notifications before v2.0.1 (rapi_proc.h, "response format").
The firmware writes the checksum in upper-case hex (``appendChk``: ``"^%02X"``) but parses either case
(``htou8``), and so do we. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SOC = "$"  # start of frame (rapi_proc.h ESRAPI_SOC)
EOC = "\r"  # end of frame (ESRAPI_EOC, 0x0D)
SOS = ":"  # start of sequence id (ESRAPI_SOS)
MAX_FRAME = 96
"""Longest frame we keep; the firmware's own buffers are 32-40 chars, so anything longer is noise."""

Checksum = Literal["xor", "sum"]

REPLY_KINDS = frozenset({"OK", "NK"})
ASYNC_KINDS = frozenset({"AT", "AB", "ST", "AN", "WF"})  # rapi_proc.h "A-prefix" messages, $ST, $WF


class RapiFormatError(ValueError):
    """A frame that is not valid RAPI (bad checksum, bad characters, bad field)."""


def xor_checksum(text: str) -> int:
    """The 8-bit XOR of every character (rapi_proc.h ``appendChk``)."""
    chk = 0
    for byte in text.encode("ascii"):
        chk ^= byte
    return chk


def sum_checksum(text: str) -> int:
    """The 8-bit sum of every character (the legacy ``*ck`` form)."""
    return sum(text.encode("ascii")) & 0xFF


def _check_token(token: str) -> None:
    if not token or not token.isascii() or not token.isprintable() or any(c in " $^*\r\n" for c in token):
        raise ValueError(f"not a RAPI token: {token!r}")


def encode_command(command: str, *params: str | int, seq: int | None = None) -> bytes:
    """``$cc p1 p2 [:ss]^xk\\r`` with the XOR checksum the firmware recommends (rapi_proc.h format 1/4)."""
    if len(command) != 2 or not command.isalnum():
        raise ValueError(f"a RAPI command is two letters or digits, got {command!r}")
    tokens = [str(p) for p in params]
    for token in tokens:
        _check_token(token)
    if seq is not None:
        if not 1 <= seq <= 0xFF:  # "ss CANNOT be 00, which is reserved as an invalid value"
            raise ValueError(f"sequence id {seq} is out of range 1..255")
        tokens.append(f"{SOS}{seq:02X}")
    body = SOC + " ".join([command, *tokens])
    return f"{body}^{xor_checksum(body):02X}{EOC}".encode("ascii")


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded RAPI frame: ``$OK 10``, ``$AT 02 02 16 0000`` and so on."""

    kind: str  # the two letters after '$': OK / NK for replies, AT / AB / ST for notifications
    params: tuple[str, ...] = ()
    seq: int | None = None
    checksum: Checksum | None = None  # None: the sender added none (old firmware)

    @property
    def is_reply(self) -> bool:
        return self.kind in REPLY_KINDS

    @property
    def is_async(self) -> bool:
        return self.kind in ASYNC_KINDS


@dataclass(frozen=True, slots=True)
class BadFrame:
    """A frame that was delimited but failed to decode; ``text`` is it without the trailing CR."""

    text: str
    reason: str

    @property
    def looks_like_reply(self) -> bool:
        """Whether it was probably a reply (``$OK``/``$NK``) whose checksum or content got corrupted."""
        return self.text[1:3] in REPLY_KINDS


def decode_frame(text: str) -> Frame:
    """Decode one frame, ``$`` included, CR excluded; ``RapiFormatError`` when it is not valid RAPI."""
    if not text.startswith(SOC):
        raise RapiFormatError("a frame starts with '$'")
    if not text.isascii() or not text.isprintable():
        raise RapiFormatError("non-printable characters in the frame")
    checksum: Checksum | None = None
    body = text
    # The firmware stops tokenizing at the first '*' or '^' (rapi_proc.cpp tokenize), so do we.
    marks = [i for i in (text.find("^"), text.find("*")) if i >= 0]
    if marks:
        at = min(marks)
        body, digits = text[:at], text[at + 1 :]
        if len(digits) != 2 or any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise RapiFormatError(f"checksum field {digits!r} is not 2 hex digits")
        checksum = "xor" if text[at] == "^" else "sum"
        expected = xor_checksum(body) if checksum == "xor" else sum_checksum(body)
        if int(digits, 16) != expected:
            raise RapiFormatError(f"{checksum} checksum {digits} != {expected:02X}")
    tokens = body[1:].split(" ")
    kind = tokens[0]
    if len(kind) != 2 or not kind.isalnum():
        raise RapiFormatError(f"frame kind {kind!r} is not two letters")
    params = [t for t in tokens[1:] if t]  # the firmware never sends empty tokens; tolerate double spaces
    seq: int | None = None
    if params and params[-1].startswith(SOS):
        try:
            seq = int(params[-1][1:], 16)
        except ValueError as err:
            raise RapiFormatError(f"bad sequence id {params[-1]!r}") from err
        params.pop()
    return Frame(kind=kind, params=tuple(params), seq=seq, checksum=checksum)


class FrameReader:
    """Splits a RAPI byte stream into frames: tolerates partial reads, resyncs on '$' after garbage.

    A '$' always starts a new frame, dropping an unfinished one (as the firmware's ``doCmd`` does), so a
    truncated frame costs only itself. Bytes outside a frame are counted in ``garbage_bytes`` (CR/LF
    excluded: with the echo feature the firmware adds LF after every reply); frames that fail to decode
    come out as ``BadFrame`` and are counted in ``bad_frames``, never raised.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._in_frame = False
        self.bad_frames = 0
        self.garbage_bytes = 0

    def reset(self) -> None:
        """Forget a partial frame (after the line was reopened)."""
        self._buf.clear()
        self._in_frame = False

    def feed(self, data: bytes) -> list[Frame | BadFrame]:
        """Consume ``data``; return the frames it completed, in order."""
        out: list[Frame | BadFrame] = []
        for byte in data:
            if byte == 0x24:  # '$'
                if self._in_frame:
                    self.garbage_bytes += len(self._buf)  # an unfinished frame: resync here
                self._buf = bytearray(b"$")
                self._in_frame = True
            elif not self._in_frame:
                if byte not in (0x0D, 0x0A):
                    self.garbage_bytes += 1
            elif byte == 0x0D:
                out.append(self._finish(bytes(self._buf)))
                self._buf.clear()
                self._in_frame = False
            elif len(self._buf) >= MAX_FRAME:
                self.garbage_bytes += len(self._buf) + 1
                self._buf.clear()
                self._in_frame = False
            else:
                self._buf.append(byte)
        return out

    def _finish(self, raw: bytes) -> Frame | BadFrame:
        text = raw.decode("latin-1")
        try:
            return decode_frame(text)
        except RapiFormatError as err:
            self.bad_frames += 1
            return BadFrame(text=text, reason=str(err))


def parse_frames(data: bytes) -> list[Frame | BadFrame]:
    """Every frame in ``data`` (a convenience for tests and one-shot decoding)."""
    return FrameReader().feed(data)


def hex_field(frame: Frame, index: int) -> int:
    """Parameter ``index`` read as hex (states and flags are hex in rapi_proc.h ``$GS``/``$AT``)."""
    return _field(frame, index, 16)


def dec_field(frame: Frame, index: int) -> int:
    """Parameter ``index`` read as decimal (amps, seconds)."""
    return _field(frame, index, 10)


def _field(frame: Frame, index: int, base: int) -> int:
    try:
        return int(frame.params[index], base)
    except (IndexError, ValueError) as err:
        raise RapiFormatError(f"${frame.kind}: field {index} is not base {base}: {frame.params}") from err
