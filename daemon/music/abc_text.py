"""ABC text normalised the way the ABC model reads and writes it.

One normal form for the training data (:mod:`training.abc.data`) and for the tunes the daemon
asks the model to continue, so both are the same text:

* header: ``R:`` (rhythm, lower case), ``M:`` (``C`` -> ``4/4``, ``C|`` -> ``2/2``), ``L:`` (the
  ABC default written out when missing) and ``K:`` (spelled by
  :meth:`daemon.music.abc_keys.AbcKey.name`: ``G``, ``Em``, ``Ador``), in that order; titles,
  numbers, sources, notes, tempo and every other field are dropped;
* body: comments, ``%%`` directives, quoted guitar chords and annotations, decorations (``!..!``,
  ``+..+``, ``~ . H L M O P S T u v J R k``), grace notes ``{..}``, slurs (``(`` not starting a
  tuplet, ``)``), beaming backticks and part labels are dropped; ``|1`` endings are written
  ``|[1``; ``x`` rests are ``z``; line continuations are joined; runs of spaces become one
  space, and lines are stripped.

A tune this form cannot hold raises :class:`~daemon.music.abc_keys.AbcError` with a short,
fixed reason (the training data counts tunes by it).

This module must not import torch, ``training`` or ``export``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from daemon.music.abc_keys import AbcError, parse_abc_key

HEADER_ORDER = ("R", "M", "L", "K")
_REFERENCE = re.compile(r"^X:\s*(\S*)")
_FIELD = re.compile(r"^([A-Za-z+]):(.*)$")
_INLINE_FIELD = re.compile(r"\[([A-Za-z]):([^\]\n]*)\]")
_STRING = re.compile(r'"[^"\n]*"?')
_DECORATION = re.compile(r"![^!\n]*!|\+[^+\n]*\+")
_GRACE = re.compile(r"\{[^}\n]*\}")
_SLUR_OPEN = re.compile(r"\((?![2-9])")
_ENDING = re.compile(r"(\|)(\d)")
_DECORATION_CHARS = re.compile(r"[~.HLMOPSTuvJRky`*!]")
_SPACES = re.compile(r"[ \t]+")
ALLOWED_BODY = frozenset("ABCDEFGabcdefgz^_=,'0123456789/<>-()[]|: \n")


def is_field_line(line: str) -> bool:
    """Whether a line is a header-style field (``K:D``), not music (``|:e|fga``)."""
    return bool(_FIELD.match(line))


def split_numbered(text: str) -> list[tuple[str, list[str]]]:
    """(X: number, lines) per tune of an ABC file; text before the first ``X:`` is dropped."""
    tunes: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        reference = _REFERENCE.match(line)
        if reference:
            tunes.append((reference.group(1) or str(len(tunes) + 1), []))
        elif tunes:
            tunes[-1][1].append(line)
    return tunes


def default_length(meter: str) -> str:
    """ABC's default unit note length for a meter: 1/16 below 3/4, else 1/8."""
    match = re.fullmatch(r"(\d+)/(\d+)", meter)
    if match and int(match.group(1)) / int(match.group(2)) < 0.75:
        return "1/16"
    return "1/8"


def normalise_meter(value: str) -> str:
    """``6/8`` as is, ``C`` as ``4/4``, ``C|`` as ``2/2``."""
    value = value.split("%", 1)[0].strip().replace(" ", "")
    value = {"C": "4/4", "C|": "2/2"}.get(value, value)
    if not re.fullmatch(r"\d+/\d+", value):
        raise AbcError("meter not a fraction")
    return value


def normalise_rhythm(value: str) -> str:
    """An ``R:`` value as the model saw it: lower case letters, digits and spaces."""
    rhythm = value.split("%", 1)[0].strip().lower()
    return re.sub(r"[^a-z0-9 ]", "", rhythm).strip()


def normalise_tune(lines: Iterable[str]) -> str:
    """The normal form of one tune's lines (an ``X:`` line, if any, is dropped).

    Raises:
        AbcError: with a short reason the tune cannot be held in this form.
    """
    header: dict[str, str] = {}
    body: list[str] = []
    in_body = False
    for raw in lines:
        line = raw.rstrip()
        if line.startswith("X:"):
            continue
        if not in_body:
            field = _FIELD.match(line)
            if not field:
                if line.strip() and not line.startswith("%"):
                    raise AbcError("music before K:")
                continue
            name, value = field.group(1), field.group(2).strip()
            if name in HEADER_ORDER and name not in header:
                header[name] = value
            if name == "V":
                raise AbcError("several voices")
            in_body = name == "K"
            continue
        if not line.strip():
            if body:
                break
            continue
        field = _FIELD.match(line)
        if field:
            if field.group(1) in ("M", "L", "K"):
                raise AbcError("meter, length or key changes inside the tune")
            if field.group(1) == "V":
                raise AbcError("several voices")
            continue
        body.append(line)
    if "K" not in header:
        raise AbcError("no K: field")
    if "M" not in header:
        raise AbcError("no M: field")
    meter = normalise_meter(header["M"])
    length = header.get("L", "").split("%", 1)[0].strip() or default_length(meter)
    if not re.fullmatch(r"1/\d+", length):
        raise AbcError("unit length not 1/n")
    try:
        key = parse_abc_key(header["K"]).name()
    except AbcError as exc:
        raise AbcError("key not read") from exc
    out = []
    rhythm = normalise_rhythm(header.get("R", ""))
    if rhythm:
        out.append(f"R:{rhythm}")
    out += [f"M:{meter}", f"L:{length}", f"K:{key}"]
    music = normalise_body(body)
    if not re.search(r"[A-Ga-g]", music):
        raise AbcError("no notes")
    return "\n".join(out) + "\n" + music


def normalise_body(lines: list[str]) -> str:
    """The body lines cleaned (see the module docstring), joined with ``\\n``, ending in ``\\n``."""
    joined: list[str] = []
    carry = ""
    for line in lines:
        line = carry + line.split("%", 1)[0]
        carry = ""
        if line.rstrip().endswith("\\"):
            carry = line.rstrip()[:-1] + " "
            continue
        joined.append(line)
    if carry.strip():
        joined.append(carry)
    cleaned = []
    for line in joined:
        for inline in _INLINE_FIELD.finditer(line):
            if inline.group(1) in ("M", "L", "K"):
                raise AbcError("meter, length or key changes inside the tune")
            if inline.group(1) == "V":
                raise AbcError("several voices")
        line = _INLINE_FIELD.sub("", line)
        line = _STRING.sub("", line)
        line = _DECORATION.sub("", line)
        line = _GRACE.sub("", line)
        if "Z" in line:
            raise AbcError("multi-bar rest")
        line = _DECORATION_CHARS.sub("", line)
        line = _SLUR_OPEN.sub("", line).replace(")", "")
        line = line.replace("x", "z")
        line = _ENDING.sub(r"\1[\2", line)
        line = _SPACES.sub(" ", line).strip()
        if not line:
            continue
        if not line.isascii():
            raise AbcError("non-ASCII text")
        odd = set(line) - ALLOWED_BODY
        if odd:
            raise AbcError(f"symbol {min(odd)!r}")
        cleaned.append(line)
    return "".join(f"{line}\n" for line in cleaned)


def header_text(meter: str, key: str, rhythm: str = "", length: str = "") -> str:
    """The normal-form header for a new tune: ``R:`` (if any), ``M:``, ``L:``, ``K:``."""
    meter = normalise_meter(meter)
    lines = [f"R:{normalise_rhythm(rhythm)}"] if normalise_rhythm(rhythm) else []
    lines += [f"M:{meter}", f"L:{length or default_length(meter)}", f"K:{parse_abc_key(key).name()}"]
    return "\n".join(lines) + "\n"
