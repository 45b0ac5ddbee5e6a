"""Where hiptrack keeps its files: the session store and the reports beside it."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

STORE_ENV_VAR = "HIPTRACK_STORE"
STORE_FILE_NAME = "hiptrack.sqlite3"
APP_DIR_NAME = "hiptrack"


def default_store_path(*, environ: Mapping[str, str] | None = None, platform: str | None = None,
                       home: Path | None = None) -> Path:
    """The session store to use when none is given.

    `$HIPTRACK_STORE` if set; otherwise `hiptrack.sqlite3` in the user's data folder:
    `$XDG_DATA_HOME/hiptrack/` (default `~/.local/share/hiptrack/`) on Linux and other Unixes,
    `~/Library/Application Support/hiptrack/` on macOS, `%LOCALAPPDATA%\\hiptrack\\` on Windows.
    The keyword arguments exist for tests; they default to the running system's.
    """
    env = os.environ if environ is None else environ
    explicit = env.get(STORE_ENV_VAR, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    return user_data_dir(environ=env, platform=platform, home=home) / STORE_FILE_NAME


def user_data_dir(*, environ: Mapping[str, str] | None = None, platform: str | None = None,
                  home: Path | None = None) -> Path:
    """hiptrack's folder in the user's per-platform data location (not created here)."""
    env = os.environ if environ is None else environ
    plat = sys.platform if platform is None else platform
    home_dir = Path.home() if home is None else home
    if plat.startswith("win"):
        local = env.get("LOCALAPPDATA", "")
        base = Path(local) if local else home_dir / "AppData" / "Local"
    elif plat == "darwin":
        base = home_dir / "Library" / "Application Support"
    else:
        xdg = env.get("XDG_DATA_HOME", "")
        # The XDG spec says relative paths are invalid and must be ignored.
        base = Path(xdg) if xdg and Path(xdg).is_absolute() else home_dir / ".local" / "share"
    return base / APP_DIR_NAME


def reports_dir(store_path: Path) -> Path:
    """The `reports/` folder beside the store file (not created here)."""
    return Path(store_path).parent / "reports"


def store_path_of(args: argparse.Namespace) -> Path:
    """The store a command works on: `--store` if given, else the default (`default_store_path`)."""
    return Path(args.store) if args.store else default_store_path()
