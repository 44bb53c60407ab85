// The figures of one bench run: each value beside its target, printed as a markdown table and
// written as JSON with the machine it ran on.
import { arch, cpus, loadavg, platform } from 'node:os';
import { writeFileSync } from 'node:fs';

export function median(values) {
  if (values.length === 0) throw new Error('median of no values');
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The lower and upper quartiles, to show how far single rounds spread around the median. */
export function quartiles(values) {
  const s = [...values].sort((a, b) => a - b);
  const at = (q) => {
    const i = (s.length - 1) * q;
    const lo = Math.floor(i);
    return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (i - lo);
  };
  return [at(0.25), at(0.75)];
}

/** "rounds' middle half a–b", for a figure's note. */
export function spread(values, digits = 2) {
  const [a, b] = quartiles(values);
  return `middle half of rounds ${a.toFixed(digits)}–${b.toFixed(digits)}`;
}

/** A target: `{ op: '<=' | '>=' | '==', value }`; `null` when the figure is for information. */
export function target(op, value) {
  if (!['<=', '>=', '=='].includes(op)) throw new Error(`target: unknown comparison ${op}`);
  return { op, value };
}

function met(value, t) {
  if (t === null) return null;
  if (t.op === '<=') return value <= t.value;
  if (t.op === '>=') return value >= t.value;
  return value === t.value;
}

function format(value, unit) {
  if (typeof value !== 'number') return String(value);
  if (unit === '×') return value.toFixed(3);
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function cell(value, unit) {
  const text = format(value, unit);
  return unit === '' ? text : unit === '×' ? `${text}×` : `${text} ${unit}`;
}

export class Report {
  figures = [];
  details = {};

  /** Adds one figure. `target` comes from target() or is null; `note` says what it is measured against. */
  add(section, name, value, unit, t = null, note = '') {
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`figure "${name}": not a finite number (${value})`);
    this.figures.push({ section, name, value, unit, target: t, met: met(value, t), note });
  }

  /** A section that could not run: one row with the reason, counted as missed. */
  failed(section, reason) {
    this.figures.push({ section, name: `not measured: ${reason}`, value: null, unit: '', target: null, met: false, note: '' });
  }

  table() {
    const rows = ['| Figure | Value | Target | Met |', '|---|---:|---|:---:|'];
    let section = '';
    for (const f of this.figures) {
      if (f.section !== section) {
        section = f.section;
        rows.push(`| **${section}** | | | |`);
      }
      const value = f.value === null ? 'n/a' : cell(f.value, f.unit);
      const goal = f.target === null ? '—' : `${f.target.op === '==' ? '=' : f.target.op === '<=' ? '≤' : '≥'} ${cell(f.target.value, f.unit)}`;
      const mark = f.met === null ? '' : f.met ? 'yes' : '**no**';
      const name = f.note === '' ? f.name : `${f.name} <sub>(${f.note})</sub>`;
      rows.push(`| ${name} | ${value} | ${goal} | ${mark} |`);
    }
    return rows.join('\n');
  }

  machine() {
    const cpu = cpus();
    return {
      cpu: cpu[0]?.model ?? 'unknown',
      cores: cpu.length,
      node: process.version,
      v8: process.versions.v8,
      platform: `${platform()} ${arch()}`,
      // Other processes' load when the run ended (1-minute average): timings on a shared
      // machine mean little without it.
      loadAverage: Number(loadavg()[0].toFixed(2)),
    };
  }

  write(path, meta) {
    const json = { date: new Date().toISOString(), machine: this.machine(), ...meta, figures: this.figures, details: this.details };
    writeFileSync(path, `${JSON.stringify(json, null, 2)}\n`);
  }
}
