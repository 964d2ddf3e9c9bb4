"""Suite files are rejected up front with file:line: key.path messages and did-you-mean."""

from __future__ import annotations

from pathlib import Path

import pytest

from codecbench.suite import SuiteError, load_codec_entry, load_suite, suite_from_text

GOOD = """\
name: t
datasets:
  - name: demo
    type: builtin
codecs:
  - name: Opus
    adapter: opus
    bitrates: [6, 12]
metrics:
  - si_sdr
  - name: lsd
"""


def test_good_suite_parses() -> None:
    suite = suite_from_text(GOOD, "good.yaml")
    assert [c.bitrates for c in suite.codecs] == [[6.0, 12.0]]
    assert [m.name for m in suite.metrics] == ["si_sdr", "lsd"]
    assert suite.output_dir() == Path("reports/t")


@pytest.mark.parametrize("text, expected", [
    (GOOD.replace("metrics:", "metircs:"), "t.yaml:9: metircs: unknown key (did you mean 'metrics'?)"),
    (GOOD.replace("adapter: opus", "adapter: opsu"), "t.yaml:7: codecs[0].adapter: unknown codec 'opsu' (did you mean 'opus'?)"),
    (GOOD.replace("- si_sdr", "- pesq_wbb"), "t.yaml:10: metrics[0].name: unknown metric 'pesq_wbb' (did you mean 'pesq_wb'?)"),
    (GOOD.replace("type: builtin", "type: folderr"), "t.yaml:4: datasets[0].type: unknown dataset 'folderr' (did you mean 'folder'?)"),
    (GOOD.replace("    bitrates: [6, 12]", "    bitrates: [6, 12]\n    options: {aplication: voip}"),
     "t.yaml:9: codecs[0].options: unknown option 'aplication' (did you mean 'application'?)"),
    (GOOD.replace("bitrates: [6, 12]", "bitrates: [6, -1]"), "t.yaml:8: codecs[0].bitrates[1]: bitrate must be positive"),
    (GOOD.replace("    adapter: opus\n", ""), "codecs[0].adapter: required key is missing"),
    (GOOD.replace("name: demo", "name: demo\n    max_utterances: zero"), "datasets[0].max_utterances"),
    (GOOD + "  - si_sdr\n", "metrics[2].name: duplicate name 'si_sdr'"),
    ("name: [unclosed\n", "t.yaml:2:1: malformed YAML"),
    ("- just\n- a list\n", "t.yaml:1: <top>: a suite must be a YAML mapping"),
    (GOOD + "report: {anchor: Opsu}\n", "t.yaml:12: report.anchor: anchor 'Opsu' is not a codec of this suite (did you mean 'Opus'?)"),
    (GOOD + "report: {anchr: Opus}\n", "t.yaml:12: report.anchr: unknown key (did you mean 'anchor'?)"),
])
def test_errors_name_file_line_and_key(text: str, expected: str) -> None:
    with pytest.raises(SuiteError) as info:
        suite_from_text(text, "t.yaml")
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_unknown_key_lists_allowed_keys() -> None:
    with pytest.raises(SuiteError, match="allowed keys: .*bitrates.*options"):
        suite_from_text(GOOD.replace("bitrates:", "bitrate_list:"), "t.yaml")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="suite file not found"):
        load_suite(tmp_path / "nope.yaml")


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text("name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(SuiteError, match="malformed YAML"):
        load_suite(path)


def test_codec_entry_for_roundtrip(tmp_path: Path) -> None:
    path = tmp_path / "opus.yaml"
    path.write_text("adapter: opus\nbitrate: 12\n")
    entry = load_codec_entry(path)
    assert entry.name == "opus" and entry.bitrates == [12.0]
    path.write_text("adapter: opus\nbitrate: 12\noptions: {bogus: 1}\n")
    with pytest.raises(SuiteError, match=r"opus.yaml:3: options: unknown option 'bogus'"):
        load_codec_entry(path)


@pytest.mark.parametrize("suite", sorted(Path(__file__).resolve().parents[2].joinpath("suites").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_shipped_suites_validate(suite: Path) -> None:
    load_suite(suite)
