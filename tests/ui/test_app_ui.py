"""The served app in a real headless Chromium: slider by keyboard, live views, downloads, bad input.

What is checked is what a person sees: the pixels of the main image, the real-galaxy grid's contents, the
statistics table's text, toast notifications, and files that arrive through the browser's download.
"""

from __future__ import annotations

import imageio.v3 as iio
import pytest

from tests.support.app_serving import SHOWN_JS as SHOWN
from tests.support.app_serving import wait_until_baked

pytestmark = pytest.mark.ui

TIMEOUT_MS = 30_000


def shown(page):
    return page.evaluate(SHOWN)


def open_app(page, url):
    page.goto(url)
    wait_until_baked(page, TIMEOUT_MS / 1000)
    page.set_default_timeout(TIMEOUT_MS)


def main_image_pixels(page) -> bytes:
    return page.locator(".galaxy-image").first.screenshot()


def test_keyboard_slider_moves_update_image_real_galaxies_and_statistics(page, served_app):
    open_app(page, served_app)
    before = shown(page)
    pixels_before = main_image_pixels(page)
    table_before = page.locator("table.morphology-table").inner_text()
    page.get_by_text("not the history of one galaxy").first.wait_for()
    page.get_by_text("SYNTHETIC survey").first.wait_for()

    handle = page.locator(".redshift-slider .noUi-handle").first
    handle.focus()
    for _ in range(40):  # 40 × 0.01 in redshift
        page.keyboard.press("ArrowRight")
    target = round(before["position"] + 0.40, 2)
    page.wait_for_function(
        f"() => {{ const s = ({SHOWN})(); return s && s.kind === 'exact' && Math.abs(s.position - {target}) < 1e-6; }}"
    )
    page.wait_for_function(f"() => ({SHOWN})().rows.join() !== {before['rows']!r}.join()")
    after = shown(page)
    assert after["rows"] != before["rows"]
    assert main_image_pixels(page) != pixels_before
    page.locator("table.morphology-table").get_by_text(f"z={target:.2f}, exact").wait_for()
    assert page.locator("table.morphology-table").inner_text() != table_before


@pytest.mark.parametrize("fmt", ["mp4", "gif"])
def test_exports_download_through_the_browser_and_read_back(page, served_app, tmp_path, fmt):
    open_app(page, served_app)
    for selector, value in ((".export-z-start input", "0.5"), (".export-z-stop input", "1.5"),
                            (".export-frames input", "6"), (".export-size input", "128")):
        field = page.locator(selector).first
        field.fill(value)
        field.press("Enter")
    page.locator(".export-format").get_by_text(fmt, exact=True).click()
    page.locator(".export-button button").first.click()
    download_button = page.locator(".export-download").get_by_text(f"Download galaxy-seed7-z0.50-1.50.{fmt}")
    download_button.wait_for()
    with page.expect_download(timeout=TIMEOUT_MS) as info:
        download_button.click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    assert path.suffix == f".{fmt}"
    frames = iio.imread(path, index=None) if fmt == "gif" else _read_mp4(path)
    assert len(frames) == 6
    assert frames[0].shape[:2] == (128, 128)


def _read_mp4(path):
    import imageio

    with imageio.get_reader(path, format="FFMPEG") as reader:
        assert reader.get_meta_data()["codec"] == "h264"
        return [frame for frame in reader]


def test_a_bad_checkpoint_path_is_notified_and_the_app_keeps_working(page, served_app, tmp_path):
    open_app(page, served_app)
    bad = tmp_path / "no-such-model.safetensors"
    field = page.get_by_placeholder("shipped: assets/diffusion-small-morph.safetensors")
    field.fill(str(bad))
    field.press("Enter")
    page.locator(".load-button button").first.click()
    page.locator(".notyf__toast").get_by_text("no-such-model.safetensors").first.wait_for()
    page.get_by_text("Problem:").first.wait_for()
    # Still working: a slider move still brings a new exact frame.
    before = shown(page)
    page.locator(".redshift-slider .noUi-handle").first.focus()
    page.keyboard.press("ArrowLeft")
    target = round(before["position"] - 0.01, 2)
    page.wait_for_function(
        f"() => {{ const s = ({SHOWN})(); return s.kind === 'exact' && Math.abs(s.position - {target}) < 1e-6; }}"
    )
