// YAML parsing that keeps enough of the source to point at a line: every
// problem found on the plain JS value is mapped back to the node it came from.
import { LineCounter, isMap, isNode, isPair, isScalar, isSeq, parseAllDocuments, type Document, type Node } from 'yaml';
import type { PathSegment, Problem } from './problem.js';

export interface YamlDoc {
  value: unknown;
  index: number;
  lineOf(path: readonly PathSegment[]): number | undefined;
}

export class YamlSyntaxError extends Error {
  constructor(
    readonly reason: string,
    readonly line: number | undefined,
  ) {
    super(reason);
  }
}

/** Parses every document; a syntax error or duplicate key throws one line naming where. */
export function parseYaml(text: string, file = 'input'): YamlDoc[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, uniqueKeys: true, prettyErrors: true });
  const list: Document.Parsed[] = Array.isArray(docs) ? docs : [];
  if (!Array.isArray(docs)) throw new YamlSyntaxError(`${file} is not a YAML stream`, undefined);
  const out: YamlDoc[] = [];
  list.forEach((doc, index) => {
    const err = doc.errors[0];
    if (err) {
      const pos = err.linePos?.[0];
      throw new YamlSyntaxError(`YAML: ${err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`, pos?.line);
    }
    if (doc.contents === null) return; // an empty document, e.g. after a trailing "---"
    out.push({
      value: doc.toJS({ maxAliasCount: 100 }) as unknown,
      index,
      lineOf: (path) => {
        const node = nodeAt(doc.contents, path);
        const start = node?.range?.[0];
        return start === undefined ? undefined : lineCounter.linePos(start).line;
      },
    });
  });
  return out;
}

/** The node for `path`: the key of the last mapping entry found, or a list item (a missing key points at its parent). */
function nodeAt(root: unknown, path: readonly PathSegment[]): Node | undefined {
  let node: unknown = root;
  let best: Node | undefined = isNode(root) ? root : undefined;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return best;
      if (isNode(pair.key)) best = pair.key;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item: unknown = node.items[seg];
      if (!isNode(item)) return best;
      best = item;
      node = item;
    } else {
      return best;
    }
  }
  return best;
}

export function withLines(problems: Problem[], doc: YamlDoc): Problem[] {
  return problems.map((p) => ({ ...p, doc: doc.index, line: p.line ?? doc.lineOf(p.path) }));
}
