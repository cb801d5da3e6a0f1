// The random numbers of the page's draws: mulberry32, a 32-bit generator, seeded with an integer in
// [0, 2^32). zoo/web.py's `Uniforms` is the same generator in Python; the two give the same numbers
// (tests/test_web.py). Each number keeps the generator's top 24 bits, k / 2^24: a float32 in [0, 1),
// exact in both languages. The synthesis cell turns four of them into a point (its sampler lives in the
// .tflite graph, not here).

export const MAX_SEED = 2 ** 32 - 1;

/** A generator of uniform numbers in [0, 1); `seed` an integer in [0, MAX_SEED]. */
export function uniforms(seed) {
  let state = seed >>> 0;
  return function next() {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) >>> 8) / 2 ** 24;
  };
}

/** The next four numbers of `next`, the `uniforms` input `[1, 4]` of one step of the cell. */
export function stepUniforms(next) {
  return Float32Array.of(next(), next(), next(), next());
}
