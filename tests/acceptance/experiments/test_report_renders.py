"""The HTML reports draw their plotly figures in a real (headless) browser, offline.

Needs Chromium (Debian: ``apt-get install -y chromium``); skips with that advice when absent.
"""

import struct

import pytest
import torch
from render import count_figures, dump_dom, find_chromium, screenshot

from veracity.experiments.report import write_report
from veracity.experiments.truth import transfer

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(find_chromium() is None,
                       reason="chromium not installed: apt-get install -y chromium (or set $CHROMIUM)"),
]


@pytest.fixture(scope="module")
def transfer_report(tmp_path_factory, embedded, monkeypatch_module):
    """veracity.experiments.truth.transfer at a tiny size on the embedded model."""
    monkeypatch_module.setattr(transfer.TransferConfig, "load_model", lambda self, backend="hf": embedded)
    out = tmp_path_factory.mktemp("transfer")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        transfer.main(["--datasets", "cities,neg_cities", "--n", "40", "--out", str(out)])
    finally:
        torch.set_num_threads(threads)
    return out / "report.html"


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_transfer_report_draws_every_figure(transfer_report):
    dom = dump_dom(transfer_report)
    figures, drawn = count_figures(dom)
    assert transfer_report.read_text().count('class="plotly-graph-div"') == 2
    assert (figures, drawn) == (2, 2)
    assert dom.count('class="hm"') == 4  # one heatmap per probe in each of the two figures
    for text in ("trained on", "tested on", "neg_cities", "mass_mean"):
        assert f'data-unformatted="{text}"' in dom


def test_a_report_without_plotly_draws_nothing(tmp_path):
    """The check can fail: a figure div whose plotly.js never loads yields no drawn SVG."""
    good = write_report(tmp_path / "ok.html", "ok", [transfer.go.Figure(transfer.go.Bar(y=[1, 2]))])
    broken = tmp_path / "broken.html"
    broken.write_text(good.read_text().replace("<script type='text/javascript'>", "<script type='text/x-none'>", 1))
    assert count_figures(dump_dom(good)) == (1, 1)
    assert count_figures(dump_dom(broken)) == (0, 0)


def test_screenshot_is_a_png_of_the_window(transfer_report, tmp_path):
    png = screenshot(transfer_report, tmp_path / "report.png", window=(1200, 900))
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1200, 900)
    assert len(data) > 20_000  # a blank page compresses to a few kB
