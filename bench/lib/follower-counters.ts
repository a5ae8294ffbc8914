/**
 * What a follower worker thread shares with its parent (propagation-followers.ts):
 * counters in an Int32Array over a SharedArrayBuffer, so the parent sees
 * progress without a message per wake, and the report it sends on `stop`.
 * A module of its own so that one worker kind can use them without loading
 * (and so starting) another kind.
 */

/** Requests sent or watches created. */
export const ARMED = 0;
/** Replies or messages that carried new events. */
export const WOKEN = 1;
/** Failed requests or streams. */
export const ERRORS = 2;
export const COUNTERS = 3;

export interface FollowerReport {
  /** value -> epoch ms at which each follower's reply or event carrying it was parsed. */
  wakes: Map<string, number[]>;
  firstError: string | null;
}

/**
 * Where a worker files the first-byte time of a reply carrying `value`, in
 * its report's `wakes` (beside the whole-body time under `value` itself, in
 * the same order): the parent's Followers merges `wakes` only.
 */
export const firstByteKey = (value: string): string => `\0first-byte\0${value}`;
