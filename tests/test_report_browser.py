"""The report page in a real headless browser (Debian's chromium through chromedriver):
no console error, no network request, the table cells equal `regstudy table` (rounded) and
`regstudy table --csv` (unrounded), every figure has a non-zero rendered size. The runs are
real: a tiny 2-arm x 2-seed sweep on a few hundred MNIST images, whose end writes the page.
The screenshot stays in the test's temp dir (report.png)."""

from __future__ import annotations

import base64
import csv
import io
import json
import shutil
import tempfile
from pathlib import Path

import pytest

from .conftest import TINY, real_data_root, run_cli

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1366,900")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    root = real_data_root("MNIST")
    if root is None:
        pytest.skip("real MNIST not found: set REGSTUDY_DATA (CI exports ../shared/datasets)")
    out = tmp_path_factory.mktemp("sweep")
    tiny = [a for a in TINY if not a.startswith("trainer.epochs=")]
    res = run_cli(["train", "-m", "model=lenet5", "reg=none,l2", "seed=0,1", *tiny,
                   "trainer.epochs=2", f"hydra.sweep.dir={out}"],
                  env={"REGSTUDY_DATA": str(root)}, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    return out


@pytest.fixture
def browser(tmp_path):
    for path in (CHROMIUM, DRIVER):
        if not Path(path).is_file():
            pytest.skip(f"{path} not installed (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed "
                                    "(pip install -e .[dev])")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def cells(driver, selector: str):
    """Text of each row's cells (textContent: rows inside a closed <details> count too)."""
    rows = driver.find_elements("css selector", f"{selector} tr")
    return [[c.get_attribute("textContent").strip()
             for c in r.find_elements("css selector", "th, td")] for r in rows]


def requests(driver):
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


@pytest.mark.slow
def test_report_in_a_real_browser(sweep, browser, tmp_path):
    page = tmp_path / "report.html"
    res = run_cli(["report", str(sweep), "--out", str(page), "--baseline", "reg=none"])
    assert res.returncode == 0, res.stderr
    assert (sweep / "report.html").is_file()          # written at the end of the multirun too
    requests(browser)                                 # drain: the browser's own start-up page
    browser.get(page.as_uri())
    assert browser.find_element("css selector", "h1").text.startswith("regstudy report")
    for summary in browser.find_elements("css selector", "summary"):
        summary.click()                               # open the folded tables, for the picture
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1366, min(height + 100, 12000))
    assert browser.save_screenshot(str(tmp_path / "report.png"))
    pdf = base64.b64decode(browser.print_page())      # printable: Chromium's print to PDF
    (tmp_path / "report.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000

    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    urls = requests(browser)
    assert page.as_uri() in urls
    assert [u for u in urls if u != page.as_uri() and not u.startswith("data:")] == []

    table = run_cli(["table", str(sweep), "--baseline", "reg=none"]).stdout.splitlines()
    markdown = [[c.strip() for c in line.strip().strip("|").split("|")]
                for line in table[:1] + table[2:] if line.startswith("|")]
    assert cells(browser, "#summary") == markdown
    raw = run_cli(["table", str(sweep), "--baseline", "reg=none", "--csv"]).stdout
    assert cells(browser, "#csv") == list(csv.reader(io.StringIO(raw)))
    assert len(markdown) == 3                          # header, reg=none, reg=l2

    figures = browser.find_elements("css selector", "img, svg")
    assert len(figures) >= 3                           # curves, gradient flow, <z^2>
    for fig in figures:
        size = browser.execute_script(
            "const r = arguments[0].getBoundingClientRect();"
            "return [r.width, r.height, arguments[0].naturalWidth || 1]", fig)
        assert min(size) > 0, fig.get_attribute("alt")
