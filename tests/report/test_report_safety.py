"""The report writes only what it owns, reads only files inside the run's folders, survives damage."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from codecbench.errors import EXIT_USAGE, StorageError
from codecbench.paths import SITE_MARKER, AllowedRoots
from codecbench.report import ReportOptions, build_report
from codecbench.report.build import build_report_summary
from codecbench.report.cli import main as cli_main
from sample_run import make_synthetic_run, tree_contents
from codecbench.results import load_results
from codecbench.store import ItemResult, ResultStore

FAST = {"bootstrap": 200, "spectrograms": False}


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    return make_synthetic_run(tmp_path_factory.mktemp("srun") / "run", utterances=("u1", "u2", "u3"),
                              codecs=(("Alpha", (6, 12)), ("Beta", (6, 12))), seconds=0.5)


@pytest.fixture
def run(base_run, tmp_path) -> Path:
    """A private copy that a test may damage."""
    return Path(shutil.copytree(base_run, tmp_path / "run"))


def test_foreign_out_dir_is_refused_and_left_untouched(run, tmp_path, capsys):
    site = tmp_path / "mine"
    (site / "audio").mkdir(parents=True)
    sf.write(site / "audio" / "my_recording.wav", np.zeros(800, dtype=np.float32), 16000)
    (site / "notes.txt").write_text("my notes\n")
    (site / "page.html").write_text("<p>mine</p>\n")
    before = tree_contents(site)
    with pytest.raises(StorageError, match="not written by codecbench"):
        build_report(run, site, options=ReportOptions(**FAST))
    assert tree_contents(site) == before
    assert cli_main(["report", str(run), "--out", str(site), "--no-spectrograms"]) == EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(site) in err and "empty or new folder" in err
    assert tree_contents(site) == before


def test_rebuild_replaces_only_listed_files_and_keeps_users_own(run, tmp_path):
    site = tmp_path / "site"
    build_report(run, site, options=ReportOptions(demo_items=3, **FAST))
    first = set(tree_contents(site))
    assert SITE_MARKER in first and any(f.startswith("audio/") for f in first)
    # The user adds their own files next to (and inside) the report folders.
    sf.write(site / "audio" / "my_recording.wav", np.ones(400, dtype=np.float32) * 0.1, 16000)
    (site / "notes.txt").write_text("keep me\n")
    (site / "my_page.html").write_text("<p>keep me too</p>\n")
    build_report(run, site, options=ReportOptions(demo_items=1, **FAST))
    after = tree_contents(site)
    assert after["notes.txt"] == b"keep me\n" and after["my_page.html"] == b"<p>keep me too</p>\n"
    assert "audio/my_recording.wav" in after
    # Our files of the 3-utterance build that the 1-utterance build did not write are gone.
    audio = [f for f in after if f.startswith("audio/") and f != "audio/my_recording.wav"]
    assert len(audio) == 1 + 4  # one reference + four conditions
    assert set(after) - first == {"audio/my_recording.wav", "notes.txt", "my_page.html"}


def test_a_build_that_fails_half_way_still_records_what_it_wrote(run, tmp_path, monkeypatch):
    import codecbench.report.build as build

    def broken(*args, **kwargs):
        raise RuntimeError("plotting failed")

    site = tmp_path / "site"
    monkeypatch.setattr(build, "rd_plot", broken)
    with pytest.raises(RuntimeError, match="plotting failed"):
        build_report(run, site, options=ReportOptions(**FAST))
    written = set(tree_contents(site)) - {SITE_MARKER}
    assert written and set(json.loads((site / SITE_MARKER).read_text())["files"]) >= written
    monkeypatch.undo()
    (site / "notes.txt").write_text("mine")
    build_report(run, site, options=ReportOptions(**FAST))  # our half-written files are replaced, not refused
    assert (site / "index.html").is_file() and (site / "notes.txt").read_text() == "mine"


def test_an_older_codecbench_report_is_named_as_such(tmp_path, run):
    old = tmp_path / "old"
    old.mkdir()
    (old / "index.html").write_text('<html><meta name="generator" content="codecbench 0.0.9"></html>')
    with pytest.raises(StorageError, match="older codecbench"):
        build_report(run, old, options=ReportOptions(**FAST))


def test_user_file_at_a_path_the_report_wants_is_refused(run, tmp_path):
    site = tmp_path / "site"
    build_report(run, site, options=ReportOptions(**FAST))
    marker = json.loads((site / SITE_MARKER).read_text())
    marker["files"].remove("index.html")  # as after a build that wrote no index.html
    (site / SITE_MARKER).write_text(json.dumps(marker))
    (site / "index.html").write_text("mine")  # ... and the user then put their own page there
    with pytest.raises(StorageError, match="index.html: exists and was not written by codecbench"):
        build_report(run, site, options=ReportOptions(**FAST))
    assert (site / "index.html").read_text() == "mine"


def test_damaged_marker_and_other_tools_folder_are_refused(run, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / SITE_MARKER).write_text("{not json")
    with pytest.raises(StorageError, match="damaged ownership marker"):
        build_report(run, site, options=ReportOptions(**FAST))
    (site / SITE_MARKER).write_text('{"format": "codecbench-site", "tool": "listen", "files": ["../../x"]}')
    with pytest.raises(StorageError, match="damaged ownership marker"):  # a listed path that climbs out
        build_report(run, site, options=ReportOptions(**FAST))
    (site / SITE_MARKER).write_text('{"format": "codecbench-site", "tool": "listen", "files": []}')
    with pytest.raises(StorageError, match="codecbench listen output"):
        build_report(run, site, options=ReportOptions(**FAST))


def test_files_named_by_the_database_outside_the_run_are_not_copied(run, tmp_path, capsys):
    secret = tmp_path / "elsewhere" / "private.wav"
    secret.parent.mkdir()
    sf.write(secret, np.full(8000, 0.25, dtype=np.float32), 16000)
    frame = load_results(run, include_paths=True)
    row = frame[(frame["utterance"] == "u1") & (frame["codec"] == "Alpha") & (frame["bitrate"] == 6.0)].iloc[0]
    with ResultStore.open(run) as store:
        store.write(ItemResult("synthetic|u1|Alpha|6", "synthetic", "u1", "Alpha", "adapter0", 6.0, "ok",
                               reference_path="/etc/passwd", decoded_path=str(secret),
                               scores={"si_sdr": (float(row["si_sdr"]), None), "lsd": (float(row["lsd"]), None)}))
    out = build_report(run, tmp_path / "site", options=ReportOptions(audio_format="copy", **FAST))
    err = capsys.readouterr().err
    assert "/etc/passwd" in err and str(secret) in err and "left out" in err
    copied = tree_contents(out)
    assert secret.read_bytes() not in copied.values()
    assert not any(b"root:" in data for name, data in copied.items() if name.startswith("audio/"))
    demo = next(out.glob("demo_*_1.html")).read_text()
    assert "outside the run&#39;s folders" in demo
    # The other rows of the same run are still copied (they lie inside the run dir).
    assert sum(1 for f in copied if f.startswith("audio/")) == 3 * 5 - 2  # u1's reference and Alpha_6 left out


def test_allowed_roots_come_from_the_run_cache_and_dataset_folders(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    manifest = {"suite": {"cache": str(tmp_path / "cache"),
                          "datasets": [{"name": "d", "type": "folder", "options": {"root": str(data)}}],
                          "codecs": [{"name": "c", "adapter": "opus", "options": {"config": "/etc/opus.cfg"}}]}}
    roots = AllowedRoots.for_run(tmp_path / "run", manifest)
    assert roots.allows(tmp_path / "run" / "cache" / "a.wav") and roots.allows(data / "x" / "y.wav")
    assert roots.allows(tmp_path / "cache" / "b.wav")
    assert not roots.allows("/etc/passwd") and not roots.allows(tmp_path / "run2" / "a.wav")
    assert not roots.allows(data / ".." / "other.wav")
    (data / "link").symlink_to("/etc", target_is_directory=True)
    assert not roots.allows(data / "link" / "passwd")


def test_dataset_name_that_climbs_writes_nowhere_outside_the_site(tmp_path):
    work = tmp_path / "a" / "b" / "c"
    run = make_synthetic_run(work / "run", utterances=("../../u1", "/abs/u2"), codecs=(("../up", (6, 12)),),
                             seconds=0.5, dataset="../../../x")
    before = tree_contents(tmp_path)
    out = build_report(run, work / "site", options=ReportOptions(bootstrap=200))
    new = {f for f in set(tree_contents(tmp_path)) - set(before) if not Path(f).name.startswith("results.sqlite")}
    site_prefix = (work / "site").relative_to(tmp_path).as_posix() + "/"
    assert new and all(f.startswith(site_prefix) for f in new)
    assert any("audio/" in f for f in new) and any("spec/" in f for f in new) and any("plots/" in f for f in new)
    for f in new:
        assert ".." not in Path(f).parts
    assert (out / "index.html").is_file()


def test_damaged_cached_audio_gives_a_warning_not_a_crash(run, tmp_path, capsys):
    frame = load_results(run, include_paths=True)
    victim = Path(frame[(frame["utterance"] == "u2") & (frame["codec"] == "Beta")
                        & (frame["bitrate"] == 12.0)]["decoded_path"].iloc[0])
    victim.write_bytes(b"RIFF\x00\x01\x00\x00WAVEfmt garbage" + bytes(50))
    summary = build_report_summary(run, tmp_path / "site", options=ReportOptions(bootstrap=200))
    err = capsys.readouterr().err
    assert str(victim) in err and "cannot read the audio" in err
    demo = next(summary.out_dir.glob("demo_*_1.html")).read_text()
    assert "unreadable" in demo
    assert summary.audio_files == 3 + 3 * 4 - 1
    assert demo.count('class="spec"') == 3 + 3 * 4 - 1
