"""Style families of the groove library by file name, and the split of each family by file."""

from __future__ import annotations

import random
import zlib
from collections import Counter

from training.restyle.families import FAMILIES, SPLIT_EVERY, assign_splits, family_of, library_file


def test_a_groove_id_names_its_library_file_and_its_family() -> None:
    assert library_file("grooves/stdlib/bossanova/BossaNova") == "stdlib/bossanova"
    assert family_of("grooves/stdlib/bossanova/BossaNova") == "latin"
    assert family_of("grooves/stdlib/bossanova/BossaNovaSus") == "latin"  # every groove of the file alike
    assert family_of("grooves/stdlib/50srock/50sRockIntro") == "rock"
    assert family_of("grooves/yamaha/K50s_rock/K50sRock") == "rock"
    assert family_of("grooves/stdlib/jazzGrtrio/JazzGrtrio") == "swing"


def test_a_file_in_no_family_is_left_out() -> None:
    assert library_file("grooves/stdlib/polka/Polka") == "stdlib/polka"
    assert family_of("grooves/stdlib/polka/Polka") is None


def test_an_id_of_another_source_has_no_file_and_no_family() -> None:
    for piece_id in ("bach/bwv269", "oneills/0001-0050/1", "freedoom/e1m1/rock/x", "grooves/stdlib/rock",
                     "grooves/stdlib/rock/Rock/extra", "dir/grooves/rock/Rock"):
        assert library_file(piece_id) is None, piece_id
        assert family_of(piece_id) is None, piece_id


def test_no_file_name_is_in_two_families() -> None:
    counts = Counter(name for names in FAMILIES.values() for name in names)
    assert [name for name, n in counts.items() if n > 1] == []


def _files(n: int) -> list[str]:
    return [f"stdlib/style{i}" for i in range(n)]


def test_the_split_does_not_depend_on_the_order_files_come_in() -> None:
    files = _files(37)
    shuffled = files[:]
    random.Random(3).shuffle(shuffled)
    assert assign_splits(shuffled) == assign_splits(files)
    assert assign_splits(files + files[:5]) == assign_splits(files)  # a file named twice is one file


def test_every_file_of_a_family_lands_in_exactly_one_split() -> None:
    files = _files(37)
    splits = assign_splits(files)
    assert set(splits) == set(files)
    assert set(splits.values()) == {"train", "valid", "test"}


def test_every_tenth_file_in_crc_order_goes_to_test_and_the_next_to_valid() -> None:
    files = _files(30)
    splits = assign_splits(files)
    ordered = sorted(files, key=lambda f: zlib.crc32(f.encode()))
    assert [f for f in ordered if splits[f] == "test"] == ordered[0::SPLIT_EVERY]
    assert [f for f in ordered if splits[f] == "valid"] == ordered[1::SPLIT_EVERY]
    assert Counter(splits.values()) == {"train": 24, "test": 3, "valid": 3}


def test_each_real_family_gives_files_to_test_and_valid() -> None:
    for family, names in FAMILIES.items():
        counts = Counter(assign_splits(f"stdlib/{name}" for name in names).values())
        assert counts["test"] >= 1 and counts["valid"] >= 1, family
        assert counts["train"] > counts["test"] + counts["valid"], family
