"""The README's screenshot of `fakescope serve`: the default detector (packaged weights) scans the
demo's video through the web page in headless Chromium.

    .venv/bin/python scripts/screenshot_serve.py        # writes docs/images/serve_page.png
"""

from __future__ import annotations

import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from fakescope.demo import build_sample
from fakescope.serve.app import ServeConfig, create_app

OUT = Path(__file__).resolve().parents[1] / "docs" / "images" / "serve_page.png"


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="fakescope-shot-"))
    video = next(p for p in build_sample(root / "sample") if p.suffix == ".mp4")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(ServeConfig(data_dir=root / "data")),
                                           host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,2500"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        driver.get(f"http://127.0.0.1:{port}/")
        driver.find_element(By.ID, "file").send_keys(str(video))
        driver.find_element(By.ID, "submit").click()
        WebDriverWait(driver, 300).until(ec.visibility_of_element_located((By.ID, "verdict")))
        # the page opens the video on its most suspicious sampled frame, faces boxed
        WebDriverWait(driver, 30).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#boxes rect.facebox"))
        time.sleep(1.5)  # let the frame and the overlay images load
        OUT.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(OUT))
    finally:
        driver.quit()
        server.should_exit = True
    print(OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
