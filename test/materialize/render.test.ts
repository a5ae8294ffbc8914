import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { TetherError } from '../../src/lib/errors.js';
import { envName, renderFormat, type RenderData, type ServiceView } from '../../src/materialize/render.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

const run = promisify(execFile);

const key = (value: string): RenderData => ({ kind: 'key', value });
const ns = (values: Record<string, string>): RenderData => ({ kind: 'namespace', namespace: '/production/app', values });
const serviceList: ServiceView[] = [
  { id: 'web-2', tags: ['web', 'blue'], metadata: { port: '8080', address: '10.0.0.2' } },
  { id: 'web-1', tags: ['web'], metadata: { address: '10.0.0.1', port: '8080' } },
];
const services: RenderData = { kind: 'services', services: serviceList };

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TetherError);
    return (err as TetherError).code;
  }
  throw new Error('expected an error');
}

describe('raw', () => {
  it('is the value verbatim, no newline added', () => {
    expect(renderFormat('raw', key('a\n b\t"c"'))).toBe('a\n b\t"c"');
    expect(renderFormat('raw', key(''))).toBe('');
  });

  it('cannot render a namespace or services', () => {
    expect(codeOf(() => renderFormat('raw', ns({ a: '1' })))).toBe('render.unsupported');
    expect(codeOf(() => renderFormat('raw', services))).toBe('render.unsupported');
  });
});

describe('json', () => {
  it('a key is a JSON string with a trailing newline', () => {
    expect(renderFormat('json', key('say "hi"\n'))).toBe('"say \\"hi\\"\\n"\n');
  });

  it('a namespace is an object with sorted keys, 2-space indent, trailing newline', () => {
    expect(renderFormat('json', ns({ 'sub/key': 'v', listen_ip: '10.0.0.1' }))).toBe(
      '{\n  "listen_ip": "10.0.0.1",\n  "sub/key": "v"\n}\n',
    );
    expect(renderFormat('json', ns({}))).toBe('{}\n');
  });

  it('services are {id, tags, metadata} sorted by id, metadata keys sorted, tags as given', () => {
    const text = renderFormat('json', services);
    expect(JSON.parse(text)).toEqual([
      { id: 'web-1', tags: ['web'], metadata: { address: '10.0.0.1', port: '8080' } },
      { id: 'web-2', tags: ['web', 'blue'], metadata: { address: '10.0.0.2', port: '8080' } },
    ]);
    expect(text.indexOf('"address"')).toBeLessThan(text.indexOf('"port"'));
    expect(text.endsWith(']\n')).toBe(true);
  });

  it('is deterministic: the same data in another order gives the same bytes', () => {
    expect(renderFormat('json', ns({ b: '2', a: '1' }))).toBe(renderFormat('json', ns({ a: '1', b: '2' })));
    const reversed: RenderData = { kind: 'services', services: [...serviceList].reverse() };
    expect(renderFormat('json', reversed)).toBe(renderFormat('json', services));
  });

  it('a key named __proto__ stays a plain key', () => {
    const values = JSON.parse('{"__proto__": "x", "a": "1"}') as Record<string, string>;
    expect(JSON.parse(renderFormat('json', ns(values)))).toEqual(values);
  });
});

describe('yaml', () => {
  it('renders the same shapes, keys sorted', () => {
    expect(renderFormat('yaml', ns({ 'sub/key': 'v', listen_ip: '10.0.0.1' }))).toBe('listen_ip: 10.0.0.1\nsub/key: v\n');
    expect(renderFormat('yaml', services)).toBe(
      [
        '- id: web-1',
        '  tags:',
        '    - web',
        '  metadata:',
        '    address: 10.0.0.1',
        '    port: "8080"',
        '- id: web-2',
        '  tags:',
        '    - web',
        '    - blue',
        '  metadata:',
        '    address: 10.0.0.2',
        '    port: "8080"',
        '',
      ].join('\n'),
    );
    expect(renderFormat('yaml', key('plain'))).toBe('plain\n');
    expect(renderFormat('yaml', ns({}))).toBe('{}\n');
  });

  it('every string reads back as the same string in YAML 1.2 and YAML 1.1', () => {
    const tricky = ['on', 'yes', 'N', 'off', '0o17', '017', '0x1F', '1_000', '1:20', '2024-01-01', '~', 'null', '', '12', '1e3', '.inf', '<<', 'a: b', '- x', '#x', ' lead', 'multi\nline', "it's", 'true'];
    const values = Object.fromEntries(tricky.map((v, i) => [`k${i}`, v]));
    const withKeys = { ...values, on: 'key named on', '0o17': 'key like an octal' };
    const text = renderFormat('yaml', ns(withKeys));
    expect(parseYaml(text)).toEqual(withKeys);
    expect(parseYaml(text, { version: '1.1' })).toEqual(withKeys);
  });

  it('does not fold long lines', () => {
    const long = 'word '.repeat(100).trim();
    expect(renderFormat('yaml', key(long))).toBe(`${long}\n`);
  });

  it('is deterministic', () => {
    expect(renderFormat('yaml', ns({ b: '2', a: '1' }))).toBe(renderFormat('yaml', ns({ a: '1', b: '2' })));
  });
});

describe('env', () => {
  let tmp: TempDir;
  beforeEach(async () => {
    tmp = await createTempDir('render');
  });
  afterEach(async () => {
    await tmp.remove();
  });

  it('one sorted NAME=value line per key, single-quoted, trailing newline', () => {
    expect(renderFormat('env', ns({ 'sub/key.port': '9', listen_ip: '10.0.0.1' }))).toBe("LISTEN_IP='10.0.0.1'\nSUB_KEY_PORT='9'\n");
    expect(renderFormat('env', ns({}))).toBe('');
  });

  it('names: upper-cased, non-alphanumerics become _, a leading digit gets a _ prefix', () => {
    expect(envName('listen_ip')).toBe('LISTEN_IP');
    expect(envName('sub/key.port')).toBe('SUB_KEY_PORT');
    expect(envName('1st')).toBe('_1ST');
    expect(envName('my-key é')).toBe('MY_KEY__');
    expect(envName('_x')).toBe('_X');
  });

  it('quotes, newlines, $, backticks and backslashes survive a POSIX shell', async () => {
    const values: Record<string, string> = {
      quote: "it's a 'test'",
      newline: 'line one\nline two\n',
      dollar: '$HOME ${PATH} $(id)',
      backtick: '`touch pwned` \\n \\',
      empty: '',
      spaces: '  a  b  ',
    };
    const file = join(tmp.path, 'app.env');
    await writeFile(file, renderFormat('env', ns(values)));
    for (const [k, expected] of Object.entries(values)) {
      // Print the value between markers so trailing newlines are kept.
      const { stdout } = await run('sh', ['-c', `. "$1"; printf '[%s]' "$${envName(k)}"`, 'sh', file], { env: {}, cwd: tmp.path });
      expect(stdout).toBe(`[${expected}]`);
    }
    expect(await run('ls', [tmp.path]).then((r) => r.stdout.trim())).toBe('app.env'); // nothing ran
  });

  it('two keys giving one NAME are an error naming both', () => {
    let message = '';
    try {
      renderFormat('env', ns({ 'a-b': '1', a_b: '2' }));
    } catch (err) {
      expect((err as TetherError).code).toBe('render.env_collision');
      message = (err as Error).message;
    }
    expect(message).toContain('"a-b"');
    expect(message).toContain('"a_b"');
    expect(message).toContain('A_B');
    expect(codeOf(() => renderFormat('env', ns({ 'sub/key': '1', 'SUB.KEY': '2' })))).toBe('render.env_collision');
  });

  it('cannot render a single key or services', () => {
    expect(codeOf(() => renderFormat('env', key('x')))).toBe('render.unsupported');
    expect(codeOf(() => renderFormat('env', services))).toBe('render.unsupported');
  });

  it('is deterministic', () => {
    expect(renderFormat('env', ns({ b: '2', a: '1' }))).toBe(renderFormat('env', ns({ a: '1', b: '2' })));
  });
});
