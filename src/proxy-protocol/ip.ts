// IP addresses in the two forms the PROXY protocol uses: raw network-order
// bytes (v2) and text (v1). Text is parsed exactly as doc/proxy-protocol.txt
// section 2.1 allows, so anything looser is reported rather than accepted.

/** Dotted quad of 4 network-order bytes. */
export function formatIPv4(bytes: Uint8Array): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

/**
 * RFC 5952 text of 16 network-order bytes: lower case, no leading zeros, the
 * longest run (the first on a tie) of two or more zero groups as "::", and
 * IPv4-mapped addresses (::ffff:0:0/96) in mixed notation, as inet_ntop, Node
 * and HAProxy print them.
 */
export function formatIPv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${formatIPv4(bytes.subarray(12, 16))}`;
  }
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) { bestStart = i; bestLength = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  const head = hex.slice(0, bestStart).join(':');
  const tail = hex.slice(bestStart + bestLength).join(':');
  return `${head}::${tail}`;
}

/** Parses v1's IPv4 form: exactly 4 decimal numbers 0-255, no leading zeros. */
export function parseIPv4Text(text: string): Uint8Array | string {
  const parts = text.split('.');
  if (parts.length !== 4) return `IPv4 address "${text}" does not have 4 dot-separated numbers`;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) {
      return `IPv4 address "${text}" has "${part}", not a decimal number without leading zeros`;
    }
    const n = Number(part);
    if (n > 255) return `IPv4 address "${text}" has ${n}, more than 255`;
    bytes[i] = n;
  }
  return bytes;
}

/**
 * Parses v1's IPv6 form: colon-separated groups of 1 to 4 hex digits with at
 * most one "::", 128 bits in all. The spec allows no embedded dotted quad.
 */
export function parseIPv6Text(text: string): Uint8Array | string {
  const halves = text.split('::');
  if (halves.length > 2) return `IPv6 address "${text}" has more than one "::"`;
  const parseGroups = (half: string): number[] | string => {
    if (half === '') return [];
    const out: number[] = [];
    for (const group of half.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(group)) {
        return `IPv6 address "${text}" has "${group}", not a group of 1 to 4 hex digits`;
      }
      out.push(parseInt(group, 16));
    }
    return out;
  };
  const head = parseGroups(halves[0]!);
  if (typeof head === 'string') return head;
  let groups: number[];
  if (halves.length === 2) {
    const tail = parseGroups(halves[1]!);
    if (typeof tail === 'string') return tail;
    if (head.length + tail.length > 7) return `IPv6 address "${text}" has too many groups around "::"`;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    if (head.length !== 8) return `IPv6 address "${text}" has ${head.length} groups, not 8`;
    groups = head;
  }
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => { bytes[2 * i] = g >> 8; bytes[2 * i + 1] = g & 0xff; });
  return bytes;
}
