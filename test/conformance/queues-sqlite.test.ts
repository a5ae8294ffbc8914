import { sqliteQueues } from '../helpers/queues.js';
import { describeQueuesConformance } from './queues-suite.js';

// The whole queues suite on QueueService over the SQLite Store (in memory), directly.
describeQueuesConformance(sqliteQueues);
