import { describe } from 'vitest';
import { sqliteMemoryStores } from '../helpers/queues.js';
import { describeClaimLines } from './queues-claims.js';
import { queuesOverHttp } from './queues-http-impl.js';
import { describeMessageLines } from './queues-messages.js';
import { describeQueueLines } from './queues-queues.js';
import { useQueues } from './queues-support.js';

describe('queues over http (tmp)', () => {
  const h = useQueues(queuesOverHttp('sqlite+http', sqliteMemoryStores));
  describeQueueLines(h);
  describeMessageLines(h);
  describeClaimLines(h);
});
