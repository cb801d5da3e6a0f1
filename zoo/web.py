"""Handwriting in a web page: the synthesis cell's device loop in Python, the page's styles and its local server.

The page (`web/`) writes with a synthesis export's one-step `.tflite` cell
(`zoo.export.synthesis_step_tflite`) in LiteRT.js; `SynthesisLoop` is the
same loop in Python with LiteRT and NumPy only, no TensorFlow, as a device
runs it. The cell draws each point itself from four uniform numbers a step,
and both loops take those numbers from `Uniforms` (mulberry32; the page's
`web/uniforms.js` is the same generator), so for the same text, bias, seed
and style the page and `SynthesisLoop` write the same points and stop at the
same step with a float cell (a quantised cell's int8 kernels round differently
in WebAssembly and on x86, so its lines can part).

    python -m zoo styles --export savedmodels/graves_synthesis --text "a style line"   # write_styles
    python -m zoo demo --export savedmodels/graves_synthesis_iam                        # serve

The page reads from the export's `assets.extra/`: the cell, `characters.json`
(the alphabet), `normalisation.json` (the offsets' statistics),
`synthesis.json` (the caps) and, when written, `styles.json` (`write_styles`).
"""

import dataclasses
import functools
import http.server
import json
import os
import re
import urllib.parse

import numpy as np

EXTRA_DIR = "assets.extra"  # an export's folder of extra files (zoo.export.EXTRA_DIR)
CELL_FILE = "graves_synthesis_step.tflite"  # zoo.export.synthesis.SYNTHESIS_TFLITE
SETTINGS_FILE = "synthesis.json"  # zoo.export.synthesis.SYNTHESIS_SETTINGS
STYLES_FILE = "styles.json"
NEEDED_FILES = (CELL_FILE, "characters.json", "normalisation.json", SETTINGS_FILE)  # what every loop reads
EXPORT_FILES = (*NEEDED_FILES, STYLES_FILE)  # what the page may load
PEN_UP = (0.0, 0.0, 1.0)  # the point before a line's first one (zoo.models.graves_synthesis.PEN_UP)
RESERVED = 2  # characters.json's first entries, [PAD] and [UNK], are no characters
MAX_SEED = 2**32 - 1
WEB_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "web")
# What the page loads of LiteRT.js, under web/node_modules/ (`npm ci --prefix web`).
LITERT_FILES = ("@litertjs/core/dist/index.js", "@litertjs/wasm-utils/dist/bundle.js")
LITERT_WASM_DIR = "@litertjs/core/wasm"
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".json": "application/json",
                 ".wasm": "application/wasm", ".tflite": "application/octet-stream"}


class Uniforms:
    """mulberry32 seeded with an integer in [0, 2^32): uniform float32 numbers in [0, 1), as `web/uniforms.js`.

    Each number is the generator's top 24 bits over 2^24, exact in float32
    and in JavaScript's doubles, so the two languages feed the cell the same
    numbers.

    >>> draws = Uniforms(0)  # mulberry32(0)'s first output is 1144304738 = 0x4434B462: 0x4434B4 / 2^24
    >>> [int(draws.next() * 2**24) for _ in range(4)]
    [4469940, 5532, 3745883, 2452865]
    """

    def __init__(self, seed):
        self.state = _seed(seed)

    def next(self):
        """The next number."""
        mask = 0xFFFFFFFF
        self.state = (self.state + 0x6D2B79F5) & mask
        t = ((self.state ^ (self.state >> 15)) * (self.state | 1)) & mask
        t ^= (t + ((t ^ (t >> 7)) * (t | 61))) & mask
        return ((t ^ (t >> 14)) >> 8) / 2**24

    def step(self):
        """The next four numbers, float32 `[1, 4]`: the `uniforms` input of one step of the cell."""
        return np.array([[self.next() for _ in range(4)]], np.float32)


@dataclasses.dataclass
class WrittenLine:
    """A line the cell wrote: `points` float32 `[n, 3]` in the data's units (`zoo.strokes`'s offsets),
    `finished` (stopped by §5.3's rule; False: the step cap), `alignment` float32 `[n, len(text)]` (φ)."""

    points: np.ndarray
    finished: bool
    alignment: np.ndarray


class SynthesisLoop:
    """Writes a text with a synthesis export's `.tflite` cell, as a device does: LiteRT and NumPy, batch 1.

    Args:
        path: an export's version directory (its `assets.extra/` holds the
            cell, `characters.json`, `normalisation.json` and `synthesis.json`).

    Raises:
        ValueError: a file is missing, or the cell is not one that draws its
            own points (an export made before its `bias` and `uniforms` inputs).
    """

    def __init__(self, path):
        from ai_edge_litert import interpreter as litert  # the device runtime; not an install requirement

        extra = _checked_extra(path)
        characters = _read_json(extra, "characters.json")
        self.ids = {c: i for i, c in enumerate(characters) if i >= RESERVED}
        normalisation = _read_json(extra, "normalisation.json")
        self.offset_mean, self.offset_std = normalisation["offset_mean"], normalisation["offset_std"]
        self.settings = _read_json(extra, SETTINGS_FILE)
        self.interpreter = litert.Interpreter(model_path=os.path.join(extra, CELL_FILE))
        self.interpreter.allocate_tensors()
        runner = self.interpreter.get_signature_runner()
        inputs, outputs = runner.get_input_details(), runner.get_output_details()
        self.state_names = cell_state_names(inputs)
        if sorted(inputs) != sorted(["point", "char_ids", "bias", "uniforms", *self.state_names]):
            raise ValueError(f"{path}: {CELL_FILE} takes {sorted(inputs)}, not a point, char_ids, bias, uniforms "
                             "and the states: export the model again")
        self.inputs = {name: detail["index"] for name, detail in inputs.items()}
        self.outputs = [outputs[f"output_{n}"]["index"] for n in range(len(outputs))]
        self.max_characters = int(inputs["char_ids"]["shape"][1])
        self.state_shapes = [inputs[name]["shape"] for name in self.state_names]

    def problems(self, text, bias, seed, style=None):
        """Why `text` cannot be written (a list of messages, empty when it can); the page says the same."""
        return input_problems(text, bias, seed, style, set(self.ids), self.max_characters, self.settings)

    def write(self, text, bias, seed, style=None):
        """Writes `text`: a `WrittenLine`, from zero states (or after reading `style`, §5.5).

        Args:
            text: the line; every character in the model's alphabet.
            bias: §5.4's b, in [0, the export's `max_bias`].
            seed: an integer in [0, 2^32): the `Uniforms` of the draws.
            style: None, or `{"text": str, "strokes": [[dx, dy, end], ...]}`
                in the data's units (an entry of `styles.json`).

        Raises:
            ValueError: with every `problems` message.
        """
        points, alignment, finished = [], [], False
        for point, phi, finished in self.steps(text, bias, seed, style):
            points.append(point)
            alignment.append(phi)
        return WrittenLine(np.array(points, np.float32).reshape(-1, 3), finished,
                           np.array(alignment, np.float32).reshape(-1, len(text)))

    def steps(self, text, bias, seed, style=None):
        """`write`, a step at a time (as the page draws): yields each point `[3]` in the data's units, its φ over
        the text's characters and whether the stop rule holds (the last step's only, unless the cap ends it)."""
        problems = self.problems(text, bias, seed, style)
        if problems:
            raise ValueError("; ".join(problems))
        whole = text if style is None else f"{style['text']} {text}"
        char_ids = np.zeros((1, self.max_characters), np.int32)
        char_ids[0, :len(whole)] = [self.ids[c] for c in whole]
        bias = np.array([bias], np.float32)
        states = [np.zeros(shape, np.float32) for shape in self.state_shapes]
        point = np.array([PEN_UP], np.float32)
        if style is not None:
            for next_point in normalised(style["strokes"], self.offset_mean, self.offset_std):
                states = self._step(point, char_ids, bias, np.zeros((1, 4), np.float32), states)[5:]
                point = next_point[None]
        draws, skip = Uniforms(seed), len(whole) - len(text)
        for _ in range(self.settings["points_per_character"] * len(text)):
            _, done, phi, point, drawn, *states = self._step(point, char_ids, bias, draws.step(), states)
            yield drawn[0], phi[0, skip: skip + len(text)], bool(done[0] > 0.5)
            if done[0] > 0.5:
                return

    def _step(self, point, char_ids, bias, uniforms, states):
        """One run of the cell: its outputs in order (ŷ, finished, φ, point, point in data units, states)."""
        interpreter = self.interpreter
        for name, value in (("point", point), ("char_ids", char_ids), ("bias", bias), ("uniforms", uniforms),
                            *zip(self.state_names, states)):
            interpreter.set_tensor(self.inputs[name], value)
        interpreter.invoke()
        return [interpreter.get_tensor(index) for index in self.outputs]


def cell_state_names(inputs):
    """The cell's state inputs in its outputs' order: `state_0_h`, `state_0_c`, `kappa`, `window`, then
    `state_<n>_h`, `state_<n>_c` of each layer above (`inputs`: the cell's input names)."""
    layers = sum(1 for name in inputs if re.fullmatch(r"state_\d+_h", name))
    return ["state_0_h", "state_0_c", "kappa", "window",
            *(f"state_{n}_{part}" for n in range(1, layers) for part in "hc")]


def normalised(strokes, offset_mean, offset_std):
    """A style's points in the data's units → float32 `[n, 3]` as the cell reads them (the page computes the
    same: (Δ − mean) / std in double precision, then rounded to float32; end of stroke as it is)."""
    strokes = np.asarray(strokes, np.float64)
    scaled = np.concatenate([(strokes[:, :2] - offset_mean) / offset_std, strokes[:, 2:]], axis=1)
    return scaled.astype(np.float32)


def input_problems(text, bias, seed, style, alphabet, max_characters, settings):
    """Why a line cannot be written, a message each (empty: it can); `web/writer.js`'s `problems` says the same.

    A character outside `alphabet` is refused (named), not written as [UNK]:
    the model never learnt a shape for it.
    """
    problems = []
    if not text:
        problems.append("empty text: type something to write")
    outside = _outside(text, alphabet)
    if outside:
        problems.append(f"not in the model's alphabet, so refused: {outside}")
    if style is None and len(text) > max_characters:
        problems.append(f"the text has {len(text)} characters; the model writes at most {max_characters}")
    if style is not None:
        problems += _style_problems(style, alphabet, settings["max_style_points"])
        room = max_characters - len(style["text"]) - 1
        if len(text) > room:
            problems.append(f"the text has {len(text)} characters; in this style the model writes at most {room} "
                            f"(it reads the style's {len(style['text'])} and a space first)")
    number = not isinstance(bias, bool) and isinstance(bias, (int, float, np.number))
    if not number or not 0 <= bias <= settings["max_bias"]:
        problems.append(f"bias must be a number from 0 to {settings['max_bias']:g}, got "
                        f"{f'{bias:g}' if number else repr(bias)}")
    try:
        _seed(seed)
    except ValueError as e:
        problems.append(str(e))
    return problems


def write_styles(path, texts, seed=0):
    """Writes `assets.extra/styles.json` of the export at `path`: the model's own lines at bias 0, to prime it.

    Each text is written by the export's `serving_default` at bias 0 (the
    model as trained: one hand among many, `seed` picks it), so no stroke of
    the training data leaves the export. The page offers each as a style
    (§5.5). The file is a JSON list of `{"text", "seed", "strokes"}`,
    strokes `[n, 3]` in the data's units (3 decimals).

    Args:
        path: a synthesis export (`savedmodels/<name>`, its newest version, or a version directory).
        texts: the styles' texts, each in the model's alphabet.
        seed: the sampling seed.

    Returns:
        The path of the file written.

    Raises:
        ValueError: no text, an empty one, a character outside the alphabet,
            or a line the model did not finish (it ran out of steps: another
            seed may).
    """
    import zoo

    if not texts or not all(texts):
        raise ValueError("give style texts, none empty")
    writer = zoo.load(path)
    if writer.family != "synthesis":
        raise ValueError(f"{writer.path} is a {writer.family} export; styles need a synthesis export")
    alphabet = set(writer.tokenizer.vocabulary[RESERVED:])
    for text in texts:
        if _outside(text, alphabet):
            raise ValueError(f"style text {text!r}: not in the model's alphabet: {_outside(text, alphabet)}")
    lines = writer.write(list(texts), 0.0, seed)
    unfinished = [line.text for line in lines if not line.finished]
    if unfinished:
        raise ValueError(f"at bias 0 and seed {seed} the model ran out of steps on {unfinished}: try another seed")
    styles = [{"text": line.text, "seed": seed, "strokes": np.round(line.points.astype(np.float64), 3).tolist()}
              for line in lines]
    target = os.path.join(writer.path, EXTRA_DIR, STYLES_FILE)
    with open(target + ".part", "w", encoding="utf-8") as f:
        json.dump(styles, f)
    os.replace(target + ".part", target)
    return target


def page_files(path, web_dir=WEB_DIR):
    """Every file the page may load: `{URL path: file path}`, and nothing else is served.

    `/` and the page's own files (`web/*.html`, `*.js`, `*.css`), the
    LiteRT.js files under `/node_modules/` and the export's files under
    `/export/` (`path`: a version directory; `styles.json` when written).

    Raises:
        ValueError: web/node_modules lacks LiteRT.js, or the export lacks a file the page needs.
    """
    modules = os.path.join(web_dir, "node_modules")
    wasm = [f"{LITERT_WASM_DIR}/{name}" for name in _listing(os.path.join(modules, LITERT_WASM_DIR))]
    if not wasm or not all(os.path.isfile(os.path.join(modules, name)) for name in LITERT_FILES):
        raise ValueError(f"{modules} lacks LiteRT.js: run `npm ci --prefix web` first")
    extra = _checked_extra(path)
    files = {"/": os.path.join(web_dir, "index.html")}
    files.update({f"/{name}": os.path.join(web_dir, name) for name in _listing(web_dir)
                  if os.path.splitext(name)[1] in (".html", ".js", ".css")})
    files.update({f"/node_modules/{name}": os.path.join(modules, *name.split("/")) for name in [*LITERT_FILES, *wasm]})
    files.update({f"/export/{name}": os.path.join(extra, name) for name in EXPORT_FILES})
    return files


def serve(path, port=0, host="127.0.0.1", web_dir=WEB_DIR):
    """A server of the page for the export at `path` (a version directory), on `host` only; not yet serving.

    `port` 0 takes a free one (`server.server_address` says which). The
    server answers GET and HEAD for `page_files` alone, each path compared
    whole (so `..`, an absolute path or an encoded one is a 404), reads
    each file when asked, and writes nothing. Run `server.serve_forever()`;
    `server.server_close()` ends it.
    """
    handler = functools.partial(_PageHandler, page_files(path, web_dir))
    server = http.server.ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


class _PageHandler(http.server.BaseHTTPRequestHandler):
    """Answers with the file `files` maps the request's path to, or 404."""

    def __init__(self, files, *args, **kwargs):
        self.files = files
        super().__init__(*args, **kwargs)

    def do_GET(self):
        self._answer(with_body=True)

    def do_HEAD(self):
        self._answer(with_body=False)

    def _answer(self, with_body):
        file = self.files.get(urllib.parse.urlsplit(self.path).path)
        try:
            if file is None:
                raise FileNotFoundError(self.path)
            with open(file, "rb") as f:
                content = f.read()
        except OSError:  # not a page file, or one not written (styles.json)
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPES.get(os.path.splitext(file)[1], "application/octet-stream"))
        self.send_header("Content-Length", str(len(content)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if with_body:
            self.wfile.write(content)

    def log_message(self, format, *args):
        """Quiet: the command prints the page's address, not each request."""


def _style_problems(style, alphabet, max_points):
    """Why a style (`{"text", "strokes"}`) cannot prime the model: messages."""
    problems = []
    if not isinstance(style.get("text"), str) or not style["text"] or _outside(style["text"], alphabet):
        problems.append(f"the style's text must be characters of the model's alphabet, got {style.get('text')!r}")
    try:
        strokes = np.asarray(style.get("strokes"), np.float64)
    except (TypeError, ValueError):
        strokes = np.zeros((0, 0))
    if strokes.ndim != 2 or strokes.shape[1] != 3 or not 1 <= len(strokes) <= max_points \
            or not np.isfinite(strokes).all():
        problems.append(f"the style's strokes must be 1 to {max_points} finite points [dx, dy, end of stroke]")
    return problems


def _outside(text, alphabet):
    """The characters of `text` outside `alphabet`, each once, in order of appearance, shown; "" if none."""
    return ", ".join(_shown(c) for c in dict.fromkeys(text) if c not in alphabet)


def _shown(character):
    """A character as a message names it: quoted, or its code point when it does not print."""
    return f"'{character}'" if character.isprintable() else f"U+{ord(character):04X}"


def _seed(seed):
    """`seed` checked: an integer in [0, MAX_SEED]."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be an integer from 0 to {MAX_SEED}, got {seed}")
    return int(seed)


def _checked_extra(path):
    """The `assets.extra/` folder of the version directory `path`, checked to hold `NEEDED_FILES`."""
    extra = os.path.join(path, EXTRA_DIR)
    for name in NEEDED_FILES:
        if not os.path.isfile(os.path.join(extra, name)):
            reason = ("exported without its .tflite (--notflite)" if name == CELL_FILE else
                      "not a synthesis export, or one made before the page")
            raise ValueError(f"{path}: no {EXTRA_DIR}/{name}: {reason}: export the model again")
    return extra


def _read_json(folder, name):
    with open(os.path.join(folder, name), encoding="utf-8") as f:
        return json.load(f)


def _listing(folder):
    """The plain files of `folder`, sorted; none if it does not exist."""
    if not os.path.isdir(folder):
        return []
    return sorted(name for name in os.listdir(folder) if os.path.isfile(os.path.join(folder, name)))
