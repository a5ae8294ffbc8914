import { describe } from 'vitest';
import type { QueuesImplementation } from '../helpers/queues.js';
import { describeClaimLines } from './queues-claims.js';
import { describeMessageLines } from './queues-messages.js';
import { describeQueueLines } from './queues-queues.js';
import { describeSemantics } from './queues-semantics.js';
import { useQueues } from './queues-support.js';
import { describeWaiting } from './queues-waiting.js';

/**
 * The Queues behaviour suite: one `it` per line of the spec's section 10 that
 * holds at the domain level (some `it`s cover lines that upstream split by
 * transport only, e.g. F-M08/F-M20), then section 8 semantics with the
 * harness's FakeClock, and the waiting extension. Every implementation of
 * `Queues` must pass it unchanged: QueueService on SQLite and etcd, and
 * HttpQueues in front of each (Q3's test files pass their implementation here).
 *
 * Lines that are about the wire only run in Q2's raw-HTTP tests
 * (test/server/queues-*.test.ts), not here:
 *   F-Q04 (401), F-Q05/U-11 (406), F-Q06's headers, F-Q07's ignored body,
 *   F-Q13's status, F-M01 headers, F-M04/F-M07 Location URLs, F-M11/F-M12/U-17
 *   raw Content-Length and int64/float parsing, F-M13's non-integer text,
 *   F-C01/F-C02 hrefs and headers, U-02/U-09/U-19/U-27 Location and
 *   Content-Location, U-06's unparseable bodies, U-12 (home document),
 *   U-24 (href building), U-32 (503 on storage failure: a closed store, see
 *   test/queues/service.test.ts for the domain half), 405/OPTIONS, paths.
 */
export function describeQueuesConformance(impl: QueuesImplementation): void {
  describe(`Queues conformance: ${impl.name}`, () => {
    const h = useQueues(impl);
    describeQueueLines(h);
    describeMessageLines(h);
    describeClaimLines(h);
    describeSemantics(h);
    describeWaiting(h);
  });
}
