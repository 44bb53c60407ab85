// A strict walk of a parsed YAML/JSON value against a protobuf message type,
// following the proto3 JSON mapping Envoy uses to load its configuration:
// field names in snake_case or lowerCamelCase, enums by name (or number),
// 64-bit integers as numbers or strings, `Any` as an object with `@type`, and
// the well-known types in their JSON forms (Duration "1s", Struct, wrappers).
//
// protobufjs's fromObject silently drops unknown fields, which is exactly the
// mistake this walk exists to catch, so it is written out here. On top of the
// type check it rejects deprecated fields and enum values (the protos'
// `deprecated` option) and enforces a subset of protoc-gen-validate rules
// (required messages and oneofs, string/repeated lengths, numeric bounds).
import protobuf from 'protobufjs';
import type { EnvoyApi } from './envoy-api.js';
import { editDistance, type PathSegment, type Problem } from './problem.js';

const INT32 = new Set(['int32', 'sint32', 'sfixed32']);
const UINT32 = new Set(['uint32', 'fixed32']);
const INT64 = new Set(['int64', 'sint64', 'sfixed64']);
const UINT64 = new Set(['uint64', 'fixed64']);
const FLOAT = new Set(['double', 'float']);

const WRAPPERS: Record<string, string> = {
  'google.protobuf.DoubleValue': 'double',
  'google.protobuf.FloatValue': 'float',
  'google.protobuf.Int64Value': 'int64',
  'google.protobuf.UInt64Value': 'uint64',
  'google.protobuf.Int32Value': 'int32',
  'google.protobuf.UInt32Value': 'uint32',
  'google.protobuf.BoolValue': 'bool',
  'google.protobuf.StringValue': 'string',
  'google.protobuf.BytesValue': 'bytes',
};

/** Types whose JSON form is not an object of fields; inside an Any their JSON sits under "value". */
const SPECIAL_JSON = new Set([
  ...Object.keys(WRAPPERS),
  'google.protobuf.Duration',
  'google.protobuf.Timestamp',
  'google.protobuf.FieldMask',
  'google.protobuf.Struct',
  'google.protobuf.Value',
  'google.protobuf.ListValue',
]);

/** protoc's default json_name: drop underscores, upper-case the letter after each. */
export function jsonName(fieldName: string): string {
  return fieldName.replace(/_+([a-zA-Z0-9])/g, (_m, c: string) => c.toUpperCase());
}

function fullName(t: protobuf.ReflectionObject): string {
  return t.fullName.replace(/^\./, '');
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value)}`;
  return `${typeof value} ${String(value)}`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Rules from protoc-gen-validate, as protobufjs flattens them into `options`. */
function rule(options: Record<string, unknown> | undefined, key: string): unknown {
  return options?.[`(validate.rules).${key}`];
}

export class ProtoJsonChecker {
  readonly problems: Problem[] = [];

  constructor(private readonly api: EnvoyApi) {}

  private report(path: PathSegment[], message: string): void {
    this.problems.push({ path: [...path], message });
  }

  /** Checks `value` as the JSON form of message `type`. */
  checkMessage(value: unknown, type: protobuf.Type, path: PathSegment[]): void {
    const name = fullName(type);
    if (SPECIAL_JSON.has(name)) {
      this.checkWellKnown(value, name, path, undefined);
      return;
    }
    if (name === 'google.protobuf.Any') {
      this.checkAny(value, path);
      return;
    }
    if (!isPlainObject(value)) {
      this.report(path, `expected a mapping for ${name}, got ${describe(value)}`);
      return;
    }
    const byName = new Map<string, protobuf.Field>();
    for (const f of type.fieldsArray) {
      byName.set(f.name, f);
      const json = (f.options?.json_name as string | undefined) ?? jsonName(f.name);
      if (!byName.has(json)) byName.set(json, f);
    }
    const seen = new Map<protobuf.Field, string>();
    for (const [key, v] of Object.entries(value)) {
      const field = byName.get(key);
      const here = [...path, key];
      if (!field) {
        this.report(here, `unknown field "${key}" in ${name}${this.suggest(key, type)}`);
        continue;
      }
      const other = seen.get(field);
      if (other !== undefined) {
        this.report(here, `field "${field.name}" is given twice (as "${other}" and "${key}")`);
        continue;
      }
      seen.set(field, key);
      if (field.options?.deprecated === true) {
        this.report(here, `deprecated field "${field.name}" of ${name}${deprecatedSince(field.options)}`);
      }
      if (v === null) continue; // proto3 JSON: null means the default value
      this.checkField(v, field, here);
    }
    this.checkPresence(value, type, seen, path);
  }

  private suggest(key: string, type: protobuf.Type): string {
    const lower = key.toLowerCase().replace(/[_-]/g, '');
    const hit = type.fieldsArray.find((f) => f.name.replace(/_/g, '') === lower);
    if (hit) return ` (did you mean "${hit.name}"?)`;
    const near = type.fieldsArray.find((f) => editDistance(f.name, key) <= 2);
    return near ? ` (did you mean "${near.name}"?)` : '';
  }

  private checkPresence(
    value: Record<string, unknown>,
    type: protobuf.Type,
    seen: Map<protobuf.Field, string>,
    path: PathSegment[],
  ): void {
    const present = (f: protobuf.Field): boolean => {
      const key = seen.get(f);
      return key !== undefined && value[key] !== null && value[key] !== undefined;
    };
    for (const oneof of type.oneofsArray) {
      // proto3 `optional` makes a synthetic oneof with one member; it is no real choice.
      if (oneof.name.startsWith('_') && oneof.fieldsArray.length === 1) continue;
      const set = oneof.fieldsArray.filter(present);
      if (set.length > 1) {
        this.report(path, `only one of ${set.map((f) => `"${f.name}"`).join(', ')} may be set (oneof ${oneof.name} in ${fullName(type)})`);
      } else if (set.length === 0 && oneof.options?.['(validate.required)'] === true) {
        this.report(path, `one of ${oneof.fieldsArray.map((f) => `"${f.name}"`).join(', ')} is required (oneof ${oneof.name} in ${fullName(type)})`);
      }
    }
    for (const f of type.fieldsArray) {
      // Rules on a oneof member apply only when that member is the one set.
      if (present(f) || (f.partOf && !f.partOf.name.startsWith('_'))) continue;
      const required = ['message.required', 'duration.required', 'timestamp.required', 'any.required'].some(
        (k) => rule(f.options, k) === true,
      );
      if (required) this.report(path, `field "${f.name}" is required in ${fullName(type)}`);
      const minItems = rule(f.options, 'repeated.min_items');
      if (f.repeated && typeof minItems === 'number' && minItems > 0) {
        this.report(path, `field "${f.name}" needs at least ${minItems} item(s) in ${fullName(type)}`);
      }
      // protoc-gen-validate checks an absent scalar as its default ("" or 0),
      // so a rule like string.min_len or uint32.gt makes the field required.
      if (!f.repeated && !f.map && f.resolvedType === null && f.type !== 'bool') {
        if (rule(f.options, `${f.type}.ignore_empty`) === true) continue;
        const probe = new ProtoJsonChecker(this.api);
        probe.checkScalar(f.type === 'string' || f.type === 'bytes' ? '' : 0, f.type, [], f.options);
        if (probe.problems.length > 0) this.report(path, `field "${f.name}" is required in ${fullName(type)} (${probe.problems[0]!.message})`);
      }
    }
  }

  private checkField(v: unknown, field: protobuf.Field, path: PathSegment[]): void {
    field.resolve();
    if (field.map) {
      if (!isPlainObject(v)) {
        this.report(path, `expected a mapping for map field "${field.name}", got ${describe(v)}`);
        return;
      }
      for (const [k, item] of Object.entries(v)) {
        this.checkMapKey(k, (field as unknown as protobuf.MapField).keyType, [...path, k]);
        if (item !== null) this.checkSingle(item, field, [...path, k]);
      }
      return;
    }
    if (field.repeated) {
      if (!Array.isArray(v)) {
        this.report(path, `expected a list for repeated field "${field.name}", got ${describe(v)}`);
        return;
      }
      const min = rule(field.options, 'repeated.min_items');
      if (typeof min === 'number' && v.length < min) this.report(path, `needs at least ${min} item(s), has ${v.length}`);
      const max = rule(field.options, 'repeated.max_items');
      if (typeof max === 'number' && v.length > max) this.report(path, `allows at most ${max} item(s), has ${v.length}`);
      v.forEach((item, i) => {
        if (item === null) this.report([...path, i], 'a list item cannot be null');
        else this.checkSingle(item, field, [...path, i], true);
      });
      return;
    }
    this.checkSingle(v, field, path);
  }

  private checkMapKey(key: string, keyType: string, path: PathSegment[]): void {
    if (keyType === 'string') return;
    if (keyType === 'bool') {
      if (key !== 'true' && key !== 'false') this.report(path, `map key must be true or false, got ${JSON.stringify(key)}`);
      return;
    }
    if (!/^-?\d+$/.test(key)) this.report(path, `map key must be an integer (${keyType}), got ${JSON.stringify(key)}`);
  }

  private checkSingle(v: unknown, field: protobuf.Field, path: PathSegment[], inList = false): void {
    const t = field.resolvedType;
    if (t instanceof protobuf.Type) {
      const name = fullName(t);
      if (SPECIAL_JSON.has(name)) this.checkWellKnown(v, name, path, inList ? undefined : field.options);
      else this.checkMessage(v, t, path);
      return;
    }
    if (t instanceof protobuf.Enum) {
      this.checkEnum(v, t, path);
      return;
    }
    this.checkScalar(v, field.type, path, inList ? undefined : field.options);
  }

  private checkEnum(v: unknown, e: protobuf.Enum, path: PathSegment[]): void {
    const name = fullName(e);
    if (name === 'google.protobuf.NullValue') return;
    let valueName: string | undefined;
    if (typeof v === 'string') {
      if (!(v in e.values)) {
        this.report(path, `unknown value ${JSON.stringify(v)} for enum ${name} (one of ${Object.keys(e.values).join(', ')})`);
        return;
      }
      valueName = v;
    } else if (typeof v === 'number' && Number.isInteger(v)) {
      valueName = e.valuesById[v];
      if (valueName === undefined) {
        this.report(path, `unknown number ${v} for enum ${name}`);
        return;
      }
    } else {
      this.report(path, `expected an enum name of ${name}, got ${describe(v)}`);
      return;
    }
    const opts = (e as unknown as { valuesOptions?: Record<string, Record<string, unknown>> }).valuesOptions?.[valueName];
    if (opts?.deprecated === true) this.report(path, `deprecated enum value ${valueName} of ${name}${deprecatedSince(opts)}`);
  }

  checkScalar(v: unknown, type: string, path: PathSegment[], options: Record<string, unknown> | undefined): void {
    if (type === 'string') {
      if (typeof v !== 'string') {
        this.report(path, `expected a string, got ${describe(v)}`);
        return;
      }
      const min = rule(options, 'string.min_len') ?? rule(options, 'string.min_bytes');
      if (typeof min === 'number' && [...v].length < min) this.report(path, `must be at least ${min} character(s) long`);
      const max = rule(options, 'string.max_len') ?? rule(options, 'string.max_bytes');
      if (typeof max === 'number' && [...v].length > max) this.report(path, `must be at most ${max} character(s) long`);
      return;
    }
    if (type === 'bool') {
      if (typeof v !== 'boolean') this.report(path, `expected true or false, got ${describe(v)}`);
      return;
    }
    if (type === 'bytes') {
      if (typeof v !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(v)) this.report(path, `expected base64 bytes, got ${describe(v)}`);
      return;
    }
    if (FLOAT.has(type)) {
      const ok =
        (typeof v === 'number' && Number.isFinite(v)) ||
        (typeof v === 'string' && (/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(v) || ['NaN', 'Infinity', '-Infinity'].includes(v)));
      if (!ok) this.report(path, `expected a number (${type}), got ${describe(v)}`);
      else this.checkBounds(Number(v), type, path, options);
      return;
    }
    const isInt = INT32.has(type) || UINT32.has(type) || INT64.has(type) || UINT64.has(type);
    if (!isInt) {
      this.report(path, `unsupported scalar type ${type}`);
      return;
    }
    let n: bigint;
    if (typeof v === 'number' && Number.isInteger(v)) n = BigInt(v);
    else if (typeof v === 'string' && /^-?\d+$/.test(v)) n = BigInt(v);
    else {
      this.report(path, `expected an integer (${type}), got ${describe(v)}`);
      return;
    }
    const [lo, hi] = INT32.has(type)
      ? [-(2n ** 31n), 2n ** 31n - 1n]
      : UINT32.has(type)
        ? [0n, 2n ** 32n - 1n]
        : INT64.has(type)
          ? [-(2n ** 63n), 2n ** 63n - 1n]
          : [0n, 2n ** 64n - 1n];
    if (n < lo || n > hi) {
      this.report(path, `${n} is out of range for ${type}`);
      return;
    }
    this.checkBounds(Number(n), type, path, options);
  }

  private checkBounds(n: number, type: string, path: PathSegment[], options: Record<string, unknown> | undefined): void {
    const kind = type; // protoc-gen-validate names its numeric rules after the proto type
    const gt = rule(options, `${kind}.gt`);
    const gte = rule(options, `${kind}.gte`);
    const lt = rule(options, `${kind}.lt`);
    const lte = rule(options, `${kind}.lte`);
    if (typeof gt === 'number' && !(n > gt)) this.report(path, `must be greater than ${gt}, got ${n}`);
    if (typeof gte === 'number' && !(n >= gte)) this.report(path, `must be at least ${gte}, got ${n}`);
    if (typeof lt === 'number' && !(n < lt)) this.report(path, `must be less than ${lt}, got ${n}`);
    if (typeof lte === 'number' && !(n <= lte)) this.report(path, `must be at most ${lte}, got ${n}`);
  }

  private checkWellKnown(v: unknown, name: string, path: PathSegment[], options: Record<string, unknown> | undefined): void {
    const wrapped = WRAPPERS[name];
    if (wrapped) {
      this.checkScalar(v, wrapped, path, options);
      return;
    }
    switch (name) {
      case 'google.protobuf.Duration': {
        const m = typeof v === 'string' ? /^(-)?(\d+)(\.\d{1,9})?s$/.exec(v) : null;
        if (!m) {
          this.report(path, `expected a duration like "1s" or "0.250s", got ${describe(v)}`);
          return;
        }
        if (Number(m[2]) > 315_576_000_000) this.report(path, `duration ${String(v)} is out of range`);
        const seconds = Number(`${m[1] ?? ''}${m[2]}${m[3] ?? ''}`);
        const gt = rule(options, 'duration.gt.seconds');
        const gte = rule(options, 'duration.gte.seconds');
        if (typeof gt === 'number' && !(seconds > gt)) this.report(path, `must be longer than ${gt}s`);
        if (typeof gte === 'number' && !(seconds >= gte)) this.report(path, `must be at least ${gte}s`);
        return;
      }
      case 'google.protobuf.Timestamp':
        if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/.test(v)) {
          this.report(path, `expected an RFC 3339 timestamp, got ${describe(v)}`);
        }
        return;
      case 'google.protobuf.FieldMask':
        if (typeof v !== 'string') this.report(path, `expected a field mask string, got ${describe(v)}`);
        return;
      case 'google.protobuf.Struct':
        if (!isPlainObject(v)) this.report(path, `expected a mapping (google.protobuf.Struct), got ${describe(v)}`);
        return;
      case 'google.protobuf.ListValue':
        if (!Array.isArray(v)) this.report(path, `expected a list (google.protobuf.ListValue), got ${describe(v)}`);
        return;
      case 'google.protobuf.Value':
        return; // any JSON value
      default:
        this.report(path, `unsupported well-known type ${name}`);
    }
  }

  /** `Any`: "@type" names the message; its fields sit beside it, or under "value" for the special JSON types. */
  checkAny(v: unknown, path: PathSegment[]): void {
    if (!isPlainObject(v)) {
      this.report(path, `expected a mapping with "@type" (google.protobuf.Any), got ${describe(v)}`);
      return;
    }
    const url = v['@type'];
    if (typeof url !== 'string' || url === '') {
      this.report(path, 'google.protobuf.Any needs an "@type" such as "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"');
      return;
    }
    const slash = url.lastIndexOf('/');
    const typeName = url.slice(slash + 1);
    if (slash < 0 || typeName === '') {
      this.report([...path, '@type'], `"@type" must look like "type.googleapis.com/<message name>", got ${JSON.stringify(url)}`);
      return;
    }
    const type = this.api.lookupType(typeName);
    if (!type) {
      this.report([...path, '@type'], `cannot resolve "@type" ${JSON.stringify(url)}: no message ${typeName} in Envoy's v3 API protos`);
      return;
    }
    const rest: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(v)) if (k !== '@type') rest[k] = val;
    if (SPECIAL_JSON.has(typeName)) {
      for (const k of Object.keys(rest)) {
        if (k !== 'value') this.report([...path, k], `unknown field "${k}" beside "@type" ${typeName} (its JSON goes under "value")`);
      }
      if (!('value' in rest)) this.report(path, `"value" is required for "@type" ${typeName}`);
      else this.checkWellKnown(rest.value, typeName, [...path, 'value'], undefined);
      return;
    }
    this.checkMessage(rest, type, path);
  }
}

function deprecatedSince(options: Record<string, unknown>): string {
  const v = options['(envoy.annotations.deprecated_at_minor_version)'];
  return typeof v === 'string' ? ` (deprecated since API ${v})` : '';
}
