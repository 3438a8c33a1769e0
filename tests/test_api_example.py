"""The README's API script, run as a reader would: against `recruiter serve`, stdlib only."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from live_serve import serving

# The console script the README's readers have (pip install -e . makes it).
RECRUITER = shutil.which("recruiter") or str(Path(sys.executable).parent / "recruiter")
SCRIPT = Path(__file__).resolve().parent.parent / "docs" / "api_example.py"


@pytest.mark.slow
def test_the_api_example_does_the_whole_job_against_serve(tmp_path: Path) -> None:
    """Every step of the README's script succeeds, and its evidence shows every letter sent.

    Token, webhook, position, 30 upserts, notes, filled, approve, release, post, webhook,
    evidence; then the whole script once more on the same server.
    """
    work = tmp_path / "work"
    work.mkdir()
    with serving(tmp_path) as served:
        done = subprocess.run(
            [sys.executable, str(SCRIPT), "--base", served.base, "--out", "evidence.zip",
             "--recruiter", RECRUITER],
            cwd=work, env=served.env, capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stdout + done.stderr + served.log.read_text()
        lines = done.stdout.splitlines()
        assert [line.split(".")[0] for line in lines] == [str(n) for n in range(1, 12)], lines
        assert "30 applications upserted: 30 created" in done.stdout
        assert "29 declined" in done.stdout
        assert "29 letters approved" in done.stdout
        received = next(line for line in lines if line.startswith("10. "))
        assert "'state': 'completed'" in received and "'sent': 29" in received

        with zipfile.ZipFile(work / "evidence.zip") as evidence:
            names = evidence.namelist()
            manifest = json.loads(evidence.read("manifest.json"))
            index = evidence.read("index.csv").decode().splitlines()
        assert sum(1 for name in names if name.endswith(".eml")) == 28
        assert sum(1 for name in names if name.endswith(".pdf")) == 1
        assert manifest["exported_by"].startswith("API token")
        assert len(manifest["letters"]) == 29
        assert all(",sent,sent," in row for row in index[1:]), index
        assert len(list(work.glob("letter-*.pdf"))) == 1  # the one letter for post

        # The same script again changes nothing it should not: a new position, new ids.
        again = subprocess.run(
            [sys.executable, str(SCRIPT), "--base", served.base, "--out", "again.zip",
             "--recruiter", RECRUITER],
            cwd=work, env=served.env, capture_output=True, text=True, timeout=600, check=False)
        assert again.returncode == 0, again.stdout + again.stderr
