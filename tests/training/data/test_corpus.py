"""The corpus pipeline: bad files, splits, cache, augmentation, the real sources and the CLI.

Real-source tests parse a few pieces of each real corpus (music21's chorales and ABC tunes via
abc2midi, mma grooves, Freedoom's WADs). Without a tool they are skipped on a developer's
machine and FAIL when the ``CI`` environment variable is set.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from collections import Counter
from pathlib import Path

import mido
import pytest

from daemon import cli
from daemon.music.grid import Grid
from daemon.music.notes import Note
from training.data import corpus
from training.data.corpus import SourceSpec, build_corpus, parse_source, resolve_sources
from training.data.records import (
    SPLITS,
    MissingDataError,
    PieceRecord,
    augmented,
    load_split,
    load_summary,
    split_of,
    transposed,
)
from training.data.sources import CorpusError, ToolMissingError, abc, freedoom, grooves, midi_files

PPQ = 96  # resolution of the handmade MIDI files


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def _need(ok: bool, reason: str) -> None:
    """Skip on a developer's machine when a tool is missing; fail in CI."""
    if not ok:
        if _in_ci():
            pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
        pytest.skip(reason)


def _need_music21() -> None:
    try:
        import music21  # noqa: F401
    except ImportError:
        _need(False, "music21 is not installed (pip install 'antiphon[train]')")


def _need_abc2midi() -> None:
    _need_music21()
    _need(shutil.which("abc2midi") is not None, "abc2midi is not installed (apt-get install abcmidi)")


def _need_mma() -> None:
    _need(shutil.which("mma") is not None and grooves.MMA_LIB.is_dir(), "mma is not installed (apt-get install mma)")


def _need_freedoom() -> None:
    _need(bool(freedoom.wad_paths()), "freedoom is not installed (apt-get install freedoom)")


# --------------------------------------------------------------------------------------------
# Handmade MIDI files
# --------------------------------------------------------------------------------------------


def _midi(notes: list[tuple[int, int, int]], *, meter: tuple[int, int] = (4, 4), tempos: tuple[int, ...] = (120,),
          midi_type: int = 1, channel: int = 0) -> mido.MidiFile:
    """A type-0/1 file of (start beat * PPQ, pitch, duration) notes; tempos change every bar."""
    track = mido.MidiTrack()
    events: list[tuple[int, int, mido.Message | mido.MetaMessage]] = [
        (0, 0, mido.MetaMessage("time_signature", numerator=meter[0], denominator=meter[1]))]
    for i, bpm in enumerate(tempos):
        events.append((i * PPQ * meter[0], 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))))
    for start, pitch, duration in notes:
        events.append((start, 2, mido.Message("note_on", note=pitch, velocity=90, channel=channel)))
        events.append((start + duration, 1, mido.Message("note_off", note=pitch, velocity=0, channel=channel)))
    events.sort(key=lambda e: (e[0], e[1]))
    now = 0
    for when, _, msg in events:
        track.append(msg.copy(time=when - now))
        now = when
    midi = mido.MidiFile(type=midi_type, ticks_per_beat=PPQ)
    midi.tracks.append(track)
    return midi


SCALE = [(i * PPQ, 60 + i, PPQ) for i in range(8)]  # eight quarter notes, two 4/4 bars


@pytest.fixture()
def bad_folder(tmp_path: Path) -> Path:
    """A folder with two good files and one of each kind of bad one."""
    folder = tmp_path / "midi"
    (folder / "sub").mkdir(parents=True)
    _midi(SCALE[:6], meter=(3, 4)).save(folder / "waltz.mid")
    _midi(SCALE, tempos=(120, 90)).save(folder / "sub" / "tempo_change.midi")
    (folder / "empty.mid").write_bytes(b"")
    (folder / "corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x00\x60MTrk\xff\xff\xff\xffgarbage")
    _midi([]).save(folder / "no_notes.mid")
    two = mido.MidiFile(type=2, ticks_per_beat=PPQ)
    two.tracks.append(_midi(SCALE).tracks[0])
    two.tracks.append(_midi(SCALE).tracks[0])
    two.save(folder / "type2.mid")
    (folder / "notes.txt").write_text("not a MIDI file and not listed")
    return folder


# --------------------------------------------------------------------------------------------
# Bad input: skipped with a reason, counted, never stopping the run
# --------------------------------------------------------------------------------------------


def test_bad_files_are_skipped_by_reason_and_the_good_ones_kept(bad_folder: Path, tmp_path: Path) -> None:
    [summary] = build_corpus([SourceSpec("dir", bad_folder)], tmp_path / "out", jobs=1)
    assert summary.skipped == Counter({"empty file": 1, "corrupt MIDI": 1, "type 2 MIDI": 1, "no notes": 1})
    assert summary.pieces == 2
    assert summary.meters == Counter({"3/4": 1, "4/4": 1})
    assert summary.tempo_change_pieces == 1
    written = json.loads((tmp_path / "out" / "summary.json").read_text())["sources"]["dir"]
    assert written["skipped"] == {"corrupt MIDI": 1, "empty file": 1, "no notes": 1, "type 2 MIDI": 1}
    listed = json.loads((tmp_path / "out" / "dir" / "skipped.json").read_text())
    assert sorted((what, reason) for what, reason, _ in listed) == [
        ("dir/corrupt", "corrupt MIDI"), ("dir/empty", "empty file"), ("dir/no_notes", "no notes"),
        ("dir/type2", "type 2 MIDI")]


def test_a_three_four_piece_is_kept_with_its_meter(bad_folder: Path) -> None:
    pieces, _, _ = parse_source(SourceSpec("dir", bad_folder))
    waltz = next(p for p in pieces if p.id == "dir/waltz")
    assert waltz.grid == Grid(12, 3, 4)
    assert waltz.n_bars == 2
    assert waltz.time_signatures == ((0, 3, 4),)


def test_a_tempo_change_keeps_notes_in_beats_and_is_counted(bad_folder: Path) -> None:
    pieces, _, _ = parse_source(SourceSpec("dir", bad_folder))
    piece = next(p for p in pieces if p.id == "dir/sub/tempo_change")
    assert piece.tempo_changes == 1
    assert piece.bpm == 120.0
    assert [(n.start, n.pitch, n.duration) for n in piece.notes] == [(12 * i, 60 + i, 12) for i in range(8)]


def test_a_parser_that_raises_costs_only_its_own_file(bad_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = midi_files.parse_item

    def flaky(item):  # type: ignore[no-untyped-def]
        if item.label == "dir/waltz":
            raise RuntimeError("boom")
        return real(item)

    monkeypatch.setattr(midi_files, "parse_item", flaky)
    pieces, skipped, summary = parse_source(SourceSpec("dir", bad_folder), jobs=1)
    assert [p.id for p in pieces] == ["dir/sub/tempo_change"]
    assert summary.skipped["parser error"] == 1
    assert any(s.what == "dir/waltz" and "boom" in s.detail for s in skipped)


def test_identical_pieces_are_kept_once(tmp_path: Path) -> None:
    _midi(SCALE).save(tmp_path / "a.mid")
    _midi(SCALE).save(tmp_path / "b.mid")
    pieces, skipped, summary = parse_source(SourceSpec("dir", tmp_path))
    assert [p.id for p in pieces] == ["dir/a"]
    assert summary.skipped == Counter({"duplicate": 1})
    assert "dir/a" in skipped[0].detail


def test_parallel_parsing_gives_the_same_pieces_as_serial(bad_folder: Path) -> None:
    serial, _, _ = parse_source(SourceSpec("dir", bad_folder), jobs=1)
    parallel, _, summary = parse_source(SourceSpec("dir", bad_folder), jobs=2)
    assert parallel == serial
    assert summary.items == 6


# --------------------------------------------------------------------------------------------
# Splits, files, cache, augmentation
# --------------------------------------------------------------------------------------------


def test_split_of_is_deterministic_and_about_80_10_10() -> None:
    ids = [f"oneills/{i // 50:04d}/{i}" for i in range(20_000)]
    counts = Counter(split_of(i) for i in ids)
    assert [split_of(i) for i in ids[:500]] == [split_of(i) for i in ids[:500]]
    assert abs(counts["train"] / len(ids) - 0.8) < 0.01
    assert abs(counts["valid"] / len(ids) - 0.1) < 0.01
    assert abs(counts["test"] / len(ids) - 0.1) < 0.01
    # pinned: the split must not change between versions or machines (SHA-1, not hash())
    assert split_of("bach/bwv269") == "valid"
    assert split_of("oneills/0001-0050/1") == "train"


def _record(piece_id: str, notes: list[Note], roles: dict[int, str] | None = None) -> PieceRecord:
    return PieceRecord(piece_id, "dir", piece_id, tuple(notes), Grid(12, 4, 4), 120.0,
                       roles or {n.channel: "melody" for n in notes})


def test_every_piece_lands_whole_in_the_split_its_id_hashes_to(tmp_path: Path) -> None:
    records = [_record(f"dir/p{i}", [Note(12 * j, 60 + (i + j) % 12, 12) for j in range(5)]) for i in range(60)]
    corpus.write_source(tmp_path, "dir", records, transpose=0)
    seen: dict[str, str] = {}
    for split in SPLITS:
        for record in load_split(tmp_path, "dir", split):
            assert record.id not in seen
            seen[record.id] = split
            assert split == split_of(record.id)
            assert record == records[int(record.id[5:])]
    assert len(seen) == 60


def test_load_split_without_data_says_which_command_builds_it(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match="antiphon train data --source bach") as caught:
        load_split(tmp_path, "bach", "train")
    assert isinstance(caught.value, FileNotFoundError)
    with pytest.raises(CorpusError, match="unknown split"):
        load_split(tmp_path, "bach", "training")


def test_load_split_refuses_files_of_another_format(tmp_path: Path) -> None:
    corpus.write_source(tmp_path, "dir", [_record("dir/x", [Note(0, 60, 12)])], transpose=0)
    path = tmp_path / "dir" / f"{split_of('dir/x')}.json"
    meta = json.loads(path.read_text())
    meta["format_version"] = 999
    path.write_text(json.dumps(meta))
    with pytest.raises(CorpusError, match="another version"):
        load_split(tmp_path, "dir", split_of("dir/x"))


def test_a_second_run_reads_the_cache_and_a_changed_file_is_parsed_again(bad_folder: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first, _, summary1 = parse_source(SourceSpec("dir", bad_folder), cache_dir=cache)
    second, _, summary2 = parse_source(SourceSpec("dir", bad_folder), cache_dir=cache)
    assert summary1.cached_items == 0
    assert summary2.cached_items == summary2.items == 6
    assert second == first
    assert summary2.skipped == summary1.skipped  # skips are cached too
    _midi(SCALE[:3], meter=(3, 4)).save(bad_folder / "waltz.mid")
    os.utime(bad_folder / "waltz.mid", ns=(1, 1))
    third, _, summary3 = parse_source(SourceSpec("dir", bad_folder), cache_dir=cache)
    assert summary3.cached_items == 5
    assert len(next(p for p in third if p.id == "dir/waltz").notes) == 3


def test_transposed_moves_pitched_channels_and_never_drums() -> None:
    piece = _record("dir/x", [Note(0, 36, 1, 100, 9), Note(0, 60, 12, 80, 0)], {9: "drums", 0: "bass"})
    up = transposed(piece, 3)
    assert up is not None
    assert sorted((n.channel, n.pitch) for n in up.notes) == [(0, 63), (9, 36)]
    assert up.transposition == 3 and up.id == piece.id
    assert transposed(piece, 0) is piece
    assert transposed(_record("dir/y", [Note(0, 126, 12)]), 2) is None


def test_augmented_adds_every_transposition_that_stays_in_range() -> None:
    low = _record("dir/low", [Note(0, 2, 12)])  # can go down 2 at most
    drums = _record("dir/drums", [Note(0, 36, 1, 100, 9)], {9: "drums"})
    out = list(augmented([low, drums], 3))
    assert [p.transposition for p in out if p.id == "dir/low"] == [0, -2, -1, 1, 2, 3]
    assert [p.transposition for p in out if p.id == "dir/drums"] == [0]


def test_transpose_is_recorded_and_applied_when_the_train_split_is_loaded(tmp_path: Path) -> None:
    records = [_record(f"dir/p{i}", [Note(0, 60, 12)]) for i in range(20)]
    corpus.write_source(tmp_path, "dir", records, transpose=2)
    plain = load_split(tmp_path, "dir", "train")
    grown = load_split(tmp_path, "dir", "train", augment=True)
    assert len(grown) == 5 * len(plain) > 0
    assert len(load_split(tmp_path, "dir", "valid", augment=True)) == len(load_split(tmp_path, "dir", "valid"))


# --------------------------------------------------------------------------------------------
# Sources: names, tools
# --------------------------------------------------------------------------------------------


def test_folk_means_three_collections_and_essen_only_when_named() -> None:
    assert [s.name for s in resolve_sources("bach,folk")] == ["bach", "oneills", "ryans", "airds"]
    assert "essen" not in [s.name for s in resolve_sources("all")]
    assert [s.name for s in resolve_sources("essen")] == ["essen"]
    assert resolve_sources("dir:/tmp/x") == [SourceSpec("dir", Path("/tmp/x"))]
    with pytest.raises(CorpusError, match="unknown source 'bahc'"):
        resolve_sources("bahc")


def test_a_missing_tool_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ToolMissingError, match="apt-get install abcmidi"):
        abc.check_available()
    with pytest.raises(ToolMissingError, match="apt-get install --no-install-recommends mma"):
        grooves.check_available()


def test_a_missing_folder_is_an_error_a_user_can_act_on(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="is not a folder"):
        parse_source(SourceSpec("dir", tmp_path / "nowhere"))


# --------------------------------------------------------------------------------------------
# ABC as written, bar alignment
# --------------------------------------------------------------------------------------------


def test_abc_is_made_to_play_as_written() -> None:
    text = ("X:7\nT:Tune\nP:ABA\nM:4/4\nK:G\n"
            '|:"D:|"ab ~c !trill!d Te|1 f:|2 g||\n'
            "::a[ceg]2 [K:D] b:|[1 c :|[2 d|]\n"
            "X:7\nT:Again\nK:D\n%%MIDI gchord fzfz\nabc|]\n")
    written, tunes = abc.as_written(text)
    assert tunes == [("7", "Tune"), ("7", "Again")]
    lines = written.splitlines()
    assert lines[:5] == ["X:1", "T:Tune", "M:4/4", "K:G", '|"D:|"ab c d e| f| g||']
    assert lines[5] == "|a[ceg]2 [K:D] b| c | d|]"
    assert "X:2" in lines and not any(line.startswith("%%MIDI") for line in lines)


def test_bar_offset_puts_abc2midi_accents_on_bar_lines() -> None:
    # a one-beat pickup in 4/4: accents (105) on the pickup and then every bar from tick 12
    notes = [Note(0, 60, 12, 105)] + [Note(12 + 48 * b + 12 * k, 62, 12, 105 if k == 0 else 80)
                                      for b in range(3) for k in range(4)]
    assert abc.bar_offset(notes, 48) == 36
    on_the_bar = [Note(48 * b + 12 * k, 62, 12, 105 if k == 0 else 80) for b in range(3) for k in range(4)]
    assert abc.bar_offset(on_the_bar, 48) == 0


def test_mma_track_names_give_roles_and_a_redefined_groove_counts_once(tmp_path: Path) -> None:
    assert [grooves.role_of_track(n) for n in ("Drum", "Walk", "Bass-Sax", "Chord-Piano", "Arpeggio-Harp",
                                               "Solo-Trumpet", "Pad")] == [
        "drums", "bass", "bass", "chords", "chords", "melody", "other"]
    library_file = tmp_path / "x.mma"
    library_file.write_text("DefGroove Rock  a rock beat\n  defgroove RockFill\nDefGroove ROCK\n")
    assert grooves.groove_names(library_file) == (["Rock", "RockFill"], ["ROCK"])


# --------------------------------------------------------------------------------------------
# WAD files
# --------------------------------------------------------------------------------------------


def _wad(lumps: list[tuple[str, bytes]]) -> bytes:
    data = b""
    entries = []
    offset = freedoom.WAD_HEADER.size
    for name, payload in lumps:
        entries.append(freedoom.WAD_ENTRY.pack(offset + len(data), len(payload), name.encode().ljust(8, b"\0")))
        data += payload
    directory = offset + len(data)
    return freedoom.WAD_HEADER.pack(b"PWAD", len(lumps), directory) + data + b"".join(entries)


def test_a_wad_gives_its_midi_lumps_and_counts_mus_and_bad_ones(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    song = io.BytesIO()
    _midi(SCALE).save(file=song)
    wad = _wad([("MAP01", b"\x00" * 40), ("D_SONG", song.getvalue()), ("D_MUSIC", b"MUS\x1a" + b"\x00" * 20),
                ("D_BROKEN", b"MThd\x00\x00")])
    (tmp_path / "freedoom1.wad").write_bytes(wad)
    monkeypatch.setattr(freedoom, "WAD_DIR", tmp_path)
    pieces, _, summary = parse_source("freedoom")
    assert [p.id for p in pieces] == ["freedoom/freedoom1/D_SONG"]
    assert pieces[0].roles == {0: "chords"}
    assert summary.skipped == Counter({"MUS lump (not MIDI)": 1, "corrupt MIDI": 1})


def test_a_file_that_is_not_a_wad_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.wad"
    path.write_bytes(struct.pack("<4sii", b"ZIP!", 0, 12))
    with pytest.raises(CorpusError, match="not a WAD"):
        freedoom.read_directory(path)


# --------------------------------------------------------------------------------------------
# The real sources (a few pieces each)
# --------------------------------------------------------------------------------------------


def test_real_bach_chorales_have_four_voices_on_bar_lines() -> None:
    _need_music21()
    pieces, _, summary = parse_source("bach", limit=3)
    assert [p.id for p in pieces] == ["bach/bwv269", "bach/bwv347", "bach/bwv153.1"]
    first = pieces[0]
    assert dict(first.roles) == {0: "soprano", 1: "alto", 2: "tenor", 3: "bass"}
    assert first.grid == Grid(12, 3, 4)
    # BWV 269 opens with a one-beat pickup: padded so that the first downbeat is tick 36
    assert min(n.start for n in first.notes) == 24
    assert summary.notes == sum(len(p.notes) for p in pieces) > 500


def test_real_folk_tunes_convert_through_abc2midi_as_written() -> None:
    _need_abc2midi()
    pieces, _, _ = parse_source("oneills", limit=24)
    first = pieces[0]
    assert first.id == "oneills/0001-0050/1" and first.name == "The Enchanted Valley"
    assert dict(first.roles) == {0: "melody"}
    assert first.grid == Grid(12, 2, 4)
    assert {n.velocity for n in first.notes} == {80}
    # the note counts music21 gives for these tunes; abc2midi playing their repeats gives 140 and 127
    by_id = {p.id: p for p in pieces}
    assert len(by_id["oneills/0001-0050/15"].notes) == 103
    assert len(by_id["oneills/0001-0050/24"].notes) == 87


def test_real_mma_grooves_render_eight_bars_with_drums_bass_and_chords() -> None:
    _need_mma()
    pieces, _, _ = parse_source("grooves", limit=2)
    assert [p.id for p in pieces] == ["grooves/alexis/hiphop/HipHop", "grooves/alexis/hiphop/HipHopSus"]
    for piece in pieces:
        assert piece.grid == Grid(12, 4, 4)
        assert piece.n_bars == grooves.BARS
        assert piece.roles[9] == "drums"
        assert {"bass", "chords"} <= set(piece.roles.values())


def test_real_waltz_grooves_are_three_four() -> None:
    _need_mma()
    items, _ = grooves.list_items(12)
    waltz = next(item for item in items if item.payload["rel"] == "stdlib/waltz")
    result = grooves.parse_item(waltz)
    assert result.pieces and not result.skipped
    assert {p.grid for p in result.pieces} == {Grid(12, 3, 4)}
    assert all(p.end <= grooves.BARS * 36 for p in result.pieces)


def test_real_freedoom_songs_come_out_of_the_wads() -> None:
    _need_freedoom()
    pieces, _, _ = parse_source("freedoom", limit=2)
    assert [p.id for p in pieces] == ["freedoom/freedoom1/D_E1M1", "freedoom/freedoom1/D_E1M2"]
    assert pieces[0].roles[9] == "drums"
    assert len(pieces[0].notes) > 1000


def test_cli_builds_loadable_splits_and_prints_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _need_music21()
    _need_mma()
    out, cache = tmp_path / "data", tmp_path / "cache"
    argv = ["train", "data", "--source", "bach,grooves", "--limit", "2", "--out", str(out), "--cache", str(cache),
            "--jobs", "1", "--transpose", "1", "--no-progress"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "pieces" in printed and "bach" in printed and "grooves" in printed and "total time" in printed
    summary = load_summary(out)
    assert summary["transpose"] == 1
    assert summary["sources"]["bach"]["pieces"] == 2 and summary["sources"]["grooves"]["pieces"] == 2
    loaded = [p for split in SPLITS for p in load_split(out, "bach", split)]
    assert sorted(p.id for p in loaded) == ["bach/bwv269", "bach/bwv347"]
    assert all(type(n.start) is int for p in loaded for n in p.notes)
    assert cli.main(argv) == 0  # second run: everything from the cache
    assert load_summary(out)["sources"]["bach"]["cached_items"] == 2


def test_cli_reports_an_unknown_source_without_a_traceback(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["train", "data", "--source", "bahc", "--out", str(tmp_path)]) == 2
    assert "unknown source 'bahc'" in capsys.readouterr().err
