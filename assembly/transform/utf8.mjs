// An asc transform for static UTF-8 text. In our AssemblyScript a text is
// written `utf8("literal")`; this transform collects every such literal (once
// each), lays them out in one static blob (each text: u16 little-endian length,
// then its bytes), and rewrites
//   utf8("literal")  →  utf8(<offset of the text in the blob>)
//   utf8List("a", "b", ...)  →  utf8List(<offset of "a">): the texts one after
//                    the other, then an empty text that ends the list; each
//                    entry is also the text utf8("a") etc. resolve to
//   utf8Blob()       →  memory.data<u8>([...the blob...])
// so that bytes.ts's inline utf8(offset) resolves to a constant address.
// Why: AssemblyScript stores string literals as UTF-16 objects with a 20-byte
// header, and one data segment each; our log and error texts would then take
// over half of the 16 KiB module budget.
//
// Used by asc through package.json's build:wasm and by as-pect through
// as-pect.asconfig.json. Without it the module does not compile (utf8 takes an
// offset), so a build that forgot it cannot slip through.
import { Transform } from 'assemblyscript/transform';
import assemblyscript from 'assemblyscript';

const { Node, NodeKind, LiteralKind } = assemblyscript;

function isTextCall(node, name) {
  return (
    node.kind === NodeKind.Call &&
    node.expression.kind === NodeKind.Identifier &&
    node.expression.text === name &&
    node.args.length === 1 &&
    node.args[0].kind === NodeKind.Literal &&
    node.args[0].literalKind === LiteralKind.String
  );
}

function isListCall(node) {
  return (
    node.kind === NodeKind.Call &&
    node.expression.kind === NodeKind.Identifier &&
    node.expression.text === 'utf8List' &&
    node.args.length > 0 &&
    node.args.every((a) => a.kind === NodeKind.Literal && a.literalKind === LiteralKind.String)
  );
}

function isBlobCall(node) {
  return (
    node.kind === NodeKind.Call &&
    node.expression.kind === NodeKind.Identifier &&
    node.expression.text === 'utf8Blob' &&
    node.args.length === 0
  );
}

function integer(value, range) {
  return Node.createIntegerLiteralExpression(globalThis.i64_new(value, 0), range);
}

class Blob {
  offsets = new Map();
  bytes = [];
  append(text, range) {
    const b = Buffer.from(text, 'utf8');
    if (b.length > 0xffff) throw new Error(`utf8(): text longer than 65535 bytes in ${range.source.normalizedPath}`);
    const offset = this.bytes.length;
    this.bytes.push(b.length & 0xff, b.length >> 8, ...b);
    return offset;
  }
  offsetOf(text, range) {
    if (!this.offsets.has(text)) this.offsets.set(text, this.append(text, range));
    return this.offsets.get(text);
  }
  /** A list is always laid out afresh (its entries must be adjacent); its entries then serve utf8() too. */
  listOffset(texts, range) {
    const first = this.bytes.length;
    for (const text of texts) {
      if (text.length === 0) throw new Error(`utf8List(): an empty entry would end the list early in ${range.source.normalizedPath}`);
      const offset = this.append(text, range);
      if (!this.offsets.has(text)) this.offsets.set(text, offset);
    }
    this.bytes.push(0, 0);
    return first;
  }
}

function rewriteTexts(node, blob, seen, lists) {
  if (!node || typeof node !== 'object' || seen.has(node)) return;
  seen.add(node);
  for (const key of Object.keys(node)) {
    if (key === 'range' || key === 'parent') continue;
    const value = node[key];
    const items = Array.isArray(value) ? value : [value];
    for (const item of items) {
      if (!(item instanceof Node)) continue;
      if (lists && isListCall(item)) item.args = [integer(blob.listOffset(item.args.map((a) => a.value), item.range), item.range)];
      else if (!lists && isTextCall(item, 'utf8')) item.args[0] = integer(blob.offsetOf(item.args[0].value, item.range), item.range);
      else rewriteTexts(item, blob, seen, lists);
    }
  }
}

function replaceBlob(node, blob, seen) {
  if (!node || typeof node !== 'object' || seen.has(node)) return false;
  seen.add(node);
  let found = false;
  for (const key of Object.keys(node)) {
    if (key === 'range' || key === 'parent') continue;
    const value = node[key];
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        if (!(value[i] instanceof Node)) continue;
        if (isBlobCall(value[i])) {
          value[i] = blobData(value[i].range, blob);
          found = true;
        } else found = replaceBlob(value[i], blob, seen) || found;
      }
    } else if (value instanceof Node) {
      if (isBlobCall(value)) {
        node[key] = blobData(value.range, blob);
        found = true;
      } else found = replaceBlob(value, blob, seen) || found;
    }
  }
  return found;
}

function blobData(range, blob) {
  const callee = Node.createPropertyAccessExpression(
    Node.createIdentifierExpression('memory', range),
    Node.createIdentifierExpression('data', range),
    range,
  );
  const u8 = Node.createNamedType(Node.createSimpleTypeName('u8', range), null, false, range);
  const values = (blob.bytes.length ? blob.bytes : [0]).map((b) => integer(b, range));
  return Node.createCallExpression(callee, [u8], [Node.createArrayLiteralExpression(values, range)], range);
}

export default class Utf8Transform extends Transform {
  afterParse(parser) {
    const blob = new Blob();
    const sources = parser.sources.filter((s) => !s.normalizedPath.startsWith('~lib/'));
    // Lists first, so that a utf8() of one of their entries shares its bytes.
    const seenLists = new Set();
    for (const source of sources) rewriteTexts(source, blob, seenLists, true);
    const seen = new Set();
    for (const source of sources) rewriteTexts(source, blob, seen, false);
    const seenBlob = new Set();
    let found = false;
    for (const source of sources) found = replaceBlob(source, blob, seenBlob) || found;
    if (!found && blob.bytes.length) throw new Error('utf8 transform: no utf8Blob() call found (assembly/bytes.ts)');
  }
}
