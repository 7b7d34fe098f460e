"""The dashboard in a real headless Chromium (Debian's chromium + chromium-driver, installed by
scripts/install_browser.sh): sign in, watch a job progress live to success, see its curves and
genotype, predict from the model page's form, compare, and a second owner sees none of it.

With SSNAS_UI_SCREENSHOTS=DIR the job and model pages are saved there (docs/ui-job.png and
docs/ui-model.png in the repository come from this test).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from media import TINY, label_counts, poster, write_archive
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from ssnas_client import Client

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)):
        pytest.fail(f"{CHROMIUM} and {DRIVER} are needed: run `bash scripts/install_browser.sh`")
    opts = Options()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1360,1000"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=ChromeService(executable_path=DRIVER), options=opts)
    yield driver
    driver.quit()


def wait(driver, cond, timeout=60):
    """WebDriverWait; on a timeout the failure names the page's URL and visible text."""
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.2).until(cond)
    except TimeoutException:
        body = driver.find_element(By.TAG_NAME, "body").text
        pytest.fail(f"timed out on {driver.current_url}; the page shows:\n{body[:3000]}")


def sign_in(driver, url: str, key: str) -> None:
    driver.get(f"{url}/ui/#/signin")
    box = wait(driver, EC.presence_of_element_located((By.ID, "key")))
    box.clear()
    box.send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "#signin button").click()


def screenshot(driver, name: str, height: int) -> None:
    folder = os.environ.get("SSNAS_UI_SCREENSHOTS")
    if folder:
        driver.set_window_size(1360, height)
        time.sleep(0.5)
        driver.save_screenshot(str(Path(folder) / name))
        driver.set_window_size(1360, 1000)


def watch_live(driver, job_id: str) -> tuple[list[str], list[str]]:
    """Statuses and progress texts the open job page showed until the job ended (no reload)."""
    driver.execute_script("window.__sameLoad = true")
    statuses, progress = [], []
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline:
        status, value = driver.execute_script(
            "const b = document.querySelector('#job-header [role=progressbar]');"
            "return [document.body.dataset.jobStatus || '', b ? b.getAttribute('aria-valuenow') : null]")
        if status and (not statuses or statuses[-1] != status):
            statuses.append(status)
        if value is not None and (not progress or progress[-1] != value):
            progress.append(value)
        if status in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.2)
    assert driver.execute_script("return window.__sameLoad === true"), "the page reloaded"
    return statuses, progress


def test_dashboard_follows_a_job_predicts_and_isolates_owners(service, browser, tmp_path):
    d = browser
    with Client(service.url, service.key) as c:
        ds = c.upload_dataset(write_archive(tmp_path / "movies.zip"), "movies")
        job = c.submit_job(ds.id, device="cpu", seed=2, label_fraction=1.0, search_epochs=4, pretrain_epochs=2,
                           finetune_epochs=12, run=TINY)
    sign_in(d, service.url, "ssnas_wrong_key")
    assert "not valid" in wait(d, EC.visibility_of_element_located((By.ID, "signin-error"))).text
    sign_in(d, service.url, service.key)
    wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, f"a.job-link[href='#/jobs/{job.id}']"))).click()
    statuses, progress = watch_live(d, job.id)
    assert statuses[-1] == "succeeded" and "running" in statuses, statuses
    assert len(set(progress)) >= 3, progress  # the bar moved while we watched

    wait(d, lambda drv: len(drv.find_elements(By.CSS_SELECTOR, "svg.chart path.series")) >= 4)
    titles = {e.get_attribute("data-title") for e in d.find_elements(By.CSS_SELECTOR, "svg.chart")}
    assert {"search: loss", "pretrain: loss", "finetune: loss", "finetune: F1"} <= titles, titles
    img = wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, "img[data-role=genotype]")))
    wait(d, lambda drv: drv.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) > 100)
    assert "stage finetune" in d.find_element(By.ID, "logs").text
    screenshot(d, "ui-job.png", 2000)

    d.find_element(By.ID, "model-link").click()
    (tmp_path / "poster.png").write_bytes(poster(["horror"], 5))
    wait(d, EC.presence_of_element_located((By.ID, "in-poster"))).send_keys(str(tmp_path / "poster.png"))
    d.find_element(By.ID, "in-plot").send_keys("A haunted house at night.")
    d.find_element(By.CSS_SELECTOR, "#predict-form button[type=submit]").click()
    wait(d, EC.presence_of_element_located((By.ID, "prediction")))
    genres = [e.text.split("\n")[0] for e in d.find_elements(By.CSS_SELECTOR, "#prediction .genre")]
    assert sorted(genres) == ["action", "comedy", "drama", "horror"]
    screenshot(d, "ui-model.png", 1300)

    d.get(f"{service.url}/ui/#/jobs")
    Select(wait(d, EC.presence_of_element_located((By.ID, "f-status")))).select_by_value("succeeded")
    wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, f"a.job-link[href='#/jobs/{job.id}']")))
    d.get(f"{service.url}/ui/#/compare?dataset={ds.id}&jobs={job.id}")
    card = wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, f"#compare-grid [data-job='{job.id}']")))
    assert card.find_elements(By.CSS_SELECTOR, "svg.chart path.series")
    assert "test weighted F1" in d.find_element(By.TAG_NAME, "table").text

    d.get(f"{service.url}/ui/#/datasets")
    wait(d, EC.presence_of_element_located((By.LINK_TEXT, "movies"))).click()
    counts = wait(d, EC.visibility_of_element_located((By.ID, "label-counts"))).text
    expected = label_counts(60)
    horror = [r for r in counts.splitlines() if r.startswith("horror")][0].split()
    assert horror[1:5] == [str(expected[s]["horror"]) for s in ("train", "dev", "test")] + [
        str(sum(expected[s]["horror"] for s in expected))]
    assert "split_counts" in d.find_element(By.ID, "main").text

    d.find_element(By.ID, "signout").click()
    sign_in(d, service.url, service.other_key)
    wait(d, EC.presence_of_element_located((By.ID, "f-status")))
    time.sleep(0.5)
    assert not d.find_elements(By.CSS_SELECTOR, f"a.job-link[href='#/jobs/{job.id}']")
    for page in (f"#/jobs/{job.id}", f"#/models/{job.model_id}", f"#/datasets/{ds.id}"):
        d.get(f"{service.url}/ui/{page}")
        d.refresh()
        assert "HTTP 404" in wait(d, EC.visibility_of_element_located((By.ID, "page-error"))).text


RESULT = {"method": "ssl", "threshold": 0.4, "test_metrics": {"weighted_f1@sel": 0.41, "micro_f1@sel": 0.5},
          "baselines": {"all_labels": {"kind": "trivial", "threshold": None, "test": {"weighted_f1@sel": 0.3}},
                        "probe_concat": {"kind": "probe", "threshold": 0.5,
                                         "test": {"weighted_f1@sel": 0.45, "micro_f1@sel": 0.52}}},
          "verdict": {"weighted_f1": {"key": "weighted_f1@sel", "model": 0.41, "best_baseline": "probe_concat",
                                      "best_value": 0.45, "beats": ["all_labels"], "loses_to": ["probe_concat"]}},
          "modalities_read": ["image"], "warnings": ["the model does not beat probe_concat"], "params": 1234}


def test_result_panel_shows_verdict_baselines_and_warnings(service, browser):
    """The job page's result panel on the shape GET /jobs/{id} gives ``result`` (verdict per
    metric, test metrics beside each baseline, warnings, other fields as key/value)."""
    browser.get(f"{service.url}/ui/#/signin")
    text = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "import('/ui/js/panels.js').then((m) => { const n = m.resultPanel(arguments[0]);"
        " document.body.append(n); done(n.innerText); }).catch((e) => done('ERROR ' + e));", RESULT)
    assert not text.startswith("ERROR"), text
    assert "the model does not beat probe_concat" in text
    rows = [r for r in text.splitlines() if r.startswith(("this model", "probe_concat", "weighted_f1@sel"))]
    assert any("0.41" in r and "0.45" in r and "all_labels" in r for r in rows), text  # the verdict row
    assert any(r.startswith("probe_concat\tprobe") and "0.52" in r for r in rows), text
    assert "params" in text and "1234" in text and "image" in text
