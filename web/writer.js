// The synthesis cell's loop in the browser: the export's one-step .tflite (zoo/export/synthesis.py,
// `synthesis_step_tflite`) run by LiteRT.js. zoo/web.py's `SynthesisLoop` is the same loop in Python: the
// cell draws each point itself from four uniform numbers a step (uniforms.js), so both write the same
// points for the same text, bias, seed and style. Nothing here samples: the mixture lives in the graph.

import {loadAndCompile, loadLiteRt, Tensor} from '@litertjs/core';
import {MAX_SEED, stepUniforms, uniforms} from './uniforms.js';

const CELL = 'graves_synthesis_step.tflite';
const PEN_UP = [0, 0, 1]; // the point before a line's first one
const RESERVED = 2; // characters.json's [PAD] and [UNK]: no characters
// The cell's outputs, by position: ŷ, finished, φ, the next point (normalised), the same in the data's
// units, then the states.
const FINISHED = 1, PHI = 2, POINT = 3, DRAWN = 4, STATES = 5;

/** Loads LiteRT.js's WebAssembly from web/node_modules (served beside this page). */
export async function loadRuntime() {
  await loadLiteRt(new URL('node_modules/@litertjs/core/wasm/', document.baseURI).href);
}

async function fetchJson(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${response.status} ${response.statusText}`);
  return response.json();
}

/** The cell's state inputs in its outputs' order (zoo/web.py's `cell_state_names`). */
function stateNames(inputNames) {
  const layers = inputNames.filter((name) => /^state_\d+_h$/.test(name)).length;
  const names = ['state_0_h', 'state_0_c', 'kappa', 'window'];
  for (let n = 1; n < layers; n++) names.push(`state_${n}_h`, `state_${n}_c`);
  return names;
}

/**
 * A character as a message names it: quoted, or its code point when it does not print (Unicode's "Other"
 * and "Separator" characters but the space, as Python's str.isprintable says).
 */
function shown(character) {
  return character === ' ' || !/[\p{C}\p{Z}]/u.test(character) ?
    `'${character}'` : `U+${character.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
}

export class Writer {
  /**
   * The export's cell compiled for `accelerator` ('wasm' or 'webgpu') with its alphabet, offset statistics,
   * caps and styles; `exportUrl` is the folder of its assets.extra/ files (ending in '/').
   */
  static async load(exportUrl, accelerator) {
    const [characters, normalisation, settings] = await Promise.all(
        ['characters.json', 'normalisation.json', 'synthesis.json'].map((name) => fetchJson(exportUrl + name)));
    // styles.json exists once `python -m zoo styles` wrote it; without it the model writes in its own hand.
    const styles = await fetchJson(exportUrl + 'styles.json').catch(() => []);
    const model = await loadAndCompile(exportUrl + CELL, {accelerator});
    return new Writer(model, characters, normalisation, settings, styles);
  }

  constructor(model, characters, normalisation, settings, styles) {
    this.model = model;
    this.ids = new Map(characters.slice(RESERVED).map((c, i) => [c, i + RESERVED]));
    this.offsetMean = normalisation.offset_mean;
    this.offsetStd = normalisation.offset_std;
    this.settings = settings;
    this.styles = styles;
    const inputs = new Map(model.getInputDetails().map((d) => [d.name, d]));
    this.stateNames = stateNames([...inputs.keys()]);
    const expected = ['point', 'char_ids', 'bias', 'uniforms', ...this.stateNames].sort();
    if (JSON.stringify([...inputs.keys()].sort()) !== JSON.stringify(expected)) {
      throw new Error(`${CELL} takes ${[...inputs.keys()].sort().join(', ')}, not a point, char_ids, bias, ` +
                      'uniforms and the states: export the model again');
    }
    this.stateShapes = this.stateNames.map((name) => Array.from(inputs.get(name).shape));
    this.maxCharacters = inputs.get('char_ids').shape[1];
    this.outputCount = model.getOutputDetails().length;
  }

  get maxBias() {
    return this.settings.max_bias;
  }

  /** Why a line cannot be written, a message each (empty: it can); zoo/web.py's `input_problems`. */
  problems(text, bias, seed, style) {
    const characters = Array.from(text);
    const problems = [];
    if (!characters.length) problems.push('empty text: type something to write');
    const outside = [...new Set(characters.filter((c) => !this.ids.has(c)))];
    if (outside.length) problems.push(`not in the model's alphabet, so refused: ${outside.map(shown).join(', ')}`);
    if (!style && characters.length > this.maxCharacters) {
      problems.push(`the text has ${characters.length} characters; the model writes at most ${this.maxCharacters}`);
    }
    if (style) {
      const room = this.maxCharacters - Array.from(style.text).length - 1;
      if (characters.length > room) {
        problems.push(`the text has ${characters.length} characters; in this style the model writes at most ` +
                      `${room} (it reads the style's ${Array.from(style.text).length} and a space first)`);
      }
    }
    if (!(typeof bias === 'number' && bias >= 0 && bias <= this.maxBias)) {
      problems.push(`bias must be a number from 0 to ${this.maxBias}, got ${bias}`);
    }
    if (!(Number.isInteger(seed) && seed >= 0 && seed <= MAX_SEED)) {
      problems.push(`seed must be an integer from 0 to ${MAX_SEED}, got ${seed}`);
    }
    return problems;
  }

  /**
   * Writes `text` (after reading `style`'s strokes, §5.5, when given): yields each step's
   * {point: [dx, dy, end] in the data's units, phi: Float32Array over the text's characters, finished}.
   * It ends with the step where `finished` is true, or after points_per_character points a character.
   * Stop early by leaving the loop (`break`).
   */
  async* write(text, bias, seed, style) {
    const characters = Array.from(text);
    const whole = style ? [...Array.from(style.text), ' ', ...characters] : characters;
    const charIds = new Int32Array(this.maxCharacters);
    whole.forEach((c, i) => charIds[i] = this.ids.get(c));
    // The ids and the bias stay in the runtime's memory for the whole line; the point and the states the
    // cell returns are fed back as they are.
    const fixed = {char_ids: new Tensor(charIds, [1, this.maxCharacters]), bias: new Tensor(Float32Array.of(bias))};
    let carried = this.firstState();
    try {
      for (const next of style ? this.normalised(style.strokes) : []) {
        const outputs = await this.run(fixed, carried, new Float32Array(4));
        carried = this.carry(carried, outputs, new Tensor(next, [1, 3]));
      }
      const draws = uniforms(seed);
      const skip = whole.length - characters.length;
      for (let t = 0; t < this.settings.points_per_character * characters.length; t++) {
        const outputs = await this.run(fixed, carried, stepUniforms(draws));
        const [finished, phi, drawn] = await Promise.all([FINISHED, PHI, DRAWN].map((n) => outputs[n].data()));
        carried = this.carry(carried, outputs, outputs[POINT]);
        yield {point: Array.from(drawn), phi: phi.slice(skip, skip + characters.length), finished: finished[0] > 0.5};
        if (finished[0] > 0.5) return;
      }
    } finally {
      [...Object.values(fixed), ...Object.values(carried)].forEach((tensor) => tensor.delete());
    }
  }

  /** A style's points in the data's units → the cell's normalised float32 points (zoo/web.py's `normalised`). */
  normalised(strokes) {
    return strokes.map(([dx, dy, end]) => Float32Array.of(
        (dx - this.offsetMean[0]) / this.offsetStd[0], (dy - this.offsetMean[1]) / this.offsetStd[1], end));
  }

  /** What the first step reads: a pen-up point and zero states. */
  firstState() {
    const carried = {point: new Tensor(Float32Array.from(PEN_UP), [1, 3])};
    this.stateNames.forEach((name, i) => carried[name] = new Tensor(
        new Float32Array(this.stateShapes[i].reduce((a, b) => a * b, 1)), this.stateShapes[i]));
    return carried;
  }

  /** Runs the cell once on `fixed`, `carried` and four uniform numbers: its output tensors, in order. */
  async run(fixed, carried, uniformNumbers) {
    const uniformsTensor = new Tensor(uniformNumbers, [1, 4]);
    try {
      const outputs = await this.model.run({...fixed, ...carried, uniforms: uniformsTensor});
      return Array.from({length: this.outputCount}, (_, n) => outputs[`output_${n}`]);
    } finally {
      uniformsTensor.delete();
    }
  }

  /** What the next step reads: `point` and the new states of `outputs`; every other tensor is deleted. */
  carry(carried, outputs, point) {
    Object.values(carried).forEach((tensor) => tensor.delete());
    const next = {point};
    this.stateNames.forEach((name, i) => next[name] = outputs[STATES + i]);
    outputs.slice(0, STATES).filter((tensor) => tensor !== point).forEach((tensor) => tensor.delete());
    return next;
  }
}
