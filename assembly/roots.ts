// The root contexts of this VM: one per plugin configuration (several plugins
// can share a VM when their vm_config is the same). Each has its Config (null
// until proxy_on_configure accepts one) and counts its own ticks. A handful at
// most, so a plain array searched from the start.

import { Config, freeConfig } from "./config";
import { regrow } from "./bytes";

@unmanaged
class Root {
  id: u32 = 0;
  config: Config | null = null;
  /** proxy_on_tick calls so far: the root's clock, in tick periods. */
  ticks: u32 = 0;
}

const ROOT_SIZE: i32 = <i32>offsetof<Root>();

let roots: usize = 0;
let rootCount: i32 = 0;
let rootCapacity: i32 = 0;

function rootAt(index: i32): Root {
  return changetype<Root>(roots + <usize>(index * ROOT_SIZE));
}

function find(id: u32): Root | null {
  for (let i = 0; i < rootCount; i++) {
    const root = rootAt(i);
    if (root.id == id) return root;
  }
  return null;
}

export function isRoot(id: u32): bool {
  return find(id) !== null;
}

/** Registers root `id` (no Config yet); nothing when it is known already. */
export function addRoot(id: u32): void {
  if (find(id) !== null) return;
  if (rootCount == rootCapacity) {
    const capacity = rootCapacity == 0 ? 4 : rootCapacity * 2;
    roots = regrow(roots, rootCount * ROOT_SIZE, capacity * ROOT_SIZE);
    rootCapacity = capacity;
  }
  const root = rootAt(rootCount++);
  root.id = id;
  root.config = null;
  root.ticks = 0;
}

/** Sets the Config of root `id` (registering the root if new); frees the one it replaces. */
export function setRootConfig(id: u32, config: Config): void {
  addRoot(id);
  const root = changetype<Root>(find(id));
  freeConfig(root.config);
  root.config = config;
}

/** The Config of root `id`; null when the root is unknown or was never configured. */
export function rootConfig(id: u32): Config | null {
  const root = find(id);
  return root === null ? null : root.config;
}

/** Counts one tick of root `id`; returns its tick count. */
export function rootTicked(id: u32): u32 {
  const root = find(id);
  if (root === null) return 0;
  root.ticks++;
  return root.ticks;
}

/** The ticks root `id` has seen (0 for an unknown root). */
export function rootTicks(id: u32): u32 {
  const root = find(id);
  return root === null ? 0 : root.ticks;
}

/** Forgets root `id` and frees its Config; false when it is not a root. */
export function removeRoot(id: u32): bool {
  for (let i = 0; i < rootCount; i++) {
    const root = rootAt(i);
    if (root.id != id) continue;
    freeConfig(root.config);
    // Swap-remove: the last root takes this one's place.
    rootCount--;
    if (i != rootCount) memory.copy(changetype<usize>(root), changetype<usize>(rootAt(rootCount)), <usize>ROOT_SIZE);
    return true;
  }
  return false;
}
