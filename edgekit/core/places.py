"""Where edgekit keeps things, read from the environment in one place (README:
"Environment variables"). Each variable is read by one function here, by the same rules:

- unset and empty are the same (as the XDG Base Directory spec says of its variables);
- ``XDG_CONFIG_HOME`` and ``XDG_CACHE_HOME`` that are not absolute are ignored (the spec:
  "all paths ... must be absolute"), and the default is used;
- ``HOME`` unset, empty or relative: the account's home from the password database;
- ``EDGEKIT_CACHE`` must be absolute (a cache wherever the command happens to run is never
  meant): one line otherwise; :func:`check_cache_folder` says, before any work, that the
  cache is a file, a dangling link, or on a read-only file system / without permission
  (a read-only HOME included), with what to set;
- ``EDGEKIT_PROFILES``: a profile file (``.toml``) or a folder of them, several separated
  by ':'; one that does not exist is one line.

The variables edgekit reads, with what each is for, are listed in :data:`VARIABLES`.
Standard library only.
"""

from __future__ import annotations

import os
from pathlib import Path

from edgekit.core.errors import UsageError

# Every environment variable edgekit reads, and what it does (README "Environment
# variables" is this table; tests draw from it).
VARIABLES = {
    "HOME": "the home folder: ~/.config/edgekit and ~/.cache/edgekit below it",
    "XDG_CONFIG_HOME": "absolute: edgekit's settings in $XDG_CONFIG_HOME/edgekit "
                       "(devices.toml, profiles/); a relative one is ignored",
    "XDG_CACHE_HOME": "absolute: the export cache in $XDG_CACHE_HOME/edgekit; a relative "
                      "one is ignored",
    "EDGEKIT_CACHE": "absolute: the export cache folder (default ~/.cache/edgekit)",
    "EDGEKIT_PROFILES": "device profiles: a .toml file or a folder of them (':' between "
                        "several), after the shipped and the user's",
    "EDGEKIT_DEBUG": "1: tracebacks and the libraries' logs (as --debug)",
    "EDGEKIT_QUIET": "1: no progress lines on stderr",
    "COLUMNS": "the width of tables (a whole number; otherwise the terminal's)",
    "KERAS_HOME": "where keras.applications keeps its weights (--weights imagenet)",
    "TMPDIR": "temporary files and folders (Python's rules: unusable means /tmp)",
    "RAY_ADDRESS": "Ray's own: the cluster '--ray-address auto' joins",
}


def _absolute(name: str) -> Path | None:
    """An XDG variable's folder: None where it is unset, empty or not absolute."""
    value = os.environ.get(name, "")
    return Path(value) if value and os.path.isabs(value) else None


def home() -> Path:
    """The user's home: $HOME when it is an absolute path, else the account's home from
    the password database; one line when there is none."""
    value = os.environ.get("HOME", "")
    if value and os.path.isabs(value):
        return Path(value)
    try:
        import pwd

        found = pwd.getpwuid(os.getuid()).pw_dir
    except (ImportError, KeyError, OSError):
        found = ""
    if found and os.path.isabs(found):
        return Path(found)
    raise UsageError(f"HOME {value!r} is not an absolute path and this account has no home "
                     "folder: set HOME, or EDGEKIT_CACHE and XDG_CONFIG_HOME")


def config_dir() -> Path:
    """edgekit's folder of user settings: $XDG_CONFIG_HOME/edgekit (~/.config/edgekit)."""
    base = _absolute("XDG_CONFIG_HOME")
    return (base if base is not None else home() / ".config") / "edgekit"


def cache_dir() -> Path:
    """The export cache: $EDGEKIT_CACHE, else $XDG_CACHE_HOME/edgekit, else
    ~/.cache/edgekit. A relative EDGEKIT_CACHE is one line."""
    value = os.environ.get("EDGEKIT_CACHE", "")
    if value:
        if not os.path.isabs(value):
            raise UsageError(f"EDGEKIT_CACHE {value!r}: give an absolute path (the export "
                             "cache is one folder, whatever folder edgekit runs in)")
        return Path(value)
    base = _absolute("XDG_CACHE_HOME")
    return (base if base is not None else home() / ".cache") / "edgekit"


def profile_sources() -> list[Path]:
    """$EDGEKIT_PROFILES: profile files and folders of them (':' between several), each
    checked to exist; empty when unset."""
    value = os.environ.get("EDGEKIT_PROFILES", "")
    found = []
    for part in value.split(os.pathsep) if value else []:
        if not part:
            continue
        path = Path(part)
        if not path.exists():
            raise UsageError(f"EDGEKIT_PROFILES {part!r}: no such file or folder (give a "
                             "profile's .toml file or a folder of them)")
        if not path.is_dir() and path.suffix.lower() != ".toml":
            raise UsageError(f"EDGEKIT_PROFILES {part!r}: a profile file ends in .toml "
                             "(or give a folder of them)")
        found.append(path)
    return found


def check_cache_folder(folder: Path | None = None, what: str | None = None) -> Path:
    """The cache folder, usable before any work starts, or one line that says why not and
    what to set: it is a file, a symbolic link to nothing, or it (or the folder it would be
    made in) cannot be written (a read-only file system, a read-only HOME). Creates
    nothing."""
    folder = cache_dir() if folder is None else Path(folder)
    what = what or ("EDGEKIT_CACHE " + repr(str(folder)) if os.environ.get("EDGEKIT_CACHE")
                    else f"the export cache {folder}")
    fix = "set EDGEKIT_CACHE to a writable folder"
    if os.path.islink(folder) and not os.path.exists(folder):
        raise UsageError(f"{what} is a symbolic link to {os.readlink(folder)!r}, which does "
                         f"not exist: {fix}")
    if os.path.lexists(folder) and not folder.is_dir():
        raise UsageError(f"{what} is a file, not a folder: {fix}")
    nearest = folder
    while not os.path.lexists(nearest) and nearest != nearest.parent:
        nearest = nearest.parent
    if not nearest.is_dir():
        raise UsageError(f"{what} cannot be made: {nearest} is not a folder; {fix}")
    if not os.access(nearest, os.W_OK | os.X_OK):
        try:
            read_only = bool(os.statvfs(nearest).f_flag & os.ST_RDONLY)
        except OSError:
            read_only = False
        why = "a read-only file system" if read_only else "permission denied"
        where = "" if nearest == folder else f" ({nearest}, where it would be made)"
        raise UsageError(f"{what} is not writable{where}: {why}; {fix}")
    return folder
