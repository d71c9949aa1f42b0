"""A real browser for the web interface's tests: Debian's Chromium, headless, driven
through chromium-driver by Selenium. Screenshots go to $BERTH_UI_SHOTS
(default /tmp/berth-ui-shots)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import (StaleElementReferenceException, TimeoutException,
                                        WebDriverException)
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

SHOTS = Path(os.environ.get("BERTH_UI_SHOTS", "/tmp/berth-ui-shots"))
WIDE = (1280, 900)
NARROW = (360, 740)


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(f"none of {names} is installed: scripts/install-deps.sh installs them")


class Browser:
    """One Chromium with its own profile: cookies are this browser's only."""

    def __init__(self, base: str):
        self.base = base
        options = Options()
        options.binary_location = _binary("chromium", "chromium-browser")
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                    "--disable-gpu", "--hide-scrollbars", "--force-device-scale-factor=1",
                    f"--window-size={WIDE[0]},{WIDE[1]}"):
            options.add_argument(arg)
        service = Service(_binary("chromedriver", "chromium.chromedriver"))
        self.driver = webdriver.Chrome(service=service, options=options)

    def quit(self):
        self.driver.quit()

    def open(self, path: str):
        self.driver.get(self.base + path)

    @property
    def path(self) -> str:
        url = self.driver.current_url
        return url[len(self.base):] if url.startswith(self.base) else url

    def find(self, css: str, timeout: float = 10):
        """The first element matching `css`, waiting for it to appear. When it does not,
        the failure names the page and what it showed."""
        try:
            return WebDriverWait(self.driver, timeout).until(
                EC.presence_of_element_located((By.CSS_SELECTOR, css)))
        except TimeoutException:
            shown = self.driver.find_element(By.TAG_NAME, "body").text[:2000]
            pytest.fail(f"no {css!r} on {self.path} within {timeout}s; the page showed:\n{shown}")

    def all(self, css: str):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self, css: str = "main") -> str:
        return self.find(css).text

    def heading(self) -> str:
        return self.find("main h1, main .card h1").text

    def click_link(self, text: str):
        self.find_link(text).click()

    def find_link(self, text: str, timeout: float = 10):
        return WebDriverWait(self.driver, timeout).until(
            EC.element_to_be_clickable((By.LINK_TEXT, text)))

    def fill(self, css: str, value: str):
        field = self.find(css)
        field.clear()
        field.send_keys(value)

    def _replaced(self, old):
        """Waits until the document `old` belongs to is gone. chromedriver reports a
        vanished node as stale, or as a node that "does not belong to the document"."""
        def gone(_):
            try:
                old.is_enabled()
                return False
            except (StaleElementReferenceException, WebDriverException):
                return True
        WebDriverWait(self.driver, 15).until(gone)

    def submit(self, form_css: str):
        """Presses the form's submit button (as a user would) and waits for the next page."""
        old = self.find("html")
        self.find(f"{form_css} button[type=submit]").click()
        self._replaced(old)

    def press(self, css: str):
        """Clicks a button that submits a form, and waits for the next page. A page that
        reloads itself (one following a running collection) may replace the button
        between finding and clicking it: then it is found again."""
        for attempt in range(3):
            old = self.find("html")
            try:
                self.find(css).click()
            except (StaleElementReferenceException, WebDriverException):
                if attempt == 2:
                    raise
                continue
            self._replaced(old)
            return

    def cookie(self, name: str) -> str | None:
        c = self.driver.get_cookie(name)
        return c["value"] if c else None

    def csrf(self) -> str:
        """The CSRF token the page's forms carry (the sign-out form has it)."""
        return self.find("form[action$='/sign-out'] input[name=csrf]").get_attribute("value")

    def resize(self, size: tuple[int, int]):
        self.driver.set_window_size(*size)

    def page_width(self) -> int:
        return self.driver.execute_script("return document.documentElement.scrollWidth")

    def unnamed_controls(self) -> list[str]:
        """Controls a screen reader could not name: inputs and selects without a label or
        aria-label, buttons and links without text or aria-label."""
        return self.driver.execute_script("""
            const out = [];
            for (const el of document.querySelectorAll('input, select, textarea, button, a[href]')) {
                if (el.type === 'hidden') continue;
                const aria = el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
                let named = !!aria;
                if (!named && (el.tagName === 'BUTTON' || el.tagName === 'A'))
                    named = el.textContent.trim().length > 0 || !!el.querySelector('img[alt]:not([alt=""])');
                if (!named && el.labels) named = el.labels.length > 0;
                if (!named) out.push(el.outerHTML.slice(0, 120));
            }
            return out;
        """)

    def screenshot(self, name: str):
        """The whole page (not just the window) as SHOTS/name.png."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        width = self.driver.get_window_size()["width"]
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        original = self.driver.get_window_size()
        self.driver.set_window_size(width, min(max(height + 100, 600), 4000))
        self.driver.save_screenshot(str(SHOTS / f"{name}.png"))
        self.driver.set_window_size(original["width"], original["height"])


def sign_in(browser: Browser, user: str, password: str, path: str = "/sign-in"):
    browser.open(path)
    browser.fill("#principal", user)
    browser.fill("#password", password)
    browser.submit("form[action$='/sign-in']")


def form_sign_in(base: str, user: str, password: str):
    """A plain HTTP client signed in through the interface's own form (its paired token
    and cookie), for checks that need no rendering: a requests.Session with the session
    cookie, and a function that reads a page's CSRF token."""
    import re

    import requests

    s = requests.Session()
    form = s.get(f"{base}/sign-in", timeout=30)
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    r = s.post(f"{base}/sign-in", data={"principal": user, "password": password,
                                        "csrf": token, "next": "/"},
               allow_redirects=False, timeout=30)
    assert r.status_code == 303 and "berth_session" in s.cookies, (r.status_code, r.text[:500])

    def csrf_of(path: str) -> str:
        page = s.get(f"{base}{path}", timeout=30)
        return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return s, csrf_of
