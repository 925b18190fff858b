"""Bundled presets (TOML) and the ONNX models they name; found through this package's path."""

from pathlib import Path

PRESETS_DIR = Path(__file__).resolve().parent
