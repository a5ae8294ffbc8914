/** The text of `tether queues --help` (shared by the queue and the message sub-commands). */
export const queuesHelp = `Usage: tether queues <command> [options]   (Cloud Queues API v1, served on /v1)

Queues:
  list [--detailed]                   every queue of the project (all pages)
  create QUEUE                        prints "created" or "exists"
  delete QUEUE                        delete a queue with its messages and claims
                                      (with message ids: see below)
  stats QUEUE                         message counts, oldest and newest
  metadata get QUEUE                  print the metadata document (JSON)
  metadata set QUEUE JSON             replace it (JSON "-" reads it from stdin)

Messages:
  post QUEUE [BODY...] [--ttl S]      post JSON bodies given as arguments, or else
                                      one JSON document per stdin line; prints the ids
  messages QUEUE [--marker M] [--limit N] [--echo] [--include-claimed] [--wait S]
                                      one page, oldest first; the next --marker goes to stderr
                                      (--follow: every new message until Ctrl-C, waiting for them)
  get QUEUE ID...                     messages by id
  claim QUEUE [--ttl S] [--grace S] [--limit N] [--wait S]
                                      claim free messages (prints nothing when none)
  delete QUEUE ID... [--claim CLAIM]  delete messages, not the queue (a claimed one needs its claim id)
  renew QUEUE CLAIM [--ttl S]         renew a claim
  release QUEUE CLAIM                 release a claim: its messages are free again

Options:
  --url BASE        server URL (env TETHER_URL, default http://127.0.0.1:8470/v1.0/default);
                    its tenant (.../v1.0/TENANT or .../v1/PROJECT) is the project
  --project ID      the project (X-Project-Id), instead of the URL's tenant
  --global          the project-less (global) namespace
  --token TOKEN     X-Auth-Token (env TETHER_TOKEN)
  --cacert FILE, --cert FILE, --key FILE, --server-name NAME
                    TLS to an https:// server (env TETHER_CACERT, TETHER_CERT, TETHER_KEY, TETHER_SERVER_NAME)
  --client-id UUID  Client-ID (default: a new one per call, so --echo only matters with it)
  --json            print JSON instead of a table
`;
