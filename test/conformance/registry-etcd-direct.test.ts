import { afterAll, beforeAll } from 'vitest';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { etcdRegistryImplementations } from '../helpers/registries.js';
import { describeRegistryConformance } from './registry-suite.js';

// The whole registry suite on the etcd Store (direct), against a real etcd this file starts.
let etcd: EtcdCluster | undefined;
beforeAll(async () => {
  etcd = await startEtcd(1);
}, 30_000);
afterAll(async () => {
  await etcd?.stop();
});

const endpoints = (): string[] => {
  if (etcd === undefined) throw new Error('etcd did not start');
  return etcd.endpoints;
};
describeRegistryConformance(etcdRegistryImplementations(endpoints).direct);
