"""Helpers for browser tests: logging in, the menu on phones, accessibility basics, layout, screenshots."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from playwright.sync_api import Page

from motcua.services.seed import DEMO_PASSWORD

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"  # git-ignored
SESSION_COOKIE = "motcua_session"


def login_as(page: Page, username: str, password: str = DEMO_PASSWORD, next_path: str | None = None) -> None:
    """Log in through the form; afterwards the page shows where the login sent it (home, or `next_path`)."""
    page.goto("/dang-nhap" + (f"?next={quote(next_path, safe='/')}" if next_path else ""))
    page.fill("#f-username", username)
    page.fill("#f-password", password)
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    assert session_cookie(page) is not None, f"{username} is not logged in: {page.url}"


def session_cookie(page: Page) -> dict[str, Any] | None:
    """The browser's `motcua_session` cookie (name, value, httpOnly, sameSite, …), if it holds one."""
    for cookie in page.context.cookies():
        if cookie.get("name") == SESSION_COOKIE:
            return dict(cookie)
    return None


def open_menu(page: Page) -> None:
    """On a narrow screen the main menu folds behind its button: open it (a no-op where it is not folded)."""
    toggle = page.locator(".nav-toggle")
    if toggle.is_visible() and toggle.get_attribute("aria-expanded") != "true":
        toggle.click()


def click_logout(page: Page) -> None:
    open_menu(page)
    with page.expect_navigation():
        page.click(".site-tools__logout button")


def main_text(page: Page) -> str:
    return page.inner_text("main")


def screenshot(page: Page, name: str) -> Path:
    """A full-page PNG under tests/artifacts/ (kept by CI, ignored by git)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def assert_fits_width(page: Page) -> None:
    """No horizontal scrolling: the document is no wider than the viewport."""
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size
    assert viewport is not None
    assert width <= viewport["width"], f"{page.url}: {width}px wide in a {viewport['width']}px viewport"


def tab_sequence(page: Page, presses: int) -> list[str]:
    """Describe the focused element after each Tab press: `tag#id.class "text"`."""
    seen = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        seen.append(page.evaluate(_DESCRIBE_FOCUS))
    return seen


_DESCRIBE_FOCUS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return "body";
  const id = el.id ? "#" + el.id : "";
  const cls = el.classList.length ? "." + [...el.classList].join(".") : "";
  return `${el.tagName.toLowerCase()}${id}${cls} "${(el.textContent || el.value || "").trim().slice(0, 40)}"`;
}"""


def assert_accessible_basics(page: Page, lang: str = "vi") -> None:
    """An axe-like check of the basics WCAG 2.1 AA asks of every page (see `_A11Y_PROBLEMS`)."""
    problems = page.evaluate(_A11Y_PROBLEMS, lang)
    assert problems == [], f"{page.url}:\n" + "\n".join(problems)


# Collects: wrong <html lang>, not exactly one <h1>, no <main>, empty <title>, form controls without a
# label, images without alt, nameless links/buttons, duplicate ids, visible text below 4.5:1 contrast
# (3:1 for large text), visible controls smaller than 44×44 px (links inside running text excepted).
_A11Y_PROBLEMS = """(lang) => {
  const problems = [];
  const htmlLang = document.documentElement.getAttribute("lang");
  if (htmlLang !== lang) problems.push(`<html lang="${htmlLang}">, expected "${lang}"`);
  const h1 = document.querySelectorAll("h1").length;
  if (h1 !== 1) problems.push(`${h1} <h1> elements`);
  if (document.querySelectorAll("main").length !== 1) problems.push("not exactly one <main>");
  if (!document.title.trim()) problems.push("empty <title>");
  const visible = (el) => {
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    return box.width > 0 && box.height > 0 && style.visibility !== "hidden" && style.display !== "none";
  };
  const describe = (el) => el.outerHTML.slice(0, 90);
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden") continue;
    const named = (el.labels && el.labels.length) || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
    if (!named) problems.push("no label: " + describe(el));
  }
  for (const el of document.querySelectorAll("img")) {
    if (!el.hasAttribute("alt")) problems.push("no alt: " + describe(el));
  }
  for (const el of document.querySelectorAll("a[href], button")) {
    if (!el.textContent.trim() && !el.getAttribute("aria-label")) problems.push("no name: " + describe(el));
  }
  const ids = new Map();
  for (const el of document.querySelectorAll("[id]")) ids.set(el.id, (ids.get(el.id) || 0) + 1);
  for (const [id, n] of ids) if (n > 1) problems.push(`id "${id}" used ${n} times`);

  const rgb = (css) => (css.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => {
    const c = [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const [r, g, b, a] = rgb(getComputedStyle(node).backgroundColor);
      if (a === undefined || a > 0) return [r, g, b];
    }
    return [255, 255, 255];
  };
  for (const el of document.querySelectorAll("body *")) {
    const ownText = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!ownText || !visible(el) || el.closest(".skip-link")) continue;
    const style = getComputedStyle(el);
    const l1 = luminance(rgb(style.color)), l2 = luminance(background(el));
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight, 10) >= 700;
    const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < needed) problems.push(`contrast ${ratio.toFixed(2)} < ${needed}: ${describe(el)}`);
  }
  const controls = "button, input:not([type=hidden]), select, textarea, nav a, .button, .tile, .lang-switch a, .site-tools a";
  for (const el of document.querySelectorAll(controls)) {
    if (!visible(el)) continue;
    const box = el.getBoundingClientRect();
    if (box.height < 44 || box.width < 44) {
      problems.push(`target ${Math.round(box.width)}×${Math.round(box.height)} px: ${describe(el)}`);
    }
  }
  return problems;
}"""
