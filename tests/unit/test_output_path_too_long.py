"""An output path the system will not even look at (a name over 255 bytes, anywhere in the
path, or a path over 4,095 bytes) is refused by every output check in one short line in
words, exit class usage, creating nothing; the path may come from a file, not an option."""

import errno
import os

import pytest

from edgekit.core.errors import UsageError
from edgekit.core.files import check_output_folder, check_writable, writable_target

SPELLINGS = {
    "long name": lambda d: d / ("a" * 256 + ".csv"),
    "long folder": lambda d: d / ("b" * 300) / "x.csv",
    "long name, several bytes a letter": lambda d: d / ("é" * 130 + ".csv"),
    "long path": lambda d: d.joinpath(*["c" * 200] * 25, "x.csv"),
    "long path of short names": lambda d: d.joinpath(*["d"] * 2100, "x.csv"),
    "relative long name": lambda d: os.path.relpath(d / ("e" * 400), os.getcwd()),
}
CHECKS = {"check_writable": check_writable, "check_writable (figure)":
          lambda p: check_writable(p, figure=True), "writable_target": writable_target,
          "check_output_folder": check_output_folder}


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_too_long_output_path_is_one_line_in_words(tmp_path, check, spelling):
    path = SPELLINGS[spelling](tmp_path)
    with pytest.raises(OSError) as raw:          # what the system says of it, unworded
        os.stat(path)
    assert raw.value.errno == errno.ENAMETOOLONG
    with pytest.raises(UsageError) as e:
        CHECKS[check](path)
    message = str(e.value)
    assert "\n" not in message and len(message) < 400, message
    assert message.endswith("file name too long (at most 255 bytes a name, 4,095 a path)")
    assert list(tmp_path.iterdir()) == []
