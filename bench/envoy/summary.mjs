// From rounds to the printed figures: every figure is the median of its rounds, and every ratio
// is taken inside a round (subject / baseline measured minutes apart would compare the machine's
// moods, not the subjects) and then the median of those. Prints one table with a column per
// subject and one of the targets, met or missed.
import { median, quartiles } from '../report.mjs';

const MiB = 1024 * 1024;

/** Per-round ratios of subject `s` to subject `base` for one figure's rounds. */
export function roundRatios(rounds, s, base) {
  return rounds[s].map((v, i) => v / rounds[base][i]);
}

function fmt(value, digits) {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/**
 * A figure measured for every subject: `rounds[subjectId]` is its per-round values; `scale`
 * turns a value into the printed unit. Ratios to (a) and (b) come from the same rounds.
 */
export function figure({ title, unit, rounds, scale = 1, digits = 0, ratios = true }) {
  const ids = Object.keys(rounds);
  const value = Object.fromEntries(ids.map((id) => [id, median(rounds[id]) * scale]));
  const to = (base) => Object.fromEntries(ids.map((id) => [id, median(roundRatios(rounds, id, base))]));
  return { title, unit, digits, value, toA: ratios ? to('a') : null, toB: ratios ? to('b') : null, rounds };
}

/** The markdown table of figures: a row per figure (and its ratios), a column per subject. */
export function figuresTable(subjects, sections) {
  const ids = subjects.map((s) => s.id);
  const rows = [`| | ${ids.map((id) => `(${id})`).join(' | ')} |`, `|---|${ids.map(() => '---:').join('|')}|`];
  for (const { heading, figures } of sections) {
    rows.push(`| **${heading}** |${ids.map(() => ' ').join('|')}|`);
    // A subject measured in only some phases (the floor module) shows a dash in the others.
    const cells = (values, digits) => ids.map((id) => (values[id] === undefined ? '—' : fmt(values[id], digits))).join(' | ');
    for (const f of figures) {
      rows.push(`| ${f.title} (${f.unit}) | ${cells(f.value, f.digits)} |`);
      if (f.toA !== null) {
        rows.push(`| &nbsp;&nbsp;× (a) | ${cells(f.toA, 3)} |`);
        rows.push(`| &nbsp;&nbsp;× (b) | ${cells(f.toB, 3)} |`);
      }
    }
  }
  return rows.join('\n');
}

/**
 * A target on a ratio of two subjects' rounds (`op` '>=' or '<='), or on a difference of two
 * medians (`difference: true`, in the figure's own unit); with no `op`, a ratio shown for what it
 * explains. Beside it, the same ratio for the two identical subjects (b') and (b): how far
 * apart this figure puts two subjects that are the same.
 */
export function checkTarget({ name, rounds, subject, base, op = null, limit = null, difference = false, unit = '×', digits = 3 }) {
  let value;
  let noise;
  let note = '';
  if (difference) {
    value = median(rounds[subject]) - median(rounds[base]);
    noise = median(rounds["b'"]) - median(rounds.b);
  } else {
    const r = roundRatios(rounds, subject, base);
    value = median(r);
    noise = median(roundRatios(rounds, "b'", 'b'));
    if (r.length > 1) {
      const [lo, hi] = quartiles(r);
      note = `middle half of rounds ${fmt(lo, 2)}–${fmt(hi, 2)}`;
    }
  }
  const met = op === null ? null : op === '>=' ? value >= limit : value <= limit;
  return { name, value, op, limit, unit, digits, met, note, noise };
}

export function targetsTable(targets) {
  const rows = ["| Target | Value | Limit | Met | Same figure, (b') against (b) |", '|---|---:|---|:---:|---:|'];
  const show = (t, v) => (t.unit === '×' ? `${fmt(v, t.digits)}×` : `${fmt(v, t.digits)} ${t.unit}`);
  for (const t of targets) {
    const limit = t.op === null ? '—' : `${t.op === '>=' ? '≥' : '≤'} ${t.unit === '×' ? `${fmt(t.limit, 2)}×` : `${fmt(t.limit, t.digits)} ${t.unit}`}`;
    const met = t.met === null ? '' : t.met ? 'met' : '**missed**';
    const name = t.note === '' ? t.name : `${t.name} <sub>(${t.note})</sub>`;
    rows.push(`| ${name} | ${show(t, t.value)} | ${limit} | ${met} | ${show(t, t.noise)} |`);
  }
  return rows.join('\n');
}

/** The figures table and the targets, from the rounds of every phase that ran. */
export function buildReport({ data, settings, subjects }) {
  const sections = [];
  const targets = [];
  const { rounds } = settings;
  if (data.connections) {
    const c = data.connections;
    sections.push({
      heading: `New connections (wrk, one request per connection, ${settings.wrkConnections} at a time, ${settings.connectionSeconds} s × ${rounds} rounds)`,
      figures: [
        figure({ title: 'connections per second', unit: 'conn/s', rounds: c.perSecond }),
        figure({ title: 'Envoy CPU per connection', unit: 'µs', rounds: c.cpuNs, scale: 1e-3, digits: 1 }),
        figure({ title: 'Envoy worker busy (on a CPU or waiting for one)', unit: '%', rounds: c.workerBusy, scale: 100, ratios: false }),
        figure({ title: 'nginx CPU', unit: '% of a core', rounds: c.nginxCpu, scale: 100, ratios: false }),
      ],
    });
    // The same targets on the rate Envoy's own CPU allows (connections per CPU-second of
    // Envoy): the rate if Envoy alone set it. Other processes' load on the machine moves the
    // measured rate much more than it moves this.
    const capacity = Object.fromEntries(Object.entries(c.cpuNs).map(([id, v]) => [id, v.map((ns) => 1e9 / ns)]));
    for (const [perRound, what] of [[c.perSecond, 'connection rate'], [capacity, 'connections per Envoy CPU-second']]) {
      targets.push(
        checkTarget({ name: `(d) ${what} / (b)`, rounds: perRound, subject: 'd', base: 'b', op: '>=', limit: 0.9 }),
        checkTarget({ name: `(d) ${what} / (f), the module's own share`, rounds: perRound, subject: 'd', base: 'f', op: '>=', limit: 0.97 }),
        checkTarget({ name: `(e) ${what} / (b)`, rounds: perRound, subject: 'e', base: 'b', op: '>=', limit: 0.85 }),
      );
    }
    // Where (d)'s distance from (f) lies: the floor module makes the same host calls and
    // nothing else, so floor / (f) is what Envoy charges for them and (d) / floor what the
    // module's own logic adds.
    if (capacity.floor !== undefined) {
      targets.push(
        checkTarget({ name: '(floor) connections per Envoy CPU-second / (f): the host calls every PPv2 filter makes', rounds: capacity, subject: 'floor', base: 'f' }),
        checkTarget({ name: '(d) connections per Envoy CPU-second / (floor): the module\'s own logic', rounds: capacity, subject: 'd', base: 'floor' }),
      );
    }
  }
  if (data.latency) {
    const l = data.latency;
    sections.push({
      heading: `Request latency at ${settings.rate.toLocaleString('en-US')} requests/s (open-loop client, a new connection per request, ${settings.latencySeconds} s × ${rounds} rounds)`,
      figures: [
        figure({ title: 'p50', unit: 'µs', rounds: l.p50, scale: 1e3 }),
        figure({ title: 'p99', unit: 'µs', rounds: l.p99, scale: 1e3 }),
        figure({ title: "client's own lateness, p99", unit: 'µs', rounds: l.clientLateP99, scale: 1e3, ratios: false }),
      ],
    });
    targets.push(checkTarget({ name: '(d) p99 latency / (b)', rounds: l.p99, subject: 'd', base: 'b', op: '<=', limit: 1.1 }));
  }
  if (data.throughput) {
    const t = data.throughput;
    const mib = settings.transferBytes / MiB;
    for (const [dir, label] of [['download', 'Download (nginx → client)'], ['upload', 'Upload (client → nginx)']]) {
      sections.push({
        heading: `${label}: ${mib} MiB on one connection, ${rounds} rounds`,
        figures: [
          figure({ title: 'throughput', unit: 'MB/s', rounds: t[`${dir}Mbps`] }),
          figure({ title: 'Envoy CPU per MB', unit: 'µs', rounds: t[`${dir}CpuNsPerMB`], scale: 1e-3, digits: 1 }),
          figure({ title: 'Envoy worker busy', unit: '%', rounds: t[`${dir}WorkerBusy`], scale: 100, ratios: false }),
        ],
      });
      targets.push(checkTarget({ name: `(d) ${dir} throughput / (b)`, rounds: t[`${dir}Mbps`], subject: 'd', base: 'b', op: '>=', limit: 0.98 }));
    }
  }
  if (data.memory) {
    const m = data.memory;
    sections.push({
      heading: `Memory: ${settings.idle.toLocaleString('en-US')} idle connections open at once, each after one request (fresh processes; scaled to 10,000)`,
      figures: [
        figure({ title: 'Envoy RSS before them, after one request', unit: 'MiB', rounds: m.rssAtRest, scale: 1 / MiB, digits: 1 }),
        figure({ title: 'Envoy RSS per 10,000 idle connections', unit: 'MiB', rounds: m.rssPerConnection, scale: 10_000 / MiB, digits: 1 }),
        figure({ title: 'Envoy heap in use (tcmalloc) per 10,000', unit: 'MiB', rounds: m.heapPerConnection, scale: 10_000 / MiB, digits: 1 }),
      ],
    });
    targets.push(checkTarget({ name: '(d) − (b), RSS per idle connection', rounds: m.rssPerConnection, subject: 'd', base: 'b', op: '<=', limit: 1024, difference: true, unit: 'B', digits: 0 }));
  }
  return {
    subjects: subjects.map((s) => `(${s.id}) ${s.what}`).join('\n'),
    figures: figuresTable(subjects, sections),
    targets: targetsTable(targets),
    targetList: targets,
  };
}
