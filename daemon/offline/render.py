"""Render a MIDI file to a WAV preview with the ``fluidsynth`` program and a GM soundfont.

Offline only (``antiphon continue --wav``); the daemon itself never renders audio.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

from daemon.errors import AntiphonError

log = logging.getLogger(__name__)

SOUNDFONT_ENV = "ANTIPHON_SOUNDFONT"
# General MIDI soundfonts where Debian/Ubuntu, Fedora and Arch packages put them.
SOUNDFONT_CANDIDATES = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),  # Debian fluid-soundfont-gm
    Path("/usr/share/sounds/sf2/default-GM.sf2"),  # Debian alternatives link
    Path("/usr/share/soundfonts/FluidR3_GM.sf2"),  # Fedora, Arch
    Path("/usr/share/soundfonts/default.sf2"),
    Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),  # Debian timgm6mb-soundfont
)
SAMPLE_RATE_HZ = 44100
RENDER_TIMEOUT_S = 300.0
INSTALL_HINT = "apt-get install fluidsynth fluid-soundfont-gm"


def find_soundfont() -> Path | None:
    """``$ANTIPHON_SOUNDFONT`` if set and present, else the first installed GM soundfont."""
    env = os.environ.get(SOUNDFONT_ENV)
    if env:
        return Path(env) if Path(env).is_file() else None
    return next((p for p in SOUNDFONT_CANDIDATES if p.is_file()), None)


def render_wav(midi_path: str | Path, wav_path: str | Path, soundfont: str | Path | None = None,
               sample_rate_hz: int = SAMPLE_RATE_HZ) -> Path:
    """Render ``midi_path`` to ``wav_path`` (16-bit stereo at ``sample_rate_hz``).

    Raises:
        AntiphonError: no ``fluidsynth`` program, no soundfont, or the render failed; the
            message says what to install or set.
    """
    program = shutil.which("fluidsynth")
    if program is None:
        raise AntiphonError(f"cannot render a WAV preview: the fluidsynth program is not installed ({INSTALL_HINT})")
    font = Path(soundfont) if soundfont is not None else find_soundfont()
    if font is None or not font.is_file():
        raise AntiphonError("cannot render a WAV preview: no General MIDI soundfont found "
                            f"({INSTALL_HINT}, or set {SOUNDFONT_ENV} to an .sf2 file)")
    wav_path = Path(wav_path)
    command = [program, "-ni", "-q", "-F", str(wav_path), "-r", str(sample_rate_hz), str(font), str(midi_path)]
    log.info("rendering: %s", " ".join(command))
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=RENDER_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise AntiphonError(f"fluidsynth took more than {RENDER_TIMEOUT_S:.0f} s to render {midi_path}") from exc
    except OSError as exc:
        raise AntiphonError(f"cannot run fluidsynth: {exc}") from exc
    if result.returncode != 0 or not wav_path.is_file() or wav_path.stat().st_size <= 44:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise AntiphonError(f"fluidsynth could not render {midi_path} to {wav_path}"
                            + (f": {detail[-1]}" if detail else ""))
    return wav_path
