"""In Chromium: a chart's toolbar saves a named PNG, figures stay readable in a dark-mode browser,
and the Inspect page lives at /inspect (the old /inside still opens it).

Screenshots go to .artifacts/screenshots/ (looked at by people)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import open_page, screenshot, wait_idle

# For every plotly chart on the page: its resolved paper colour, font colour and the page's own
# background behind it (a transparent paper shows the page through).
CHART_COLORS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(gd => ({
    paper: gd._fullLayout.paper_bgcolor,
    font: gd._fullLayout.font.color,
    page: getComputedStyle(document.querySelector('[data-testid="stApp"]')).backgroundColor,
}))"""


def rgba(text: str) -> tuple[float, float, float, float]:
    """'rgb(1, 2, 3)', 'rgba(1, 2, 3, 0.5)' or '#rrggbb' as (r, g, b, alpha), 0-255 and 0-1."""
    text = text.strip()
    if text.startswith("#"):
        return (int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16), 1.0)
    parts = [float(p) for p in text[text.index("(") + 1 : -1].split(",")]
    return (*parts[:3], parts[3] if len(parts) > 3 else 1.0)  # type: ignore[return-value]


def luminance(color: tuple[float, ...]) -> float:
    """WCAG relative luminance of an sRGB colour."""

    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in color[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.fixture
def dark_page(browser: object) -> Iterator[object]:
    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 1400, "height": 1000}, color_scheme="dark"
    )
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()


def test_a_dark_mode_browser_gets_dark_readable_figures(dark_page, server) -> None:  # noqa: ANN001
    open_page(dark_page, server, "learn")
    dark_page.wait_for_selector(".js-plotly-plot .main-svg")
    screenshot(dark_page, "ux-learn-dark")
    charts = dark_page.evaluate(CHART_COLORS)
    assert charts, "no chart on the Learn page"
    for chart in charts:
        page_bg = rgba(chart["page"])
        assert luminance(page_bg) < 0.1, chart  # the app follows the browser: dark
        paper = rgba(chart["paper"])
        background = page_bg if paper[3] == 0 else paper
        assert contrast(rgba(chart["font"]), background) >= 4.5, chart  # WCAG AA for text
        assert luminance(background) < 0.2, chart  # no white box on a dark page


def test_a_chart_downloads_as_a_named_png(page, server, tmp_path: Path) -> None:  # noqa: ANN001
    open_page(page, server, "learn")
    chart = page.locator(".js-plotly-plot").first
    chart.wait_for()
    chart.hover()  # plotly shows its toolbar on hover
    camera = chart.locator('.modebar-btn[data-title="Download plot as a PNG"]')
    with page.expect_download(timeout=30_000) as info:
        camera.click()
    download = info.value
    assert download.suggested_filename == "cnnlab-learn-convolution-input-and-feature-map.png"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and saved.stat().st_size > 2000


def test_inspect_lives_at_inspect_and_the_old_address_still_opens_it(page, server) -> None:  # noqa: ANN001
    open_page(page, server, "inspect")
    page.get_by_role("heading", name="Inspect").first.wait_for(timeout=60_000)
    link = page.locator('[data-testid="stSidebarNav"] a', has_text="Inspect")
    assert link.get_attribute("href").endswith("/inspect")
    page.goto(f"{server.url}/inside")
    page.wait_for_url("**/inspect", timeout=60_000)
    wait_idle(page, 60_000)
    page.get_by_role("heading", name="Inspect").first.wait_for(timeout=60_000)
