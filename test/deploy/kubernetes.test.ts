import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseStoreFlags } from '../../src/cli/commands/registry.js';
import { parseDuration } from '../../src/lib/duration.js';
import { repoRoot } from '../helpers/clean-copy.js';
import { cliMain, spawnProc, spawnTether, startTarget, type Proc, type Target } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * deploy/kubernetes: every document parses, the fields the examples rely on
 * agree with each other and with Tether, and the pod's containers run for
 * real: the registry with the auth Secret, the init container's render, the
 * sidecar against a stand-in app, each with the env the pod spec gives it.
 */

const DIR = join(repoRoot, 'deploy', 'kubernetes');

// Loose shapes: only what the tests read.
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } };
}
interface Probe {
  httpGet?: { path: string; port: number | string };
  tcpSocket?: { port: number | string };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: Array<{ name?: string; containerPort: number }>;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
}
interface PodSpec {
  shareProcessNamespace?: boolean;
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsUser?: number; fsGroup?: number };
  initContainers?: Container[];
  containers: Container[];
  volumes?: Array<{ name: string; emptyDir?: object; configMap?: { name: string }; secret?: { secretName: string } }>;
}
interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: {
    replicas?: number;
    serviceName?: string;
    clusterIP?: string;
    selector?: { matchLabels?: Record<string, string> } & Record<string, unknown>;
    ports?: Array<{ port: number; targetPort?: number | string }>;
    template?: { metadata: { labels: Record<string, string> }; spec: PodSpec };
    volumeClaimTemplates?: Array<{ metadata: { name: string } }>;
  };
}

let docs: Array<Doc & { file: string }>;
let tmp: TempDir;
const procs: Proc[] = [];
let target: Target | undefined;

beforeAll(async () => {
  docs = [];
  for (const file of (await readdir(DIR)).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    for (const d of parseAllDocuments(await readFile(join(DIR, file), 'utf8'))) {
      expect(d.errors.map(String), file).toEqual([]);
      expect(d.warnings.map(String), file).toEqual([]);
      docs.push({ ...(d.toJS() as Doc), file });
    }
  }
  tmp = await createTempDir('k8s');
});

afterAll(async () => {
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
  await target?.close();
  await tmp?.remove();
});

function find(kind: string, name: string, file?: string): Doc {
  const d = docs.find((x) => x.kind === kind && x.metadata.name === name && (file === undefined || x.file === file));
  expect(d, `${kind}/${name}${file ? ` in ${file}` : ''}`).toBeDefined();
  return d as Doc;
}
const pod = (d: Doc): PodSpec => d.spec?.template?.spec as PodSpec;
const container = (spec: PodSpec, name: string): Container => {
  const c = [...(spec.initContainers ?? []), ...spec.containers].find((x) => x.name === name);
  expect(c, `container ${name}`).toBeDefined();
  return c as Container;
};
const mountOf = (c: Container, volume: string): string | undefined => c.volumeMounts?.find((m) => m.name === volume)?.mountPath;
const secretValue = (name: string, key: string): string => find('Secret', name).stringData?.[key] as string;

/** The manifest from the app's ConfigMap, as its containers see it at /etc/tether/tether.yaml. */
function manifestText(): string {
  return find('ConfigMap', 'checkout-tether').data?.['tether.yaml'] as string;
}

/** The env a container gets, with the downward API and Secrets filled in the way the kubelet would. */
function envOf(c: Container, podName: string, podIp: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    const f = e.valueFrom?.fieldRef?.fieldPath;
    const s = e.valueFrom?.secretKeyRef;
    env[e.name] = e.value ?? (f === 'metadata.name' ? podName : f === 'status.podIP' ? podIp : s ? secretValue(s.name, s.key) : `unsupported ${JSON.stringify(e)}`);
  }
  return env;
}

describe('deploy/kubernetes', () => {
  it('every document is a named Kubernetes object, and every Tether container runs the same image, tagged with the package version', async () => {
    expect(docs.length).toBeGreaterThanOrEqual(6);
    for (const d of docs) {
      expect(d.apiVersion, d.file).toMatch(/^(v1|apps\/v1)$/);
      expect(d.metadata.name, d.file).toMatch(/^[a-z0-9-]+$/);
    }
    const { version } = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    const images = docs
      .filter((d) => d.spec?.template)
      .flatMap((d) => [...(pod(d).initContainers ?? []), ...pod(d).containers])
      .filter((c) => c.args?.[0] && ['agent', 'registry', 'render'].includes(c.args[0]))
      .map((c) => c.image);
    expect(images.length).toBe(4); // the agent, its init container, and each registry variant
    expect(new Set(images)).toEqual(new Set([`registry.example.com/tether-sidecar:${version}`]));
  });

  it('app pod: an emptyDir shared by the init container, the agent and the app, holding every rendered file', () => {
    const spec = pod(find('Deployment', 'checkout'));
    const shared = spec.volumes?.find((v) => v.emptyDir && mountOf(container(spec, 'checkout'), v.name) !== undefined);
    expect(shared).toBeDefined();
    const name = shared?.name as string;
    const at = mountOf(container(spec, 'checkout'), name) as string;
    expect(container(spec, 'checkout').volumeMounts?.find((m) => m.name === name)?.readOnly).toBe(true);
    expect(mountOf(container(spec, 'tether'), name)).toBe(at);
    expect(mountOf(container(spec, 'tether-render'), name)).toBe(at);
    const paths = [...manifestText().matchAll(/^\s+- path: (\S+)$/gm)].map((m) => m[1] as string);
    expect(paths.length).toBeGreaterThan(0);
    for (const p of paths) expect(p.startsWith(`${at}/`), p).toBe(true);
    // The agent's state_dir is a volume too (the root file system is read-only).
    expect(mountOf(container(spec, 'tether'), 'tether-state')).toBe(/state_dir: (\S+)/.exec(manifestText())?.[1]);
  });

  it('app pod: POD_NAME and POD_IP from the downward API in both Tether containers, used in the id and metadata', () => {
    const spec = pod(find('Deployment', 'checkout'));
    for (const name of ['tether', 'tether-render']) {
      const env = container(spec, name).env ?? [];
      expect(env.find((e) => e.name === 'POD_NAME')?.valueFrom?.fieldRef?.fieldPath, name).toBe('metadata.name');
      expect(env.find((e) => e.name === 'POD_IP')?.valueFrom?.fieldRef?.fieldPath, name).toBe('status.podIP');
    }
    expect(manifestText()).toMatch(/- id: .*\$\{POD_NAME\}/);
    expect(manifestText()).toMatch(/^\s+address: \$\{POD_IP\}$/m);
  });

  it('app pod: readiness on /readyz at the agent port, which listens beyond loopback; render --once in an init container; shared PIDs for the signal action', () => {
    const spec = pod(find('Deployment', 'checkout'));
    const agent = container(spec, 'tether');
    const listen = /^\s+listen: (\S+):(\d+)/m.exec(manifestText());
    expect(listen?.[1]).toBe('0.0.0.0');
    expect(agent.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: Number(listen?.[2]) });
    expect(agent.args).toEqual(['agent', '--config', `${mountOf(agent, 'tether-config')}/tether.yaml`]);
    const init = container(spec, 'tether-render');
    expect(spec.initContainers?.map((c) => c.name)).toEqual(['tether-render']);
    expect(init.args).toEqual(expect.arrayContaining(['render', '--once', '--config', `${mountOf(init, 'tether-config')}/tether.yaml`]));
    expect(spec.volumes?.find((v) => v.name === 'tether-config')?.configMap?.name).toBe('checkout-tether');
    expect(manifestText()).toMatch(/signal: SIGHUP/);
    expect(spec.shareProcessNamespace).toBe(true);
    // Signalling another container's process needs the same user (no CAP_KILL).
    expect(spec.securityContext?.runAsUser).toBeGreaterThan(0);
  });

  it('registry: a StatefulSet on a volume claim, or an etcd-backed Deployment, behind the Service the agents use', () => {
    const service = find('Service', 'tether-registry');
    const url = new URL(/url: (\S+)/.exec(manifestText())?.[1] as string);
    expect(url.hostname).toBe(service.metadata.name);
    expect(Number(url.port)).toBe(service.spec?.ports?.[0]?.port);

    const sts = find('StatefulSet', 'tether-registry');
    expect(sts.spec?.replicas).toBe(1);
    expect(find('Service', sts.spec?.serviceName as string).spec?.clusterIP).toBe('None');
    const claim = sts.spec?.volumeClaimTemplates?.[0]?.metadata.name as string;
    const reg = container(pod(sts), 'registry');
    const data = reg.args?.[reg.args.indexOf('--data') + 1] as string;
    expect(data.startsWith(`${mountOf(reg, claim)}/`)).toBe(true);
    expect(pod(sts).securityContext?.fsGroup).toBeGreaterThan(0);

    const etcd = find('Deployment', 'tether-registry');
    const args = container(pod(etcd), 'registry').args as string[];
    expect(args[0]).toBe('registry');
    const { values } = parseArgs({
      args: args.slice(1),
      options: {
        listen: { type: 'string' },
        store: { type: 'string' },
        'etcd-endpoints': { type: 'string' },
        'auth-file': { type: 'string' },
        data: { type: 'string' },
        'shutdown-delay': { type: 'string' },
      },
      strict: true,
    });
    expect(parseStoreFlags(values)).toMatchObject({ engine: 'etcd', endpoints: expect.arrayContaining([expect.stringMatching(/^http:\/\//)]) });
    expect(etcd.spec?.replicas).toBeGreaterThan(1);

    for (const d of [sts, etcd]) {
      expect(service.spec?.selector).toEqual(d.spec?.template?.metadata.labels);
      const c = container(pod(d), 'registry');
      const authFile = c.args?.[c.args.indexOf('--auth-file') + 1] as string;
      const volume = pod(d).volumes?.find((v) => v.secret?.secretName === 'tether-registry-auth')?.name as string;
      expect(authFile).toBe(`${mountOf(c, volume)}/auth.yaml`);
      // Ready on /readyz (the store, and 503 from SIGTERM on), alive on /healthz, at the port the Service targets.
      expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
      expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
      expect(c.ports?.find((p) => p.name === 'http')?.containerPort).toBe(8470);
      // The shutdown delay and the 3 s drain after it fit in the grace period before SIGKILL.
      const delay = parseDuration(c.args?.[c.args.indexOf('--shutdown-delay') + 1] as string);
      expect(delay).toBeGreaterThan(0);
      expect(delay + 3000).toBeLessThan((pod(d).terminationGracePeriodSeconds ?? 30) * 1000);
    }
  });

  it('app-exec: `tether exec` under tini as the entrypoint; the manifest validates with the container\'s env; drain and kill timeout fit the grace period', async () => {
    const d = find('Deployment', 'web', 'app-exec.yaml');
    const spec = pod(d);
    const web = container(spec, 'web') as Container & { command?: string[] };
    // tini is PID 1 (the image's entrypoint; tether exec could be PID 1 too), tether exec its child, the app tether's child.
    expect(web.command).toEqual(['tini', '--', 'tether']);
    const args = web.args as string[];
    expect(args.slice(0, 3)).toEqual(['exec', '--config', '/etc/tether/tether.yaml']);
    expect(args.indexOf('--')).toBeGreaterThan(2);
    expect(args.slice(args.indexOf('--') + 1).length).toBeGreaterThan(0);
    expect(mountOf(web, 'tether-config')).toBe('/etc/tether');
    const text = find('ConfigMap', 'web-tether', 'app-exec.yaml').data?.['tether.yaml'] as string;
    const dir = join(tmp.path, 'validate-exec');
    await mkdir(dir);
    await writeFile(join(dir, 'tether.yaml'), text);
    const validate = spawnTether(['validate', '--config', join(dir, 'tether.yaml')], envOf(web, 'web-0', '10.0.0.2'));
    procs.push(validate);
    expect(await validate.exited, validate.log.join('\n')).toEqual({ code: 0, signal: null });
    // The rendered file lives on a volume of the container (the image's root may be read-only).
    const exec = parseAllDocuments(text)[0]?.toJS() as { exec: { drain: string; kill_timeout: string }; files: Array<{ path: string }> };
    for (const f of exec.files) expect(web.volumeMounts?.some((m) => f.path.startsWith(`${m.mountPath}/`)), f.path).toBe(true);
    expect(parseDuration(exec.exec.drain) + parseDuration(exec.exec.kill_timeout) + 5000).toBeLessThan((spec.terminationGracePeriodSeconds ?? 30) * 1000);
  });

  it('the ConfigMap manifest passes `tether validate` with the env each Tether container gets, and not without it', async () => {
    const dir = join(tmp.path, 'validate');
    await mkdir(dir);
    await writeFile(join(dir, 'tether.yaml'), manifestText());
    const spec = pod(find('Deployment', 'checkout'));
    for (const name of ['tether-render', 'tether']) {
      const validate = spawnTether(['validate', '--config', join(dir, 'tether.yaml')], envOf(container(spec, name), 'checkout-0', '10.0.0.1'));
      procs.push(validate);
      expect(await validate.exited, `${name}: ${validate.log.join('\n')}`).toEqual({ code: 0, signal: null });
    }
    const bare = spawnTether(['validate', '--config', join(dir, 'tether.yaml')]);
    procs.push(bare);
    expect((await bare.exited).code).toBe(1);
    expect(bare.stdout() + bare.log.join('\n')).toContain('environment variable POD_NAME is not set');
  });

  it("the pod's containers run as specified: registry with the auth Secret, render --once, then the agent registers the pod and signals the app", async () => {
    const podName = 'checkout-5d8f7c9b4-x7k2p';
    const podIp = '10.1.2.3';
    const etc = join(tmp.path, 'etc');
    await mkdir(etc);
    // The registry, from the StatefulSet's args; the auth file is the Secret's.
    await writeFile(join(etc, 'auth.yaml'), secretValue('tether-registry-auth', 'auth.yaml'));
    const regArgs = container(pod(find('StatefulSet', 'tether-registry')), 'registry').args as string[];
    const registryMap: Record<string, string> = {
      '0.0.0.0:8470': '127.0.0.1:0',
      '/var/lib/tether/registry': join(tmp.path, 'registry'),
      '/etc/tether-registry/auth.yaml': join(etc, 'auth.yaml'),
      '5s': '200ms', // --shutdown-delay: the same drain, sooner
    };
    const registry = spawnTether(regArgs.map((a) => registryMap[a] ?? a));
    procs.push(registry);
    const url = (await registry.waitForLog((r) => typeof r.url === 'string')).url as string;
    // The kubelet's probes, as the StatefulSet declares them (no token).
    const regContainer = container(pod(find('StatefulSet', 'tether-registry')), 'registry');
    for (const probe of [regContainer.readinessProbe, regContainer.livenessProbe]) {
      expect((await fetch(`${url}${probe?.httpGet?.path}`)).status).toBe(200);
    }

    // What the pod provides: the app on 8080, the volumes, the registry Service.
    target = await startTarget(true);
    const rendered = join(tmp.path, 'rendered');
    await mkdir(rendered);
    const manifest = manifestText()
      .replaceAll('http://tether-registry:8470', url)
      .replaceAll('0.0.0.0:8471', '127.0.0.1:0')
      .replaceAll('http://127.0.0.1:8080/healthz', target.url)
      .replaceAll('/etc/checkout/', `${rendered}/`)
      .replaceAll('/var/lib/tether', join(tmp.path, 'state'));
    await writeFile(join(etc, 'tether.yaml'), manifest);
    const spec = pod(find('Deployment', 'checkout'));
    const run = (name: string): Proc => {
      const c = container(spec, name);
      const args = (c.args as string[]).map((a) => (a === '/etc/tether/tether.yaml' ? join(etc, 'tether.yaml') : a));
      // A container whose command is `tini -- node FLAGS tether` (the agent's heap caps) runs node with those flags.
      const flags = c.command?.[2] === 'node' ? c.command.slice(3, -1) : [];
      const env = envOf(c, podName, podIp);
      const p = flags.length > 0 ? spawnProc(process.execPath, [...flags, cliMain(), ...args], { env: { PATH: process.env.PATH ?? '', ...env } }) : spawnTether(args, env);
      procs.push(p);
      return p;
    };
    const token = envOf(container(spec, 'tether'), podName, podIp).TETHER_TOKEN as string;
    const api = async (method: string, path: string, body?: unknown): Promise<Response> =>
      fetch(`${url}/v1.0/shop${path}`, { method, headers: { 'x-auth-token': token, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
    expect((await api('PUT', '/configuration//shop/checkout/log_level', { value: 'debug' })).status).toBe(204);

    expect(await run('tether-render').exited).toEqual({ code: 0, signal: null });
    expect(await readFile(join(rendered, 'settings.env'), 'utf8')).toBe("LOG_LEVEL='debug'\n");
    expect(JSON.parse(await readFile(join(rendered, 'payments.json'), 'utf8'))).toEqual([]);

    // A stand-in for the app: named `checkout`, it records each SIGHUP.
    const hups = join(tmp.path, 'hups');
    const app = spawn(process.execPath, ['-e', `process.on('SIGHUP', () => require('fs').appendFileSync(${JSON.stringify(hups)}, 'hup\\n')); setInterval(() => {}, 1000);`], {
      argv0: 'checkout',
      stdio: 'ignore',
    });
    try {
      const agent = run('tether');
      const apiUrl = (await agent.waitForLog((r) => r.msg === 'agent started')).api as string;
      await expect.poll(async () => (await fetch(`${apiUrl}/readyz`)).status, { timeout: 10_000 }).toBe(200);
      await expect
        .poll(async () => ((await (await api('GET', '/services')).json()) as { values: unknown[] }).values, { timeout: 10_000 })
        .toEqual([expect.objectContaining({ id: podName, tags: ['checkout', 'http'], metadata: { pod: podName, address: podIp, port: '8080' } })]);

      expect((await api('PUT', '/configuration//shop/checkout/log_level', { value: 'info' })).status).toBe(204);
      await expect.poll(() => readFile(join(rendered, 'settings.env'), 'utf8'), { timeout: 5000 }).toBe("LOG_LEVEL='info'\n");
      await expect.poll(() => readFile(hups, 'utf8').catch(() => ''), { timeout: 5000 }).toBe('hup\n');

      expect(await agent.stop('SIGTERM')).toEqual({ code: 0, signal: null });
      expect(((await (await api('GET', '/services')).json()) as { values: unknown[] }).values).toEqual([]);
    } finally {
      app.kill('SIGKILL');
    }
    expect(await registry.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});
