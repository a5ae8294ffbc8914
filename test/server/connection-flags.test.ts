import { describe, expect, it } from 'vitest';
import { parseConnectionFlags } from '../../src/cli/connection-flags.js';
import { defaultMaxConnections, openFilesLimit } from '../../src/server/connections.js';

/** The connection flags of `tether registry` (issue 19 items 3 and 8), and the total cap's default. */

describe('parseConnectionFlags', () => {
  it('reads every flag', () => {
    expect(
      parseConnectionFlags({
        'max-connections': '900',
        'max-connections-per-client': '50',
        'header-timeout': '5s',
        'request-timeout': '20s',
        'body-idle-timeout': '0',
        'access-log': 'stderr',
      }),
    ).toEqual({
      limits: { maxConnections: 900, maxPerClient: 50, headersTimeoutMs: 5000, requestTimeoutMs: 20_000, bodyIdleTimeoutMs: 0 },
      accessLog: 'stderr',
    });
    expect(parseConnectionFlags({})).toEqual({ limits: {}, accessLog: undefined });
  });

  it.each([
    [{ 'max-connections': '0' }, '--max-connections must be a positive integer'],
    [{ 'max-connections-per-client': '-3' }, '--max-connections-per-client must be a positive integer'],
    [{ 'header-timeout': '0' }, '--header-timeout must be more than zero'],
    [{ 'request-timeout': 'soon' }, '--request-timeout:'],
    [{ 'header-timeout': '20s', 'request-timeout': '10s' }, '--request-timeout must be at least --header-timeout'],
    [{ 'access-log': '' }, '--access-log needs stderr or a file path'],
  ])('%o is a usage error', (values, message) => {
    expect(() => parseConnectionFlags(values)).toThrow(message);
  });
});

describe('the default total cap', () => {
  it('is the open-files limit less headroom, read from /proc/self/limits', () => {
    const text = 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n';
    expect(openFilesLimit(text)).toBe(1024);
    expect(defaultMaxConnections(1024)).toBe(896);
    expect(defaultMaxConnections(100)).toBe(16);
    expect(openFilesLimit('Max open files            unlimited            unlimited            files\n')).toBeUndefined();
    expect(defaultMaxConnections(undefined)).toBe(4096);
    // This process's own limit is found.
    expect(openFilesLimit()).toBeGreaterThan(0);
  });
});
