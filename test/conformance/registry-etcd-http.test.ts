import { useEtcd } from '../helpers/etcd.js';
import { etcdRegistryImplementations } from '../helpers/registries.js';
import { describeRegistryConformance } from './registry-suite.js';

// The whole registry suite on the etcd Store (http), against a real etcd this file starts.
const etcd = useEtcd();
describeRegistryConformance(etcdRegistryImplementations(() => etcd().endpoints).http);
