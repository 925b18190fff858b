"""The options that say how a GAN's bars are decoded and chosen, shared by ``antiphon export gan``
(which writes them into the file for the daemon) and ``antiphon train gan-eval`` (which measures
bars decoded the same way). No torch here: both commands parse their arguments before importing it.
"""

from __future__ import annotations

import argparse

DEFAULT_BOUNDS_PERCENT = 1.0  # a healthy chained bar lies between the 1st and 99th percentile of the training bars'


def add_decoding_arguments(parser: argparse.ArgumentParser) -> None:
    """``--weights``, ``--voice-switch-cost``, ``--candidates``, ``--length-prior``,
    ``--pitch-class-floor``, ``--hold-floor`` and ``--restart-floor``."""
    parser.add_argument("--weights", choices=("average", "trained"), default="average",
                        help="the generator's moving average (default, what training saves) or, from a run's "
                             "checkpoint.pt, the weights its last step left")
    parser.add_argument("--voice-switch-cost", default="0", metavar="COST|VOICE=COST,...",
                        help="decode one-note-at-a-time tracks as lines: the log-odds a voice must gain to change "
                             "pitch or between note and rest, for every voice or per voice (soprano=0.4,bass=0.2); "
                             "default 0: each step on its own")
    parser.add_argument("--candidates", type=int, default=1,
                        help="make each thresholded bar that answers a previous bar this many times and play the one "
                             "the training critic scores best (plus --length-prior); an exported file then carries "
                             "the critic (default 1)")
    parser.add_argument("--length-prior", type=float, default=0.0, metavar="WEIGHT",
                        help="among candidates, also weigh the log-likelihood of the voices' note lengths under the "
                             "training bars' (from --data; default 0)")
    parser.add_argument("--pitch-class-floor", default="", metavar="TRACK=FLOOR,...",
                        help="in these pitched tracks each bar drops the pitch classes whose weight (probability "
                             "summed over the cells that pass 0.5) is below FLOOR times its strongest class's "
                             "(chords=0.2); default none")
    parser.add_argument("--hold-floor", default="", metavar="TRACK=FLOOR,...",
                        help="in these pitched tracks a note goes on through the cells under 0.5 but over FLOOR "
                             "(bass=0.3): notes are not cut short by a step a little under the threshold; default none")
    parser.add_argument("--restart-floor", default="", metavar="TRACK=CELLS,...",
                        help="a track silent in the previous bar comes back only with at least CELLS cells passing "
                             "0.5, else stays silent (drums=8); default none")


def add_chain_arguments(parser: argparse.ArgumentParser) -> None:
    """The chain-rule options shared by ``antiphon train gan-chains`` (to try rules) and
    ``antiphon export gan`` (to write them into the file)."""
    parser.add_argument("--revive-after", default=None,
                        help="chain rules from the training bars: bars of silence after which a track is conditioned "
                             "on its last healthy bar again, e.g. 'drums=1,bass=2,chords=2' (default: the file's rules)")
    parser.add_argument("--chain-candidates", type=int, default=1,
                        help="with --revive-after: bars drawn for each chained bar, the first with the fewest "
                             "tracks out of range played (default 1)")
    parser.add_argument("--chain-bounds", type=float, default=DEFAULT_BOUNDS_PERCENT,
                        help="with --revive-after: a healthy bar lies between this percentile and 100 minus it "
                             f"of the training bars' cells and pitch classes (default {DEFAULT_BOUNDS_PERCENT:g})")
    parser.add_argument("--no-steer", action="store_true",
                        help="with --revive-after: choose among candidates by range alone, not by keeping the "
                             "chain's running statistics near the training bars'")
    parser.add_argument("--memory-bars", type=int, default=32,
                        help="with --revive-after: bars the chain's running statistics remember (default 32)")
    parser.add_argument("--chord-tone-share", type=float, default=0.0,
                        help="with --revive-after: over a chord, a chord-track pitch class outside the chord is kept "
                             "only where it sounds at least this share of the chord's strongest tone's steps "
                             "(default 0: every class kept)")
    parser.add_argument("--restrike-from", default="", metavar="TRACK=STEP/STEP,...",
                        help="with --revive-after: the chosen bar with these tracks' held notes re-struck as stabs "
                             "on every other step, from each STEP on, is a candidate too, e.g. 'chords=0/8' "
                             "(default none)")
    parser.add_argument("--gap-weights", default="", metavar="TRACK.STAT=W,...",
                        help="with --revive-after: how much a statistic's gap counts in the choice among candidates, "
                             "e.g. 'bass.PP=2' (default 1 each)")
    parser.add_argument("--chord-tone-tracks", default="", metavar="TRACK,...",
                        help="with --revive-after: over a chord, also keep these pitched tracks' share of steps in "
                             "the chord near the training bars', as the chord track's is, e.g. 'bass' (default none)")
    parser.add_argument("--warm-up-bars", type=int, default=0,
                        help="with --revive-after: bars a chain plays to itself, unheard, before its first bar "
                             "(default 0)")
