import { describe, expect, it } from 'vitest';
import { UsageError, hoistGlobalOptions } from '../../src/cli/command.js';
import { parseListen } from '../../src/cli/commands/registry.js';
import { EXIT, exitCodeFor, formatError } from '../../src/cli/exit.js';
import { TetherError } from '../../src/lib/errors.js';
import { faults, RegistryFault } from '../../src/registry/faults.js';

describe('exit codes and error lines', () => {
  it('prints a fault as one line with type, status, message and details', () => {
    const f = faults.notFound('Service', 'x');
    expect(formatError(f)).toBe('error: notFoundError (404): object does not exist: Object "Service" with key "x" does not exist\n');
    expect(exitCodeFor(f)).toBe(EXIT.failure);
  });

  it('leaves out details that are absent or repeat the message, and prints object details as JSON', () => {
    expect(formatError(faults.badRequestSame('Invalid UUID'))).toBe('error: badRequest (400): Invalid UUID\n');
    expect(formatError(faults.uriMalformed())).toBe('error: badRequest (400): URI malformed\n');
    expect(formatError(faults.noRoute('/v1.0/x/y'))).toBe('error: notFoundError (404): The page cannot be found.: {"requested_path":"/v1.0/x/y"}\n');
    expect(formatError(new RegistryFault('badRequest', 'two\nlines', undefined))).toBe('error: badRequest (400): two lines\n');
  });

  it('maps usage errors to 2 and an unreachable registry to 3', () => {
    expect(exitCodeFor(new UsageError('bad', 'config'))).toBe(EXIT.usage);
    expect(formatError(new UsageError('bad', 'config'))).toBe("error: bad\nrun 'tether config --help' for usage\n");
    expect(exitCodeFor(new TetherError('client.unreachable', 'down'))).toBe(EXIT.unreachable);
    expect(exitCodeFor(new TetherError('client.timeout', 'slow'))).toBe(EXIT.unreachable);
    expect(exitCodeFor(new Error('other'))).toBe(EXIT.failure);
    expect(formatError('plain')).toBe('error: plain\n');
  });
});

describe('argument helpers', () => {
  it('moves leading client options after the command', () => {
    expect(hoistGlobalOptions(['--url', 'U', '--json', 'services', 'list'])).toEqual(['services', 'list', '--url', 'U', '--json']);
    expect(hoistGlobalOptions(['--token=T', 'limits'])).toEqual(['limits', '--token=T']);
    expect(hoistGlobalOptions(['config', 'get', 'k'])).toEqual(['config', 'get', 'k']);
    expect(hoistGlobalOptions(['--url', 'U'])).toEqual(['--url', 'U']);
  });

  it('parses --listen HOST:PORT, including IPv6 in brackets', () => {
    expect(parseListen('127.0.0.1:8470')).toEqual({ host: '127.0.0.1', port: 8470 });
    expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseListen('localhost:80')).toEqual({ host: 'localhost', port: 80 });
    for (const bad of ['8470', ':8470', 'h:', 'h:70000', '::1:80', 'h:8a']) expect(() => parseListen(bad)).toThrow(UsageError);
  });
});
