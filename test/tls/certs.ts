import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

const run = promisify(execFile);

/** PEM files made for one test file: two CAs, server certificates and a client certificate. */
export interface TestPki {
  dir: TempDir;
  /** The CA that signed everything below. */
  caFile: string;
  /** A CA that signed nothing here: a client trusting only it must refuse the server. */
  otherCaFile: string;
  /** Server certificate for 127.0.0.1, ::1 and localhost (CN "tether-test-server"), and its key. */
  serverCert: string;
  serverKey: string;
  /** A second server certificate of the same CA, CN "tether-renewed": what a renewal installs. */
  renewedCert: string;
  renewedKey: string;
  /** A server certificate for the name "registry.internal" only (no IP): needs a server name on the client. */
  namedCert: string;
  namedKey: string;
  /**
   * etcd's certificate for 127.0.0.1: server and client usage both, as etcd's
   * own gRPC gateway presents it to the member when --client-cert-auth is on.
   */
  etcdCert: string;
  etcdKey: string;
  /** Client certificate (CN "tether-client") and its key. */
  clientCert: string;
  clientKey: string;
  /** A client certificate signed by the other CA: refused by a server trusting only `caFile`. */
  strangerCert: string;
  strangerKey: string;
  read(file: string): Promise<Buffer>;
  remove(): Promise<void>;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  await run('openssl', args, { cwd });
}

async function makeCa(cwd: string, name: string): Promise<void> {
  await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.pem`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], cwd);
}

/** A leaf signed by CA `ca`, with subjectAltName `san` and extendedKeyUsage `usage`. */
async function makeLeaf(cwd: string, ca: string, name: string, cn: string, san: string, usage: 'serverAuth' | 'clientAuth' | 'serverAuth,clientAuth'): Promise<void> {
  await openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${cn}`,
    '-keyout', `${name}.key`, '-out', `${name}.csr`], cwd);
  const ext = join(cwd, `${name}.ext`);
  await writeFile(ext, `${san ? `subjectAltName=${san}\n` : ''}extendedKeyUsage=${usage}\nbasicConstraints=CA:FALSE\n`);
  await openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial',
    '-days', '2', '-out', `${name}.pem`, '-extfile', ext], cwd);
}

/** Makes every file with openssl(1) in a fresh temp directory (about a second). */
export async function makeTestPki(): Promise<TestPki> {
  const dir = await createTempDir('pki');
  const cwd = dir.path;
  await Promise.all([makeCa(cwd, 'ca'), makeCa(cwd, 'other-ca')]);
  const local = 'IP:127.0.0.1,IP:::1,DNS:localhost';
  await makeLeaf(cwd, 'ca', 'server', 'tether-test-server', local, 'serverAuth');
  await makeLeaf(cwd, 'ca', 'renewed', 'tether-renewed', local, 'serverAuth');
  await makeLeaf(cwd, 'ca', 'named', 'registry.internal', 'DNS:registry.internal', 'serverAuth');
  await makeLeaf(cwd, 'ca', 'etcd', 'etcd-member', local, 'serverAuth,clientAuth');
  await makeLeaf(cwd, 'ca', 'client', 'tether-client', '', 'clientAuth');
  await makeLeaf(cwd, 'other-ca', 'stranger', 'stranger', '', 'clientAuth');
  const f = (name: string): string => join(cwd, name);
  return {
    dir,
    caFile: f('ca.pem'),
    otherCaFile: f('other-ca.pem'),
    serverCert: f('server.pem'),
    serverKey: f('server.key'),
    renewedCert: f('renewed.pem'),
    renewedKey: f('renewed.key'),
    namedCert: f('named.pem'),
    namedKey: f('named.key'),
    etcdCert: f('etcd.pem'),
    etcdKey: f('etcd.key'),
    clientCert: f('client.pem'),
    clientKey: f('client.key'),
    strangerCert: f('stranger.pem'),
    strangerKey: f('stranger.key'),
    read: (file) => readFile(file),
    remove: () => dir.remove(),
  };
}
