"""Style families of the mma groove library, by library file name, and the split by file.

A groove piece's corpus id is ``grooves/<folder>/<file>/<groove>``; every groove of one library
file (main, sus, plus, intro, end, fill) shares its style, and most are near copies of each
other, so families and splits go by *file*: all grooves of a file land in one family and one
split, and a test bar's file was never seen in training. Files named in no family are left out.

The lists below are the whole assignment (the model card prints the counts).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

# family -> the library file names (the folder under grooves/<collection>/) it holds
FAMILIES: dict[str, tuple[str, ...]] = {
    "rock": (
        "rock", "rock1", "rock2", "rock-128", "50srock", "60srock", "K50s_rock", "basicrock", "softrock",
        "slowrock", "poprock1", "poprock2", "folkrock", "bubblerock", "digitalrock", "w-rock", "shufflerock",
        "heavymetal", "metal1", "metal2", "punk", "hrk", "pop", "60spop", "80spop", "electricpop",
        "8beat", "8beat1", "8beat2", "8beat3", "8beatpop1", "8beatpop2", "8beatpop3", "8beatdance",
        "beat8", "16beat1", "16beat2", "16beat3", "beat16", "slow16beat",
    ),
    "latin": (
        "bossanova", "bossa", "kbossa", "jazzbossa", "samba", "rhumba", "jazzrhumba", "mambo", "salsa",
        "salsa1", "salsa2", "chacha", "merengue", "son", "latin", "latinfusion", "latinhouse", "lfusion",
        "beguine", "bolero", "slowbolero", "calypso", "cubanguitar", "tango", "lighttango",
    ),
    "swing": (
        "swing", "easyswing", "fastswing", "slowswing", "jazzswing", "countryswing", "westernswing",
        "bigband", "fastbigband", "middlebigband", "slowbigband", "jazzbasie", "jazzcombo", "jazzguitar",
        "jazztrio", "jazzGrtrio", "bebop", "modernjazz", "slowjazz", "nitejazz", "mellowjazz", "jazz",
        "jazz04", "dixie", "foxtrot", "quickstep", "jive", "charleston", "softshoe",
    ),
}
_FAMILY_OF_FILE = {name: family for family, names in FAMILIES.items() for name in names}

SPLIT_EVERY = 10  # within a family, files in CRC-32 order: every 10th from the first is test, from the second valid


def library_file(piece_id: str) -> str | None:
    """``<collection>/<file>`` of a groove piece id, or None for an id of another source."""
    parts = str(piece_id).split("/")
    if len(parts) != 4 or parts[0] != "grooves":
        return None
    return f"{parts[1]}/{parts[2]}"


def family_of(piece_id: str) -> str | None:
    """The style family of a groove piece, or None when its file is in no family."""
    path = library_file(piece_id)
    return _FAMILY_OF_FILE.get(path.split("/")[1]) if path else None


def assign_splits(files: Iterable[str]) -> dict[str, str]:
    """``train``, ``valid`` or ``test`` for each library file of one family.

    The files are put in the order of their names' CRC-32 (stable on every machine, unrelated to
    style or name); every :data:`SPLIT_EVERY`-th file from the first goes to test and from the
    second to valid, so each family gives about a tenth of its files to each.
    """
    ordered = sorted(set(files), key=lambda f: (zlib.crc32(f.encode()), f))
    return {f: "test" if i % SPLIT_EVERY == 0 else "valid" if i % SPLIT_EVERY == 1 else "train"
            for i, f in enumerate(ordered)}
