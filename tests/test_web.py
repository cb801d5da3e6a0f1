"""The handwriting page (web/) and zoo.web: the Python LiteRT loop writes what the Keras model writes, the server
serves the page's files and nothing else, and in headless Chromium the page writes what the Python loop writes
for the same seed, says what is wrong with bad input, stops mid-line, downloads its drawing and loads nothing
from elsewhere."""

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import threading

import keras
import numpy as np
import pytest

from conftest import REPO
from zoo import export, text, web
from zoo.__main__ import main
from zoo.models import GravesSynthesisModel
from zoo.models.graves_synthesis import PEN_UP

ALPHABET = ["[PAD]", "[UNK]", " ", "a", "b", "c"]
MEAN, STD = (0.5, 0.0), (2.0, 2.0)
STYLE_TEXT = "ca b"
LONG = ("abc " * 30)[:120]  # about 2,500 points: long enough to stop mid-line
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (.ci/run installs Debian's)")
DONE = "['finished', 'capped', 'stopped', 'failed'].includes(document.getElementById('drawing').dataset.state)"


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(5)
    # window_step 0.05: the untrained window moves a character in about 20 points, so lines end by the stop rule.
    model = GravesSynthesisModel(len(ALPHABET), units=8, num_layers=2, num_components=2, window_components=2,
                                 window_step=0.05)
    model(model.example_input())
    return model


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    path = export.export_synthesis(model, text.CharacterTokenizer(ALPHABET), MEAN, STD,
                                   str(tmp_path_factory.mktemp("web")))
    web.write_styles(path, [STYLE_TEXT], seed=0)
    return path


@pytest.fixture(scope="module")
def loop(exported):
    return web.SynthesisLoop(exported)


@pytest.fixture(scope="module")
def style(exported):
    with open(os.path.join(exported, export.EXTRA_DIR, web.STYLES_FILE), encoding="utf-8") as f:
        return json.load(f)[0]


@pytest.fixture(scope="module")
def served(exported):
    server = web.serve(exported)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def keras_line(model, text_, bias, seed, style=None, steps=400):
    """What the Keras model writes from the same uniform numbers: `prime` (§5.5), `decode_step` and
    `sample_from_uniforms`, in data units, up to its stop rule."""
    whole = text_ if style is None else f"{style['text']} {text_}"
    char_ids = np.array([[ALPHABET.index(c) for c in whole]], np.int32)
    if style is None:
        state, point = model.initial_state(char_ids), np.array([PEN_UP], np.float32)
    else:
        strokes = web.normalised(style["strokes"], MEAN, STD)
        state, point = model.prime(strokes[None], [len(strokes)], char_ids)
    draws, points = web.Uniforms(seed), []
    for _ in range(steps):
        output, state, _ = model.decode_step(point, state)
        point = model.mixture_density.sample_from_uniforms(output["y_hat"], bias, draws.step())
        points.append(point.numpy()[0] * [*STD, 1.0] + [*MEAN, 0.0])
        if output["finished"].numpy()[0]:
            return np.array(points), True
    return np.array(points), False


# The device loop in Python.

def test_uniforms_are_mulberry32():
    """mulberry32's published outputs (seed 0: 0.2664292..., ...), kept to their top 24 bits."""
    draws = web.Uniforms(0)
    assert [round(draws.next() * 2**24) for _ in range(5)] == [4469940, 5532, 3745883, 2452865, 7840459]
    draws = web.Uniforms(web.MAX_SEED)
    assert [round(draws.next() * 2**24) for _ in range(3)] == [15039475, 3178917, 12006659]
    assert web.Uniforms(7).step().dtype == np.float32 and web.Uniforms(7).step().shape == (1, 4)
    for seed in (-1, 2**32, 1.5, True):
        with pytest.raises(ValueError, match="seed must be an integer from 0 to 4294967295"):
            web.Uniforms(seed)


@pytest.mark.parametrize("with_style", [False, True], ids=["own hand", "primed"])
def test_the_python_loop_writes_what_the_keras_model_writes(model, loop, style, with_style):
    line = loop.write("ab ba", 1.5, 7, style if with_style else None)
    points, finished = keras_line(model, "ab ba", 1.5, 7, style if with_style else None)
    assert line.finished and finished and len(line.points) == len(points)
    np.testing.assert_allclose(line.points, points, atol=1e-4)
    assert line.alignment.shape == (len(points), len("ab ba"))


def test_the_python_loop_needs_no_tensorflow(exported):
    code = ("import sys; from zoo import web; line = web.SynthesisLoop(sys.argv[1]).write('ab', 1.0, 3); "
            "print(len(line.points), 'tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code, exported], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    count, imported = result.stdout.split()
    assert int(count) > 0 and imported == "False"


def test_the_python_loop_stops_at_its_step_cap(exported):
    """`points_per_character` of synthesis.json a character (40, as serving_default): here 2, too few to finish."""
    capped = web.SynthesisLoop(exported)
    capped.settings = {**capped.settings, "points_per_character": 2}
    line = capped.write("ab ba", 1.5, 7)
    assert len(line.points) == 10 and not line.finished


BAD_INPUTS = [
    ("", 1.0, 0, "empty text: type something to write"),
    ("a" * 121, 1.0, 0, "the text has 121 characters; the model writes at most 120"),
    ("abz! c", 1.0, 0, "not in the model's alphabet, so refused: 'z', '!'"),
    ("ab", 10.5, 0, "bias must be a number from 0 to 10, got 10.5"),
    ("ab", -1.0, 0, "bias must be a number from 0 to 10, got -1"),
    ("ab", 1.0, -3, "seed must be an integer from 0 to 4294967295, got -3"),
]


@pytest.mark.parametrize("text_, bias, seed, message", BAD_INPUTS)
def test_the_python_loop_refuses_bad_input(loop, text_, bias, seed, message):
    assert loop.problems(text_, bias, seed) == [message]
    with pytest.raises(ValueError, match=re.escape(message.split(":")[0])):
        loop.write(text_, bias, seed)


def test_a_style_takes_its_room_from_the_cap(loop, style):
    problems = loop.problems("a" * 116, 1.0, 0, style)
    assert problems == ["the text has 116 characters; in this style the model writes at most 115 (it reads the "
                        "style's 4 and a space first)"]


def test_the_styles_are_the_models_own_lines_at_bias_0(exported, style):
    import zoo

    line = zoo.load(exported).write(STYLE_TEXT, 0.0, 0)
    assert style["text"] == STYLE_TEXT and style["seed"] == 0 and line.finished
    np.testing.assert_allclose(style["strokes"], line.points, atol=5e-4)  # 3 decimals


def test_styles_refuses_text_outside_the_alphabet(exported, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["styles", "--export", exported, "--text", "abz"])
    assert exit_.value.code == 1 and "not in the model's alphabet: 'z'" in capsys.readouterr().err


# The server.

def get(server, path, method="GET"):
    """(status, content type, body) of a request for `path`, sent as it is (no client-side normalisation)."""
    connection = http.client.HTTPConnection(*server.server_address, timeout=10)
    connection.request(method, path)
    response = connection.getresponse()
    answer = response.status, response.getheader("Content-Type"), response.read()
    connection.close()
    return answer


def tree(folder):
    return {os.path.join(root, name): os.stat(os.path.join(root, name)).st_mtime_ns
            for root, _, names in os.walk(folder) for name in names}


def test_the_server_serves_the_page_files(served, exported):
    assert served.server_address[0] == "127.0.0.1"
    status, kind, body = get(served, "/")
    assert status == 200 and kind.startswith("text/html") and b'src="app.js"' in body
    with open(os.path.join(exported, export.EXTRA_DIR, web.CELL_FILE), "rb") as f:
        assert get(served, f"/export/{web.CELL_FILE}")[::2] == (200, f.read())
    assert get(served, "/node_modules/@litertjs/core/wasm/litert_wasm_internal.wasm")[:2] == (200, "application/wasm")
    assert get(served, "/export/styles.json?x=1")[1] == "application/json"
    assert get(served, "/uniforms.js", "HEAD")[::2] == (200, b"")


@pytest.mark.parametrize("path", [
    "/../README.md", "/export/../zoo.json", "/%2e%2e/setup.py", "/export/%2e%2e/assets.extra/zoo.json",
    "/..%2f..%2fsetup.py", "//etc/passwd", "/etc/passwd", "/export/zoo.json", "/export/saved_model.pb",
    "/package.json", "/web/index.html", "/node_modules/@litertjs/core/package.json", "/node_modules/../app.js",
    "/export/./characters.json", "/%2fetc%2fpasswd", "C:\\Windows\\win.ini"])
def test_the_server_answers_404_outside_the_page_files(served, path):
    assert get(served, path)[0] == 404


def test_the_server_writes_nothing(served, exported):
    before = tree(exported), tree(os.path.join(REPO, "web"))
    for path in ("/", "/app.js", "/export/characters.json", "/nothing", "/../x"):
        get(served, path)
    assert get(served, "/", "POST")[0] == 501
    assert (tree(exported), tree(os.path.join(REPO, "web"))) == before


def test_the_page_needs_litert_and_a_cell(exported, model, tmp_path):
    bare_web = tmp_path / "web"
    shutil.copytree(os.path.join(REPO, "web"), bare_web, ignore=shutil.ignore_patterns("node_modules"))
    with pytest.raises(ValueError, match=r"run `npm ci --prefix web` first"):
        web.page_files(exported, str(bare_web))
    no_cell = export.export_synthesis(model, text.CharacterTokenizer(ALPHABET), MEAN, STD, str(tmp_path / "bare"),
                                      tflite=False)
    with pytest.raises(ValueError, match=r"exported without its \.tflite"):
        web.page_files(no_cell)


def test_demo_prints_its_address_and_serves(exported):
    process = subprocess.Popen([sys.executable, "-m", "zoo", "demo", "--export", exported], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        lines = []
        reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout=120)
        match = re.match(r"http://127\.0\.0\.1:(\d+)/ ", lines[0] if lines else "")
        assert match, lines
        connection = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=10)
        connection.request("GET", "/export/synthesis.json")
        assert json.loads(connection.getresponse().read())["max_bias"] == export.MAX_BIAS
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_demo_refuses_a_port_out_of_range(exported, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--export", exported, "--port", "70000"])
    assert exit_.value.code == 2 and "--port must be in [0, 65535]" in capsys.readouterr().err


# The page, in headless Chromium.

@pytest.fixture(scope="module")
def page(served):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page(accept_downloads=True)
        page.requested = []
        page.on("request", lambda request: page.requested.append(request.url))
        page.goto(f"http://127.0.0.1:{served.server_address[1]}/")
        page.wait_for_function("document.getElementById('status').textContent.startsWith('Ready')", timeout=60_000)
        yield page
        browser.close()


def fill(page, text_, bias, seed, style=""):
    page.fill("#text", text_)
    page.fill("#bias", str(bias))
    page.fill("#seed", str(seed))
    page.select_option("#style", style)


def drawn(page):
    """The page's line from its SVG: offsets `[n, 2]` in the data's units and each point's pen-up bit but the
    last's (a stroke is a path; y is negated in SVG)."""
    points, ends = [], []
    for d in page.eval_on_selector_all("#drawing path", "paths => paths.map((p) => p.getAttribute('d'))"):
        xy = np.array([float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", d)]).reshape(-1, 2)
        xy = xy[:1] if len(xy) == 2 and (xy[0] == xy[1]).all() else xy  # a one-point stroke is drawn as a dot
        points += list(xy * [1, -1])
        ends += [0.0] * (len(xy) - 1) + [1.0]
    return np.diff(np.concatenate([[[0.0, 0.0]], points]), axis=0), np.array(ends[:-1])


def state(page):
    return page.eval_on_selector("#drawing", "svg => ({...svg.dataset})")


@needs_chromium
@pytest.mark.parametrize("bias, seed, with_style", [(1.5, 7, False), (0.0, 123456789, True), (4.0, 0, False)])
def test_the_page_writes_what_the_python_loop_writes(page, loop, style, bias, seed, with_style):
    fill(page, "ab ba", bias, seed, "0" if with_style else "")
    page.click("#write")
    page.wait_for_function(DONE, timeout=60_000)
    line = loop.write("ab ba", bias, seed, style if with_style else None)
    offsets, ends = drawn(page)
    assert line.finished and state(page)["state"] == "finished" and page.text_content("#status").startswith(
        "Finished") and int(state(page)["points"]) == len(line.points) == len(offsets)
    np.testing.assert_allclose(offsets, line.points[:, :2], atol=1e-4)
    np.testing.assert_array_equal(ends, line.points[:-1, 2])
    assert page.text_content("#message") == ""


@needs_chromium
@pytest.mark.parametrize("text_, bias, seed, message", BAD_INPUTS)
def test_the_page_says_what_is_wrong(page, loop, text_, bias, seed, message):
    before = state(page)
    fill(page, text_, bias, seed)
    page.click("#write")
    assert page.eval_on_selector_all("#message li", "items => items.map((i) => i.textContent)") == \
        loop.problems(text_, bias, seed) == [message]
    assert state(page) == before  # nothing was written


@needs_chromium
def test_stop_ends_a_line_mid_way(page, loop):
    fill(page, LONG, 1.0, 5)
    # Stop is clicked by the page's own event loop as soon as the first chunk is drawn: a click from the test
    # would land after however many chunks a loaded machine draws in the round trip.
    page.evaluate("""() => new Promise(resolve => {
        document.getElementById("write").click();
        const stopOnceDrawing = () => {
            if (Number(document.getElementById("drawing").dataset.points) > 0) {
                document.getElementById("stop").click();
                resolve();
            } else {
                setTimeout(stopOnceDrawing, 0);
            }
        };
        stopOnceDrawing();
    })""")
    page.wait_for_function(DONE, timeout=60_000)
    whole = loop.write(LONG, 1.0, 5)
    offsets, _ = drawn(page)
    assert state(page)["state"] == "stopped" and 0 < len(offsets) < len(whole.points) // 2
    assert page.text_content("#status") == f"Stopped after {len(offsets)} points."
    np.testing.assert_allclose(offsets, whole.points[:len(offsets), :2], atol=1e-4)


@needs_chromium
def test_the_drawing_downloads_as_svg_and_png(page, tmp_path):
    fill(page, "cab", 2.0, 1)
    page.click("#write")
    page.wait_for_function(DONE, timeout=60_000)
    with page.expect_download() as svg:
        page.click("#download-svg")
    document = (tmp_path / "line.svg")
    svg.value.save_as(document)
    content = document.read_text(encoding="utf-8")
    assert content.startswith("<svg") and content.count("<path") == page.eval_on_selector_all("#drawing path",
                                                                                           "p => p.length")
    with page.expect_download() as png:
        page.click("#download-png")
    png.value.save_as(tmp_path / "line.png")
    assert (tmp_path / "line.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page.screenshot(path=tmp_path / "page.png")
    assert (tmp_path / "page.png").stat().st_size > 10_000


@needs_chromium
def test_javascript_draws_the_same_uniforms(page):
    seeds = [0, 1, 123456789, web.MAX_SEED]
    in_page = page.evaluate("""async (seeds) => {
        const {uniforms} = await import('./uniforms.js');
        return seeds.map((seed) => { const next = uniforms(seed); return Array.from({length: 1000}, next); });
    }""", seeds)
    for seed, numbers in zip(seeds, in_page):
        draws = web.Uniforms(seed)
        assert numbers == [draws.next() for _ in range(1000)]


@needs_chromium
def test_the_page_loads_nothing_from_elsewhere(page, served):
    """Offline: every request of this module's page went to the local server (blob: URLs are its downloads)."""
    origin = f"http://127.0.0.1:{served.server_address[1]}/"
    assert f"{origin}export/{web.CELL_FILE}" in page.requested
    assert [url for url in page.requested if not url.startswith((origin, "blob:" + origin, "data:"))] == []
