"""Handwriting in the browser: time to the first stroke and to a finished 40-character line.

    npm ci --prefix web
    python benchmarks/browser.py --export savedmodels/graves_synthesis
    python benchmarks/browser.py --export savedmodels/graves_synthesis_iam --screenshot docs/web_demo.png

The page (`web/`, served by `zoo.web.serve`) writes in headless Chromium with
LiteRT.js on its wasm accelerator; `zoo.web.SynthesisLoop` runs the same
loop over the same `.tflite` cell in Python LiteRT. Text i is written with
seed i and --bias both ways, so both write the same points; the table says
whether they did (the same number of points, the largest offset difference).

- first stroke: from Write (the page's handler; the Python loop's call) to
  the first point (in the page: drawn into the SVG);
- line: to the line's end, by the stop rule or the cap (in the page: every
  point drawn, the tab painting and answering clicks between chunks).

Medians of --repeats writes after an untimed one. `ready`: from opening the
page to the model compiled (LiteRT.js's wasm loaded, the cell fetched); the
page's first write after that, untimed in the table, is printed apart.
--screenshot saves the page as it stands after the last line (the
README's picture).
"""

import importlib.metadata
import json
import os
import platform
import re
import shutil
import statistics
import sys
import threading
import time

import numpy as np
from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from zoo import web  # noqa: E402 (after the path)
from zoo.export import reader  # noqa: E402

# 40 characters each, of the letters the demo model learnt (zoo.data.demo.DEMO_FONT), so every export writes them.
TEXTS = ("violent elevation at nine in a late noon", "a novel lotion on a tin lent to an olive",
         "a native lion ate an olive at ten to one")
DONE = "['finished', 'capped', 'stopped', 'failed'].includes(document.getElementById('drawing').dataset.state)"

flags.DEFINE_string("export", None, "A synthesis export with its .tflite cell.")
flags.DEFINE_float("bias", 1.0, "Sampling bias b (Graves 2013 §5.4).", lower_bound=0.0)
flags.DEFINE_integer("repeats", 5, "Timed writes of each text each way.", lower_bound=1)
flags.DEFINE_string("chromium", shutil.which("chromium"), "The Chromium binary Playwright drives.")
flags.DEFINE_string("screenshot", None, "Save a PNG of the page after the last line here.")
flags.mark_flag_as_required("export")
FLAGS = flags.FLAGS


def python_times(loop, text, seed):
    """(ms to the first point, ms to the line's end, the line) of the Python loop writing `text`."""
    started = time.perf_counter()
    steps = loop.steps(text, FLAGS.bias, seed)
    points = [next(steps)]
    first = time.perf_counter()
    points += list(steps)
    end = time.perf_counter()
    return 1000 * (first - started), 1000 * (end - started), points


def page_times(page, text, seed):
    """(ms to the first point, ms to the line's end, the page's drawing dataset) of the page writing `text`."""
    page.fill("#text", text)
    page.fill("#bias", str(FLAGS.bias))
    page.fill("#seed", str(seed))
    page.click("#write")
    page.wait_for_function(DONE, timeout=600_000)
    data = page.eval_on_selector("#drawing", "svg => ({...svg.dataset})")
    return float(data["firstPointMs"]), float(data["lineMs"]), data


def page_offsets(page):
    """The page's line as offsets `[n, 2]` in the data's units, read back from its SVG paths."""
    points = []
    for d in page.eval_on_selector_all("#drawing path", "paths => paths.map((p) => p.getAttribute('d'))"):
        xy = np.array([float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", d)]).reshape(-1, 2)
        points += list((xy[:1] if len(xy) == 2 and (xy[0] == xy[1]).all() else xy) * [1, -1])
    return np.diff(np.concatenate([[[0.0, 0.0]], points]), axis=0)


def medians(measure, text, seed):
    """The median first-point and line times of --repeats calls of `measure` after an untimed one, its last
    answer, and the untimed call's first-point time (the first text's: just after the page opened)."""
    cold = measure(text, seed)
    runs = [measure(text, seed) for _ in range(FLAGS.repeats)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs), runs[-1][2], cold[0]


def open_page(browser, url):
    """A page of `url` with its model loaded; and the ms that took."""
    page = browser.new_page(viewport={"width": 1100, "height": 700})
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_function("document.getElementById('status').textContent.startsWith('Ready')", timeout=120_000)
    return page, 1000 * (time.perf_counter() - started)


def cpu_name():
    """The CPU's model name (Linux), else the machine type."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.machine()


def main(argv):
    del argv
    from playwright.sync_api import sync_playwright

    path = reader.version_dir(FLAGS.export)
    loop = web.SynthesisLoop(path)
    server = web.serve(path)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rows, cold_ms = [], None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=FLAGS.chromium)
        page, ready_ms = open_page(browser, f"http://127.0.0.1:{server.server_address[1]}/")
        for seed, text in enumerate(TEXTS):
            py_first, py_line, points, _ = medians(lambda t, s: python_times(loop, t, s), text, seed)
            js_first, js_line, data, js_cold = medians(lambda t, s: page_times(page, t, s), text, seed)
            cold_ms = cold_ms if seed else js_cold
            python_points = np.array([point for point, _, _ in points])
            offsets = page_offsets(page)
            same = len(offsets) == len(python_points)
            gap = float(np.abs(offsets - python_points[:, :2]).max()) if same else float("nan")
            rows.append((text, len(python_points), points[-1][2], data["state"], py_first, py_line, js_first,
                         js_line, same, gap))
        if FLAGS.screenshot:
            page.screenshot(path=FLAGS.screenshot, full_page=True)
        version = browser.version
        browser.close()
    server.shutdown()
    with open(os.path.join(ROOT, "web", "package.json")) as f:
        litert_js = json.load(f)["dependencies"]["@litertjs/core"]
    print(f"{path}, bias {FLAGS.bias:g}, medians of {FLAGS.repeats}; Chromium {version} headless, LiteRT.js "
          f"{litert_js} (wasm); ai-edge-litert {importlib.metadata.version('ai-edge-litert')}, Python "
          f"{platform.python_version()}; {cpu_name()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}; page ready in {ready_ms:.0f} ms, its first write's first stroke in "
          f"{cold_ms:.1f} ms\n")
    print("| text | points | finished | Python first stroke ms | Python line ms | page first stroke ms | "
          "page line ms | page = Python |")
    print("|---|---|---|---|---|---|---|---|")
    for text, n, finished, state, py_first, py_line, js_first, js_line, same, gap in rows:
        agree = f"same {n} points, offsets within {gap:.1e}" if same else "different lengths"
        print(f"| {text} | {n} | {'yes' if finished else 'no'} ({state}) | {py_first:.1f} | {py_line:.0f} | "
              f"{js_first:.1f} | {js_line:.0f} | {agree} |")


if __name__ == "__main__":
    app.run(main)
