"""The report in a real headless Chromium: pages load cleanly, every player loads, sorting works,
hostile ids stay text. Skips when Playwright or Chromium is not installed."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest

from codecbench.report import ReportOptions, build_report
from browser_polling import wait_until
from sample_run import make_synthetic_run

pytestmark = pytest.mark.browser
HOSTILE_UTT = "<script>alert(1)</script>"
HOSTILE_CODEC = '"><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("brep")
    run = make_synthetic_run(root / "run", utterances=(HOSTILE_UTT, "u2", "u3"),
                             codecs=((HOSTILE_CODEC, (3, 6, 12)), ("Plain", (3, 6, 12))), seconds=0.6,
                             fail=("u3", "Plain", 6.0))
    return build_report(run, root / "site", options=ReportOptions(page_size=2, bootstrap=200, anchor="Plain"))


class PageWatch:
    """Collects everything that would mean a broken page: console errors, JS errors, dialogs, failed loads."""

    def __init__(self, page) -> None:
        self.problems: list[str] = []
        page.on("console", lambda m: m.type in ("error", "warning") and self.problems.append(f"console {m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", self._failed)
        page.on("dialog", lambda d: (self.problems.append(f"dialog: {d.message}"), d.dismiss()))

    def _failed(self, request) -> None:
        # With preload="metadata" Chromium stops a long file's download once it has the header:
        # that is an abort by design, not a broken file (readyState/duration are checked separately).
        if request.resource_type == "media" and "ERR_ABORTED" in (request.failure or ""):
            return
        self.problems.append(f"failed load: {request.url} ({request.failure})")


def _check_media(page) -> int:
    """Wait until every <audio> has metadata and every <img> decoded; return the audio count."""
    wait_until(page, "Array.from(document.querySelectorAll('audio')).every(a => a.readyState >= 1 || a.error)")
    audio = page.evaluate("Array.from(document.querySelectorAll('audio')).map(a => "
                          "({src: a.getAttribute('src'), ready: a.readyState, dur: a.duration, err: a.error && a.error.code}))")
    for a in audio:
        assert a["err"] is None and a["ready"] >= 1 and 0.3 < a["dur"] < 30, a
    page.evaluate("Array.from(document.images).forEach(i => { i.loading = 'eager'; })")  # lazy ones off-screen too
    wait_until(page, "Array.from(document.images).every(i => i.complete)")
    broken = page.evaluate("Array.from(document.images).filter(i => i.naturalWidth === 0).map(i => i.src)")
    assert broken == []
    return len(audio)


def test_every_page_loads_clean_over_file_url(chromium_browser, report):
    page = chromium_browser.new_page()
    watch = PageWatch(page)
    pages = sorted(p.name for p in report.glob("*.html"))
    assert len(pages) == 4
    n_audio = 0
    for name in pages:
        page.goto((report / name).as_uri())
        n_audio += _check_media(page)
        # No link leaves the report folder or uses an absolute path.
        hrefs = page.evaluate("Array.from(document.querySelectorAll('[href],[src]')).map(e => e.getAttribute('href') || e.getAttribute('src'))")
        assert all(h and not h.startswith(("/", "http:", "https:", "file:", "//")) for h in hrefs), hrefs
        assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
    assert n_audio == 3 * 7 - 1
    assert watch.problems == []
    page.close()


def test_hostile_ids_render_as_text(chromium_browser, report):
    page = chromium_browser.new_page()
    watch = PageWatch(page)
    page.goto(next(report.glob("demo_*_1.html")).as_uri())
    rows = page.locator("tbody th.utt").all_text_contents()
    assert HOSTILE_UTT in rows
    headers = page.locator("thead th").all_text_contents()
    assert f"{HOSTILE_CODEC}_3" in headers
    assert page.evaluate("document.querySelectorAll('script').length") == 1
    assert watch.problems == []
    page.close()


def test_metric_table_sorts(chromium_browser, report):
    page = chromium_browser.new_page()
    page.goto(next(report.glob("metrics_*.html")).as_uri())
    header = page.locator("#metrics-table thead th", has_text="si_sdr")
    col = page.evaluate("Array.from(document.querySelectorAll('#metrics-table thead th')).findIndex(th => th.textContent.includes('si_sdr'))")

    def column() -> list[float]:
        return page.evaluate(f"Array.from(document.querySelectorAll('#metrics-table tbody tr')).map(r => parseFloat(r.cells[{col}].dataset.sort))")

    before = column()
    header.click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert column() == sorted(before)
    header.click()
    assert header.get_attribute("aria-sort") == "descending" and column() == sorted(before, reverse=True)
    label = page.locator("#metrics-table thead th").first
    label.click()
    names = page.evaluate("Array.from(document.querySelectorAll('#metrics-table tbody tr')).map(r => r.cells[0].dataset.sort)")
    assert names == sorted(names, key=str.lower)
    page.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def test_pages_work_from_a_localhost_server(chromium_browser, report):
    handler = functools.partial(_QuietHandler, directory=str(report))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        page = chromium_browser.new_page()
        watch = PageWatch(page)
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        page.goto(base + next(report.glob("demo_*_2.html")).name)
        assert _check_media(page) > 0
        statuses = page.evaluate("Promise.all(Array.from(document.querySelectorAll('audio')).map(a => fetch(a.src).then(r => r.status)))")
        assert set(statuses) == {200}
        assert watch.problems == []
        page.close()
    finally:
        server.shutdown()
        server.server_close()


def test_apcodec_plus_demo_players_all_load(chromium_browser, shared_fixtures, tmp_path):
    from sample_run import make_folder_run

    run = make_folder_run(shared_fixtures / "apcodec_plus_demo", tmp_path / "run")
    site = build_report(run, options=ReportOptions(anchor="APCodec+", bootstrap=200, spectrograms=False))
    page = chromium_browser.new_page()
    watch = PageWatch(page)
    page.goto(next(site.glob("demo_*_1.html")).as_uri())
    assert _check_media(page) == 3 * 14 - 2  # 3 references + 13 systems x 3, minus the demo's 2 missing files
    assert page.locator("thead th").all_text_contents()[:3] == ["utterance", "reference", "APCodec+_3"]
    assert watch.problems == []
    page.close()
    page = chromium_browser.new_page()  # leaving the demo page would abort its in-flight range requests
    watch = PageWatch(page)
    page.goto(next(site.glob("metrics_*.html")).as_uri())
    assert page.locator("#bd-table tbody tr").count() == 8
    assert watch.problems == []
    page.close()


def test_wide_tables_scroll_inside_their_container_not_the_page(chromium_browser, report):
    page = chromium_browser.new_page(viewport={"width": 560, "height": 800})
    for name in (next(report.glob("metrics_*.html")).name, "index.html"):
        page.goto((report / name).as_uri())
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), name
        widths = page.evaluate("Array.from(document.querySelectorAll('.table-scroll')).map(d => [d.scrollWidth, d.clientWidth])")
        assert widths and any(sw > cw for sw, cw in widths), (name, widths)
    page.close()
