import { useEtcd } from '../helpers/etcd.js';
import { etcdStores } from '../helpers/registries.js';
import { queuesOverHttp } from './queues-http-impl.js';
import { describeQueuesConformance } from './queues-suite.js';

// The whole queues suite through the wire on the etcd Store, against a real etcd this file starts.
const etcd = useEtcd();
describeQueuesConformance(queuesOverHttp('etcd+http', etcdStores(() => etcd().endpoints)));
