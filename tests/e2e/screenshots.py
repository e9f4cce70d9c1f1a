"""Take the docs' screenshots from a running instance (not a test):

    .venv/bin/python -m tests.e2e.screenshots http://127.0.0.1:8000 admin PASSWORD [OUT_DIR]
    .venv/bin/python -m tests.e2e.screenshots --phone http://127.0.0.1:8000 admin PASSWORD [OUT_DIR]

Headless Chromium at 1280 px (or, with --phone, a 390 x 844 touch screen: the dashboard, the
dashboard with its menu open and the site list); each page is shot once its htmx requests have settled. Pages:
dashboard, a site, a task with its log, the status page, the locks page (the first site and the
latest running task, else backup, else any task are picked from the site and task lists)."""
from __future__ import annotations

import re
import sys
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def log_in(page: Page, base: str, user: str, password: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def shoot(page: Page, url: str, out: Path, *, full: bool = True) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(out), full_page=full)
    print(f"{out}: {url}")


def main(base: str, user: str, password: str, out_dir: str = "docs/screenshots", width: int = 1280) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": 900})
        log_in(page, base, user, password)
        suffix = "" if width == 1280 else f"-{width}"
        shoot(page, f"{base}/", out / f"dashboard{suffix}.png")
        page.goto(f"{base}/sites/?q=site1.")
        site = page.locator("#results tbody a").first.get_attribute("href")
        shoot(page, base + site, out / f"site-detail{suffix}.png")
        # A running task shows the live log and its controls; else the latest backup.
        page.goto(f"{base}/tasks/?state=running")
        links = page.locator("table.tasks tbody td:nth-child(2) a")
        if not links.count():
            page.goto(f"{base}/tasks/?kind=backup")
        if not links.count():
            page.goto(f"{base}/tasks/")
        task = links.first.get_attribute("href")
        shoot(page, base + task, out / f"task-detail{suffix}.png")
        shoot(page, f"{base}/status/", out / f"status{suffix}.png")
        shoot(page, f"{base}/locks/", out / f"locks{suffix}.png")
        browser.close()


def phone(base: str, user: str, password: str, out_dir: str = "docs/screenshots") -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                device_scale_factor=2)
        log_in(page, base, user, password)
        shoot(page, f"{base}/", out / "dashboard-phone.png", full=False)
        page.locator(".menu-button").tap()
        page.screenshot(path=str(out / "menu-phone.png"))
        shoot(page, f"{base}/sites/", out / "sites-phone.png", full=False)
        browser.close()


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--phone"]:
        phone(*args[1:])
    elif len(args) > 3 and re.fullmatch(r"\d+", args[-1]):
        main(*args[:-1], width=int(args[-1]))
    else:
        main(*args)
