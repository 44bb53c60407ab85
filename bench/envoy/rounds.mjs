// Interleaved rounds: in every round each subject is measured once, back to back, in an order
// that rotates from round to round (and runs backwards every other pass), so that no subject
// always runs first, last, or after the same neighbour while the machine's load drifts.

/** Round r's order of the subjects. */
export function orderOf(round, subjects) {
  const n = subjects.length;
  const rotated = subjects.map((_, i) => subjects[(i + round) % n]);
  return Math.floor(round / n) % 2 === 1 ? rotated.reverse() : rotated;
}

/**
 * Runs `measure(subject)` for every subject in every round. `measure` resolves with named
 * figures ({ perSecond: 5123, ... }); the result has, per figure, the per-round values of each
 * subject: { perSecond: { a: [..], b: [..], ... }, ... }.
 */
export async function interleaved({ subjects, rounds, label, measure, progress }) {
  const out = {};
  for (let r = 0; r < rounds; r++) {
    progress(`\r${label}: round ${r + 1}/${rounds}`);
    for (const subject of orderOf(r, subjects)) {
      for (const [name, value] of Object.entries(await measure(subject))) {
        out[name] ??= Object.fromEntries(subjects.map((s) => [s.id, []]));
        out[name][subject.id].push(value);
      }
    }
  }
  progress('\n');
  return out;
}
