"""Open an HTML report in headless Chromium: dump the rendered DOM, or take a screenshot.

Used by the test that checks the reports really draw their plotly figures in a browser, and to
refresh the README gallery::

    python -m render artifacts/transfer/report.html docs/report.png

Chromium is looked up as ``$CHROMIUM``, then ``chromium``, ``chromium-browser``,
``google-chrome`` on ``PATH`` (Debian: ``apt-get install -y chromium``). It runs with
``--no-sandbox`` (needed as root, e.g. in CI containers), no GPU and no network services, and a
throw-away profile; ``--virtual-time-budget`` lets the page's scripts finish before the dump.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["count_figures", "dump_dom", "find_chromium", "screenshot"]

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars")


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable (``$CHROMIUM`` first), or ``None`` when there is none."""
    if env := os.environ.get("CHROMIUM"):
        return shutil.which(env)
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


def _run(html_path: str | Path, extra: list[str], timeout: float, budget_ms: int) -> str:
    browser = find_chromium()
    if browser is None:
        raise FileNotFoundError("no chromium found: install it (Debian: apt-get install -y chromium) or set $CHROMIUM")
    page = Path(html_path).resolve()
    if not page.is_file():
        raise FileNotFoundError(f"no HTML file at {page}: write the report first")
    with tempfile.TemporaryDirectory(prefix="veracity-chromium-") as profile:
        done = subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}",
                               *extra, page.as_uri()], capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"chromium exited with {done.returncode} on {page}: {tail}")
    return done.stdout


def dump_dom(html_path: str | Path, timeout: float = 120, budget_ms: int = 10000) -> str:
    """The page's DOM after its scripts ran (plotly figures drawn as SVG).

    Args:
        html_path: A local HTML file.
        timeout: Seconds before giving up on the browser.
        budget_ms: Virtual time the page's scripts get before the dump.

    Returns:
        The serialised DOM.

    Example:
        >>> 'class="main-svg"' in dump_dom("artifacts/transfer/report.html")  # doctest: +SKIP
        True
    """
    return _run(html_path, ["--dump-dom"], timeout, budget_ms)


def screenshot(html_path: str | Path, png_path: str | Path, window: tuple[int, int] = (1200, 900),
               timeout: float = 120, budget_ms: int = 10000) -> Path:
    """Save a PNG of the rendered page (the top ``window`` pixels).

    Args:
        html_path: A local HTML file.
        png_path: Where to write the PNG (parent folders are created).
        window: Browser window ``(width, height)`` in pixels.
        timeout: Seconds before giving up on the browser.
        budget_ms: Virtual time the page's scripts get before the shot.

    Returns:
        The PNG path.
    """
    png = Path(png_path).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    _run(html_path, [f"--screenshot={png}", f"--window-size={window[0]},{window[1]}"], timeout, budget_ms)
    if not png.is_file():
        raise RuntimeError(f"chromium wrote no screenshot to {png}")
    return png


def count_figures(dom: str) -> tuple[int, int]:
    """``(figure divs, figure divs that contain a drawn plotly SVG)`` in a dumped DOM."""
    parts = re.split(r'<div class="plot-container plotly"', dom)[1:]
    return len(parts), sum('class="main-svg"' in part for part in parts)


def main(argv=None) -> Path:
    """Command-line entry: ``python tests/render.py REPORT.html OUT.png``."""
    parser = argparse.ArgumentParser(description="Screenshot an HTML report in headless Chromium.")
    parser.add_argument("html", help="the report to open, e.g. artifacts/transfer/report.html")
    parser.add_argument("png", help="where to write the screenshot, e.g. docs/report.png")
    parser.add_argument("--width", type=int, default=1200, help="window width in pixels")
    parser.add_argument("--height", type=int, default=900, help="window height in pixels")
    args = parser.parse_args(argv)
    try:
        path = screenshot(args.html, args.png, (args.width, args.height))
    except (FileNotFoundError, RuntimeError) as err:
        parser.error(str(err))
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
