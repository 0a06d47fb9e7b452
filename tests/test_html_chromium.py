"""The report's index.html in headless Chromium (Debian's chromium): it loads without console errors and a
screenshot is not blank. Negative controls show the checker sees errors and blank pages."""

import pytest

from bench.report import ReportOptions, build_report
from bench.report.browser import check_page, find_chromium, is_blank
from tests.report_helpers import shared_run

pytestmark = pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def index(tmp_path_factory, kodak_image):
    run_dir = shared_run(tmp_path_factory, kodak_image)
    report = build_report(run_dir, tmp_path_factory.mktemp("html") / "report", ReportOptions(formats=("png",)))
    return report.index


def test_report_page_loads_without_console_errors_and_renders(index, tmp_path):
    page = check_page(index)
    assert page.errors == []
    assert not page.blank
    assert page.title == "mpa-bench report: tiny-folder"
    (tmp_path / "screenshot.png").write_bytes(page.screenshot)
    assert not is_blank((tmp_path / "screenshot.png").read_bytes())


def test_checker_reports_console_errors_exceptions_and_failed_loads(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><h1>x</h1><img src='missing.png'>"
                   "<script>console.error('boom'); notDefined();</script></body></html>")
    page = check_page(bad)
    assert any("console.error: boom" in line for line in page.errors)
    assert any("notDefined" in line for line in page.errors)
    assert any("missing.png" in line for line in page.errors)


def test_checker_reports_a_blank_page(tmp_path):
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><head><title>t</title></head><body></body></html>")
    page = check_page(blank)
    assert page.errors == [] and page.blank and not page.ok
