// The page: reads the controls, writes with `Writer` (writer.js) in short chunks so that the tab stays
// responsive and Stop works mid-line, draws the pen as it moves (SVG) and the window φ beside it (canvas),
// and downloads the drawing as SVG or PNG.

import {loadRuntime, Writer} from './writer.js';

const CHUNK_MS = 15; // drawing time between two paints: the tab answers clicks in between
const SVG_NS = 'http://www.w3.org/2000/svg';
const $ = (id) => document.getElementById(id);
const exportUrl = (() => {
  const given = new URLSearchParams(location.search).get('export') || 'export/';
  return given.endsWith('/') ? given : given + '/';
})();

let writer = null;
let writing = false;
let stopAsked = false;

function say(status) {
  $('status').textContent = status;
}

function complain(problems) {
  $('message').replaceChildren(...problems.map((problem) => {
    const item = document.createElement('li');
    item.textContent = problem;
    return item;
  }));
}

function setBusy(busy) {
  writing = busy;
  $('write').disabled = busy || !writer;
  $('stop').disabled = !busy;
  for (const id of ['text', 'bias', 'bias-slider', 'style', 'seed', 'accelerator']) $(id).disabled = busy;
  for (const id of ['download-svg', 'download-png']) $(id).disabled = busy || !$('drawing').dataset.points;
}

/** Loads LiteRT.js and the export's cell for the chosen accelerator; fills the style list and the caps. */
async function loadWriter() {
  writer = null;
  setBusy(false);
  $('write').disabled = true;
  const accelerator = $('accelerator').value;
  say(`Loading the model (${accelerator})…`);
  try {
    writer = await Writer.load(exportUrl, accelerator);
  } catch (error) {
    say('No model loaded.');
    complain([`cannot load the model from ${exportUrl}: ${error.message}`]);
    return;
  }
  for (const id of ['bias', 'bias-slider']) $(id).max = writer.maxBias;
  $('bias-range').textContent = `0 to ${writer.maxBias}`;
  $('style').replaceChildren(new Option('its own hand', ''), ...writer.styles.map(
      (style, i) => new Option(`“${style.text}” (written by the model, seed ${style.seed})`, String(i))));
  say(`Ready (${accelerator}): ${writer.ids.size} characters, up to ${writer.maxCharacters} a line.`);
  setBusy(false);
}

/** The drawing: its SVG paths (a stroke each), the pen's position and the window φ (a canvas column a point). */
class Drawing {
  constructor(characters, maxPoints) {
    this.svg = $('drawing');
    this.group = this.svg.querySelector('g');
    this.group.replaceChildren();
    this.strokes = []; // each a path and its points' "x y" coordinates
    this.painted = 0; // strokes before this one are painted whole
    this.penUp = true;
    this.x = 0;
    this.y = 0;
    this.box = [Infinity, Infinity, -Infinity, -Infinity];
    this.points = 0;
    this.alignment = new Alignment(characters, maxPoints);
    this.svg.dataset.points = '0';
    this.svg.dataset.state = 'writing';
  }

  /** Adds a point (dx, dy, end of stroke) in the data's units (y grows upwards, so SVG's y is −y) and its φ. */
  add([dx, dy, end], phi) {
    this.x += dx;
    this.y += dy;
    const [x, y] = [this.x, -this.y];
    if (this.penUp) {
      const path = document.createElementNS(SVG_NS, 'path');
      path.setAttribute('vector-effect', 'non-scaling-stroke'); // 2 pixels wide at any scale
      this.group.append(path);
      this.strokes.push({path, coordinates: []});
    }
    this.strokes.at(-1).coordinates.push(`${x} ${y}`);
    this.penUp = end > 0.5;
    this.box = [Math.min(this.box[0], x), Math.min(this.box[1], y), Math.max(this.box[2], x),
      Math.max(this.box[3], y)];
    this.alignment.add(phi);
    this.points += 1;
  }

  /** Paints the strokes that changed since the last paint, fits the view to the line, paints φ's new columns. */
  paint() {
    for (const {path, coordinates: [first, ...rest]} of this.strokes.slice(this.painted)) {
      // A one-point stroke draws as a dot: a zero-length segment with round caps.
      path.setAttribute('d', `M ${first} L ${(rest.length ? rest : [first]).join(' ')}`);
    }
    this.painted = Math.max(this.strokes.length - 1, 0);
    const [left, top, right, bottom] = this.box;
    const margin = 0.05 * Math.max(right - left, bottom - top, 1);
    const view = [left - margin, top - margin, right - left + 2 * margin, bottom - top + 2 * margin];
    this.svg.setAttribute('viewBox', view.join(' '));
    const background = this.svg.querySelector('rect');
    ['x', 'y', 'width', 'height'].forEach((name, i) => background.setAttribute(name, view[i]));
    this.svg.dataset.points = String(this.points);
    this.alignment.paint();
  }
}

/** φ as the paper's fig. 13 on the canvas: a row a character, a column a point, darker = more weight. */
class Alignment {
  constructor(characters, maxPoints) {
    this.canvas = $('alignment');
    this.canvas.width = maxPoints;
    this.canvas.height = characters;
    this.columns = [];
    this.painted = 0;
  }

  add(phi) {
    this.columns.push(phi);
  }

  /** Paints the columns added since the last paint. */
  paint() {
    const fresh = this.columns.slice(this.painted);
    if (!fresh.length) return;
    const context = this.canvas.getContext('2d');
    const image = context.createImageData(fresh.length, this.canvas.height);
    fresh.forEach((column, t) => column.forEach((weight, u) => {
      const shade = 255 * (1 - Math.min(Math.max(weight, 0), 1));
      image.data.set([shade, shade, shade, 255], 4 * (u * fresh.length + t));
    }));
    context.putImageData(image, this.painted, 0);
    this.painted = this.columns.length;
  }

  /** Cuts the canvas to the columns written, so that it spans the line. */
  crop() {
    const context = this.canvas.getContext('2d');
    const image = context.getImageData(0, 0, Math.max(this.columns.length, 1), this.canvas.height);
    this.canvas.width = image.width;
    context.putImageData(image, 0, 0);
  }
}

/**
 * Lets the browser paint and answer clicks (Stop) before the next chunk: the chunk goes on in a new task,
 * queued behind them (a message; a timer would wait at least 4 ms, and scheduler.yield() would go first).
 */
function nextTask() {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = resolve;
    channel.port2.postMessage(null);
  });
}

function readInputs() {
  const style = $('style').value === '' ? null : writer.styles[Number($('style').value)];
  const number = (id) => ($(id).value.trim() === '' ? NaN : Number($(id).value));
  return {text: $('text').value, bias: number('bias'), seed: number('seed'), style};
}

// What the status line says when a line ends, by how it ended.
const ENDINGS = {
  finished: (n) => `Finished: ${n} points; the window passed the last character.`,
  capped: (n, perCharacter) => `Stopped at the cap of ${perCharacter} points a character (${n} points) ` +
    'before the window passed the text.',
  stopped: (n) => `Stopped after ${n} points.`,
  failed: (n) => `Failed after ${n} points.`,
};

/** Writes the text in chunks of CHUNK_MS, painting after each, until it ends or Stop is pressed. */
async function write() {
  const {text, bias, seed, style} = readInputs();
  const problems = writer.problems(text, bias, seed, style);
  complain(problems);
  if (problems.length) return;
  setBusy(true);
  stopAsked = false;
  const characters = Array.from(text).length;
  const drawing = new Drawing(characters, characters * writer.settings.points_per_character);
  const started = performance.now();
  let chunkStarted = started;
  let ending = 'capped';
  try {
    for await (const step of writer.write(text, bias, seed, style)) {
      drawing.add(step.point, step.phi);
      if (step.finished) ending = 'finished';
      if (drawing.points === 1 || performance.now() - chunkStarted > CHUNK_MS) {
        drawing.paint();
        say(`Writing: ${drawing.points} points…`);
        if (drawing.points === 1) drawing.svg.dataset.firstPointMs = (performance.now() - started).toFixed(1);
        await nextTask();
        chunkStarted = performance.now();
      }
      if (stopAsked) {
        ending = 'stopped';
        break;
      }
    }
  } catch (error) {
    ending = 'failed';
    complain([`the model failed: ${error.message}`]);
  }
  drawing.paint();
  drawing.alignment.crop();
  drawing.svg.dataset.lineMs = (performance.now() - started).toFixed(1);
  drawing.svg.dataset.state = ending;
  say(ENDINGS[ending](drawing.points, writer.settings.points_per_character));
  setBusy(false);
}

/** The drawing as a standalone SVG document and its size in pixels: 300 high, or at most 3000 wide. */
function svgDocument() {
  const svg = $('drawing').cloneNode(true);
  const [, , width, height] = svg.getAttribute('viewBox').split(' ').map(Number);
  const scale = Math.min(300 / height, 3000 / width);
  svg.setAttribute('width', Math.round(width * scale));
  svg.setAttribute('height', Math.round(height * scale));
  return {text: new XMLSerializer().serializeToString(svg), width: Math.round(width * scale),
    height: Math.round(height * scale)};
}

function download(blob, name) {
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

function downloadSvg() {
  download(new Blob([svgDocument().text], {type: 'image/svg+xml'}), 'handwriting.svg');
}

async function downloadPng() {
  const {text, width, height} = svgDocument();
  const image = new Image();
  image.src = URL.createObjectURL(new Blob([text], {type: 'image/svg+xml'}));
  await image.decode();
  const canvas = Object.assign(document.createElement('canvas'), {width, height});
  canvas.getContext('2d').drawImage(image, 0, 0, width, height);
  URL.revokeObjectURL(image.src);
  canvas.toBlob((blob) => download(blob, 'handwriting.png'), 'image/png');
}

function wire() {
  $('controls').addEventListener('submit', (event) => {
    event.preventDefault();
    if (!writing && writer) write();
  });
  $('stop').addEventListener('click', () => stopAsked = true);
  $('bias-slider').addEventListener('input', () => $('bias').value = $('bias-slider').value);
  $('bias').addEventListener('input', () => $('bias-slider').value = $('bias').value);
  $('accelerator').addEventListener('change', loadWriter);
  $('download-svg').addEventListener('click', downloadSvg);
  $('download-png').addEventListener('click', downloadPng);
}

/** Offers WebGPU only where the browser has a GPU adapter. */
async function offerWebGpu() {
  const adapter = navigator.gpu ? await navigator.gpu.requestAdapter().catch(() => null) : null;
  $('accelerator').querySelector('[value=webgpu]').disabled = !adapter;
}

async function start() {
  wire();
  await offerWebGpu();
  say('Loading LiteRT.js…');
  try {
    await loadRuntime();
  } catch (error) {
    say('No runtime.');
    complain([`cannot load LiteRT.js (run \`npm ci --prefix web\`): ${error.message}`]);
    return;
  }
  await loadWriter();
}

start();
