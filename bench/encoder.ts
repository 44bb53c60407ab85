// A bench-only harness around the filter's own PROXY v2 encoder (assembly/ppv2.ts) and address
// parser (assembly/address.ts), compiled by bench/encoder.mjs with the release module's
// optimisation options. The release module exports only the Proxy-Wasm ABI, so the encoder is
// timed here, alone, from the same sources: a loop of `n` headers per call keeps the
// JavaScript-to-Wasm call out of the figure.

import { ADDRESS_SIZE, Address, pairFamily, parseAddress } from "../assembly/address";
import { PP2_MAX_HEADER, PP2_TYPE_ALPN, PP2_TYPE_AUTHORITY, PP2_TYPE_UNIQUE_ID, v2AppendTlv, v2Begin, v2Finish } from "../assembly/ppv2";

const INPUT_SIZE: i32 = 256;
const input = memory.data(INPUT_SIZE, 8);
const header = memory.data(PP2_MAX_HEADER, 8);
const source = changetype<Address>(memory.data(ADDRESS_SIZE, 8));
const destination = changetype<Address>(memory.data(ADDRESS_SIZE, 8));

// Layout of `input`, written by the caller: the two address strings, then the three TLV values.
let srcLen: i32 = 0;
let dstOff: i32 = 0;
let dstLen: i32 = 0;
let tlvOff: i32 = 0;
const tlvLen = memory.data(3 * 4, 4);

/** Where the caller writes its strings. */
export function inputPtr(): usize {
  return input;
}

/** Where the last header was written. */
export function headerPtr(): usize {
  return header;
}

/** Parses the two addresses in `input`; returns the PROXY v2 family (0 when unknown). */
export function setAddresses(sourceLength: i32, destinationOffset: i32, destinationLength: i32): i32 {
  srcLen = sourceLength;
  dstOff = destinationOffset;
  dstLen = destinationLength;
  if (!parseAddress(input, srcLen, source)) return 0;
  if (!parseAddress(input + <usize>dstOff, dstLen, destination)) return 0;
  return pairFamily(source, destination);
}

/** The three TLV values (authority, unique_id, alpn) follow each other in `input` from `offset`. */
export function setTlvs(offset: i32, authority: i32, uniqueId: i32, alpn: i32): void {
  tlvOff = offset;
  store<i32>(tlvLen, authority);
  store<i32>(tlvLen, uniqueId, 4);
  store<i32>(tlvLen, alpn, 8);
}

/**
 * Encodes `n` headers for the parsed pair (family from setAddresses); the source port changes
 * every time so that no iteration can be folded into another. Returns the last header's length.
 */
export function encode(n: i32, family: u8, withTlvs: bool): i32 {
  let length = 0;
  for (let i = 0; i < n; i++) {
    source.port = <u16>i;
    length = v2Begin(header, PP2_MAX_HEADER, family, source, destination);
    if (withTlvs) {
      let p = input + <usize>tlvOff;
      const a = load<i32>(tlvLen);
      const u = load<i32>(tlvLen, 4);
      const l = load<i32>(tlvLen, 8);
      length = v2AppendTlv(header, PP2_MAX_HEADER, length, PP2_TYPE_AUTHORITY, p, a);
      length = v2AppendTlv(header, PP2_MAX_HEADER, length, PP2_TYPE_UNIQUE_ID, p + <usize>a, u);
      length = v2AppendTlv(header, PP2_MAX_HEADER, length, PP2_TYPE_ALPN, p + <usize>(a + u), l);
    }
    length = v2Finish(header, PP2_MAX_HEADER, length, withTlvs);
  }
  source.port = 0;
  return length;
}

/** Parses both address strings `n` times (what the filter does before encoding). Returns the family. */
export function parse(n: i32): i32 {
  let family: i32 = 0;
  for (let i = 0; i < n; i++) {
    store<u8>(input, load<u8>(input)); // a memory side effect per iteration: nothing to hoist
    family = setAddresses(srcLen, dstOff, dstLen);
  }
  return family;
}
