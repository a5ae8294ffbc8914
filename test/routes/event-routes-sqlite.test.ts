import { sqliteMemoryStores } from '../helpers/queues.js';
import { describeEventRoutes } from './suite.js';

// Event routes on RegistryService + QueueService over the SQLite store, directly.
describeEventRoutes('sqlite', sqliteMemoryStores);
