import { sqliteMemoryStores } from '../helpers/queues.js';
import { queuesOverHttp } from './queues-http-impl.js';
import { describeQueuesConformance } from './queues-suite.js';

// The whole queues suite through the wire: QueueService on SQLite behind the HTTP server, HttpQueues in front.
describeQueuesConformance(queuesOverHttp('sqlite+http', sqliteMemoryStores));
