// One finding of a validator: where (a path of keys and indices inside the
// document) and what. Formatting adds the file and, when known, the line.
export type PathSegment = string | number;

export interface Problem {
  path: PathSegment[];
  message: string;
  /** 1-based line in the source file, filled in by the caller that has the YAML source. */
  line?: number;
  /** 0-based document index in a multi-document YAML file. */
  doc?: number;
}

/** "spec.servers[0].port.number" → ["spec", "servers", 0, "port", "number"]. */
export function parseFieldPath(p: string): PathSegment[] {
  return p.split('.').flatMap((part) => {
    const m = /^([^[]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) return [part];
    const indices = [...m[2]!.matchAll(/\[(\d+)\]/g)].map((x) => Number(x[1]));
    return [...(m[1] ? [m[1]] : []), ...indices];
  });
}

export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_@][\w@-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out === '' ? '(document)' : out;
}

export function formatProblem(file: string, p: Problem): string {
  const where = p.line !== undefined ? `${file}:${p.line}` : file;
  const doc = p.doc !== undefined && p.doc > 0 ? ` (document ${p.doc + 1})` : '';
  return `${where}${doc}: ${formatPath(p.path)}: ${p.message}`;
}

/** Levenshtein distance, for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}
