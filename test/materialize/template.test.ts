import { mkdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TetherError } from '../../src/lib/errors.js';
import type { RenderData } from '../../src/materialize/render.js';
import { describeContext, Templates } from '../../src/materialize/template.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

let tmp: TempDir;
let dir: string;
beforeEach(async () => {
  tmp = await createTempDir('template');
  dir = join(tmp.path, 'templates');
  await mkdir(dir);
});
afterEach(async () => {
  await tmp.remove();
});

async function template(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

async function failure(promise: Promise<unknown>): Promise<TetherError> {
  const err = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TetherError);
  expect((err as TetherError).code).toBe('template.error');
  return err as TetherError;
}

const sources: Array<{ name: string; data: RenderData }> = [
  { name: 'db_host', data: { kind: 'key', value: 'db.internal' } },
  { name: 'tuning', data: { kind: 'namespace', namespace: '/prod/tuning', values: { max_fails: '3', 'sub/key': 'deep' } } },
  {
    name: 'api',
    data: {
      kind: 'services',
      services: [
        { id: 'api-2', tags: ['v2'], metadata: { address: '10.0.0.2:80' } },
        { id: 'api-1', tags: ['v1'], metadata: { address: '10.0.0.1:80' } },
      ],
    },
  },
];

describe('describeContext', () => {
  it('gives each source by name (key: string, namespace: object, services: sorted array) and tether.file', () => {
    const context = describeContext('/etc/app/upstreams.conf', sources);
    expect(context).toEqual({
      db_host: 'db.internal',
      tuning: { max_fails: '3', 'sub/key': 'deep' },
      api: [
        { id: 'api-1', tags: ['v1'], metadata: { address: '10.0.0.1:80' } },
        { id: 'api-2', tags: ['v2'], metadata: { address: '10.0.0.2:80' } },
      ],
      tether: { file: '/etc/app/upstreams.conf' },
    });
  });

  it('refuses a source named tether', () => {
    expect(() => describeContext('/f', [{ name: 'tether', data: { kind: 'key', value: 'x' } }])).toThrow(TetherError);
  });
});

describe('Templates.render', () => {
  const context = describeContext('/etc/app/upstreams.conf', sources);

  it('renders keys, namespaces, services and tether.file', async () => {
    const path = await template(
      'upstreams.liquid',
      [
        '# {{ tether.file }}',
        'upstream api {',
        '{% for s in api %}  server {{ s.metadata.address }} max_fails={{ tuning.max_fails }};',
        '{% endfor %}}',
        'db {{ db_host }} {{ tuning["sub/key"] }}',
        '',
      ].join('\n'),
    );
    const text = await new Templates().render(path, context);
    expect(text).toBe(
      [
        '# /etc/app/upstreams.conf',
        'upstream api {',
        '  server 10.0.0.1:80 max_fails=3;',
        '  server 10.0.0.2:80 max_fails=3;',
        '}',
        'db db.internal deep',
        '',
      ].join('\n'),
    );
    // Nothing time-dependent: the same data gives the same bytes.
    expect(await new Templates().render(path, context)).toBe(text);
  });

  it('a missing key is an error with file:line:col', async () => {
    const path = await template('upstreams.liquid', 'upstream api {\n  keepalive 8;\n  max_fails {{ tuning.max_fail }};\n}\n');
    const err = await failure(new Templates().render(path, context));
    expect(err.message).toBe(`${path}:3:16: undefined variable: tuning.max_fail`);
    expect(err.message).not.toContain('\n');
  });

  it('a default makes a missing key fine; `if` can test for one', async () => {
    const path = await template('d.liquid', '{{ tuning.missing | default: 5 }} {{ nothing | default: "none" }}{% if tuning.absent %} yes{% endif %}');
    expect(await new Templates().render(path, context)).toBe('5 none');
  });

  it('a default does not hide a missing key used elsewhere', async () => {
    const path = await template('d.liquid', '{{ tuning.missing | default: 5 }}\n{{ tuning.missing }}');
    expect((await failure(new Templates().render(path, context))).message).toBe(`${path}:2:4: undefined variable: tuning.missing`);
  });

  it('an unknown filter and a syntax error are errors with file:line:col', async () => {
    const filter = await template('f.liquid', 'a\n{{ db_host | shout }}');
    expect((await failure(new Templates().render(filter, context))).message).toBe(`${filter}:2:1: undefined filter: shout`);
    const syntax = await template('s.liquid', 'a\nb\n{% for s in api %}');
    const message = (await failure(new Templates().render(syntax, context))).message;
    expect(message.startsWith(`${syntax}:3:1: tag `)).toBe(true);
    expect(message).toContain('not closed');
  });

  it('inherited properties are not visible', async () => {
    const path = await template('p.liquid', '{{ tuning.constructor }}');
    expect((await failure(new Templates().render(path, context))).message).toContain('undefined variable: tuning.constructor');
  });

  it('a missing template file is an error naming it', async () => {
    const path = join(dir, 'absent.liquid');
    expect((await failure(new Templates().render(path, context))).message).toBe(`${path}: cannot read template: ENOENT`);
  });
});

describe('Templates: includes stay in the template directory', () => {
  const context = describeContext('/f', sources);

  it('includes and renders a file beside the template', async () => {
    await template('server.liquid', 'server {{ s.metadata.address }};');
    const path = await template('main.liquid', '{% for s in api %}{% include "server.liquid" %}\n{% endfor %}{% render "server.liquid", s: api[0] %}');
    expect(await new Templates().render(path, context)).toBe('server 10.0.0.1:80;\nserver 10.0.0.2:80;\nserver 10.0.0.1:80;');
  });

  it('an error inside an included file names that file', async () => {
    const partial = await template('part.liquid', 'x\n  {{ nothere }}');
    const path = await template('main.liquid', '{% include "part.liquid" %}');
    expect((await failure(new Templates().render(path, context))).message).toBe(`${partial}:2:6: undefined variable: nothere`);
  });

  it('refuses ../, absolute paths and symlinks that point outside', async () => {
    const secret = join(tmp.path, 'secret.liquid');
    await writeFile(secret, 'SECRET');
    await symlink(secret, join(dir, 'link.liquid'));
    for (const ref of ['../secret.liquid', secret, 'link.liquid']) {
      const path = await template('main.liquid', `{% include "${ref}" %}`);
      const err = await failure(new Templates().render(path, context));
      expect(err.message).toContain(`${path}:1:1:`);
      expect(err.message).not.toContain('SECRET');
    }
    const layout = await template('layout.liquid', '{% layout "../secret.liquid" %}');
    await failure(new Templates().render(layout, context));
    const render = await template('render.liquid', '{% render "../secret.liquid" %}');
    await failure(new Templates().render(render, context));
  });
});

describe('Templates: cache', () => {
  it('re-reads a template whose file changed, also at the same size', async () => {
    const templates = new Templates();
    const path = await template('t.liquid', 'one {{ db_host }}');
    const context = describeContext('/f', sources);
    expect(await templates.render(path, context)).toBe('one db.internal');
    await writeFile(path, 'two {{ db_host }}');
    await utimes(path, new Date(), new Date(Date.now() + 5_000)); // a new mtime whatever the clock granularity
    expect(await templates.render(path, context)).toBe('two db.internal');
  });

  it('invalidate forgets a parsed template', async () => {
    const templates = new Templates();
    const path = await template('t.liquid', 'one');
    expect(await templates.render(path, {})).toBe('one');
    const stamp = new Date(Date.now() - 60_000);
    await utimes(path, stamp, stamp);
    expect(await templates.render(path, {})).toBe('one');
    await writeFile(path, 'two');
    await utimes(path, stamp, stamp); // same mtime and size: only invalidate can tell
    templates.invalidate(path);
    expect(await templates.render(path, {})).toBe('two');
  });

  it('a broken template is reported on each render until it is fixed', async () => {
    const templates = new Templates();
    const path = await template('t.liquid', '{% if %}');
    await failure(templates.render(path, {}));
    await failure(templates.render(path, {}));
    await writeFile(path, 'fixed!');
    await utimes(path, new Date(), new Date(Date.now() + 5_000));
    expect(await templates.render(path, {})).toBe('fixed!');
  });
});
