// Reads what the host must check before linking from a Wasm binary: imports with their types,
// exports with their signatures, memory/table limits and whether a start section exists.
// Node 20 has no type reflection (WebAssembly.Module.imports() gives no signatures), so the
// sections are decoded here. The binary has already been validated by WebAssembly.compile, so
// this reader only guards against running off the end, not against every malformation.
// Format: WebAssembly core spec, "Binary Format" (sections 1 type, 2 import, 3 function, 7 export, 8 start).

export interface Limits {
  initial: number;
  maximum?: number;
}

export type ImportInfo =
  | { module: string; name: string; kind: 'function'; signature?: string }
  | { module: string; name: string; kind: 'memory'; limits: Limits }
  | { module: string; name: string; kind: 'table'; limits: Limits }
  | { module: string; name: string; kind: 'global' | 'tag' };

export interface ExportInfo {
  name: string;
  kind: 'function' | 'table' | 'memory' | 'global' | 'tag';
  /** For functions: "params->results" with i = i32, I = i64, f = f32, F = f64, x = anything else. */
  signature?: string;
}

export interface ModuleInfo {
  imports: ImportInfo[];
  exports: ExportInfo[];
  hasStartSection: boolean;
}

const EXTERN_KINDS = ['function', 'table', 'memory', 'global', 'tag'] as const;

class Reader {
  pos = 0;
  constructor(readonly bytes: Uint8Array) {}
  byte(): number {
    if (this.pos >= this.bytes.length) throw new RangeError('unexpected end of module');
    return this.bytes[this.pos++]!;
  }
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result >>> 0;
      shift += 7;
      if (shift > 28 + 7) throw new RangeError('LEB128 too long');
    }
  }
  skipLeb(): void {
    while (this.byte() & 0x80) {
      /* continuation bytes */
    }
  }
  name(): string {
    const len = this.u32();
    const end = this.pos + len;
    if (end > this.bytes.length) throw new RangeError('name runs past the end of the module');
    const s = Buffer.from(this.bytes.buffer, this.bytes.byteOffset + this.pos, len).toString('utf8');
    this.pos = end;
    return s;
  }
  limits(): Limits {
    const flags = this.byte();
    const initial = this.u32();
    return flags & 1 ? { initial, maximum: this.u32() } : { initial };
  }
}

function valType(b: number): string {
  switch (b) {
    case 0x7f:
      return 'i';
    case 0x7e:
      return 'I';
    case 0x7d:
      return 'f';
    case 0x7c:
      return 'F';
    default:
      return 'x';
  }
}

/** Decodes the sections the host needs. Types it cannot read leave `signature` undefined. */
export function readModuleInfo(bytes: Uint8Array): ModuleInfo {
  const r = new Reader(bytes);
  r.pos = 8; // magic + version
  const types: (string | undefined)[] = [];
  const funcTypes: (number | undefined)[] = []; // function index space -> type index
  const imports: ImportInfo[] = [];
  const rawExports: { name: string; kind: number; index: number }[] = [];
  let hasStartSection = false;

  while (r.pos < bytes.length) {
    const id = r.byte();
    const size = r.u32();
    const end = r.pos + size;
    if (id === 1) {
      const count = r.u32();
      for (let i = 0; i < count; i++) {
        if (r.byte() !== 0x60) {
          // A GC-proposal type form: stop reading types; signatures stay unknown.
          break;
        }
        const params = r.u32();
        let sig = '';
        for (let p = 0; p < params; p++) sig += valType(r.byte());
        sig += '->';
        const results = r.u32();
        for (let p = 0; p < results; p++) sig += valType(r.byte());
        types.push(sig);
      }
    } else if (id === 2) {
      const count = r.u32();
      for (let i = 0; i < count; i++) {
        const module = r.name();
        const name = r.name();
        const kind = r.byte();
        if (kind === 0) {
          const typeIndex = r.u32();
          funcTypes.push(typeIndex);
          const signature = types[typeIndex];
          imports.push(signature === undefined ? { module, name, kind: 'function' } : { module, name, kind: 'function', signature });
        } else if (kind === 1) {
          r.byte(); // reference type
          imports.push({ module, name, kind: 'table', limits: r.limits() });
        } else if (kind === 2) {
          imports.push({ module, name, kind: 'memory', limits: r.limits() });
        } else if (kind === 3) {
          r.byte(); // value type
          r.byte(); // mutability
          imports.push({ module, name, kind: 'global' });
        } else {
          r.byte(); // tag attribute
          r.u32(); // tag type
          imports.push({ module, name, kind: 'tag' });
        }
      }
    } else if (id === 3) {
      const count = r.u32();
      for (let i = 0; i < count; i++) funcTypes.push(r.u32());
    } else if (id === 7) {
      const count = r.u32();
      for (let i = 0; i < count; i++) {
        const name = r.name();
        const kind = r.byte();
        const index = r.u32();
        rawExports.push({ name, kind, index });
      }
    } else if (id === 8) {
      hasStartSection = true;
    }
    r.pos = end;
  }

  const exports: ExportInfo[] = rawExports.map(({ name, kind, index }) => {
    const kindName = EXTERN_KINDS[kind] ?? 'tag';
    if (kindName !== 'function') return { name, kind: kindName };
    const typeIndex = funcTypes[index];
    const signature = typeIndex === undefined ? undefined : types[typeIndex];
    return signature === undefined ? { name, kind: kindName } : { name, kind: kindName, signature };
  });
  return { imports, exports, hasStartSection };
}
