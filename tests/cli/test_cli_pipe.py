"""``vifailback ... | head``: a reader that goes away early is not an error and prints no traceback."""

from __future__ import annotations

import json
import subprocess
import sys


def test_parse_into_a_closed_pipe_exits_quietly(tmp_path, reference_dir):
    records = json.loads((reference_dir / "example_direct_draw.json").read_text())
    answer = tmp_path / "answer.txt"
    answer.write_text(records[0]["messages"][0]["content"])
    proc = subprocess.Popen(
        [sys.executable, "-m", "vifailback_demo", "parse", str(answer), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # the reader leaves before the command writes anything, as `| head -0` would
    _, err = proc.communicate(timeout=60)
    assert err.decode() == "", err.decode()
    assert proc.returncode == 0
