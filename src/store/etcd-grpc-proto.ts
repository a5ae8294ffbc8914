/**
 * etcd-rpc.proto as a protobufjs JSON descriptor (Root.toJSON() of the file loaded with keepCase),
 * for @grpc/proto-loader's fromJSON: a TypeScript constant survives the esbuild bundle and `npm pack`,
 * where a .proto file beside the code would not. test/store/etcd-grpc.test.ts fails when proto-loader's definitions
 * from the two differ; regenerate with protobufjs (proto-loader's own dependency) `Root.loadSync(file, { keepCase: true }).toJSON()`.
 */
export const ETCD_RPC: { nested: Record<string, unknown> } = {
  nested: {
    etcdserverpb: {
      nested: {
        "ResponseHeader": {"fields":{"cluster_id":{"type":"uint64","id":1},"member_id":{"type":"uint64","id":2},"revision":{"type":"int64","id":3},"raft_term":{"type":"uint64","id":4}}},
        "KeyValue": {"fields":{"key":{"type":"bytes","id":1},"create_revision":{"type":"int64","id":2},"mod_revision":{"type":"int64","id":3},"version":{"type":"int64","id":4},"value":{"type":"bytes","id":5},"lease":{"type":"int64","id":6}}},
        "Event": {"fields":{"type":{"type":"EventType","id":1},"kv":{"type":"KeyValue","id":2},"prev_kv":{"type":"KeyValue","id":3}},"nested":{"EventType":{"values":{"PUT":0,"DELETE":1}}}},
        "RangeRequest": {"fields":{"key":{"type":"bytes","id":1},"range_end":{"type":"bytes","id":2},"limit":{"type":"int64","id":3},"revision":{"type":"int64","id":4},"serializable":{"type":"bool","id":7},"keys_only":{"type":"bool","id":8},"count_only":{"type":"bool","id":9}}},
        "RangeResponse": {"fields":{"header":{"type":"ResponseHeader","id":1},"kvs":{"rule":"repeated","type":"KeyValue","id":2},"more":{"type":"bool","id":3},"count":{"type":"int64","id":4}}},
        "PutRequest": {"fields":{"key":{"type":"bytes","id":1},"value":{"type":"bytes","id":2},"lease":{"type":"int64","id":3},"prev_kv":{"type":"bool","id":4}}},
        "PutResponse": {"fields":{"header":{"type":"ResponseHeader","id":1},"prev_kv":{"type":"KeyValue","id":2}}},
        "DeleteRangeRequest": {"fields":{"key":{"type":"bytes","id":1},"range_end":{"type":"bytes","id":2},"prev_kv":{"type":"bool","id":3}}},
        "DeleteRangeResponse": {"fields":{"header":{"type":"ResponseHeader","id":1},"deleted":{"type":"int64","id":2},"prev_kvs":{"rule":"repeated","type":"KeyValue","id":3}}},
        "RequestOp": {"oneofs":{"request":{"oneof":["request_range","request_put","request_delete_range","request_txn"]}},"fields":{"request_range":{"type":"RangeRequest","id":1},"request_put":{"type":"PutRequest","id":2},"request_delete_range":{"type":"DeleteRangeRequest","id":3},"request_txn":{"type":"TxnRequest","id":4}}},
        "ResponseOp": {"oneofs":{"response":{"oneof":["response_range","response_put","response_delete_range","response_txn"]}},"fields":{"response_range":{"type":"RangeResponse","id":1},"response_put":{"type":"PutResponse","id":2},"response_delete_range":{"type":"DeleteRangeResponse","id":3},"response_txn":{"type":"TxnResponse","id":4}}},
        "Compare": {"oneofs":{"target_union":{"oneof":["version","create_revision","mod_revision","value","lease"]}},"fields":{"result":{"type":"CompareResult","id":1},"target":{"type":"CompareTarget","id":2},"key":{"type":"bytes","id":3},"version":{"type":"int64","id":4},"create_revision":{"type":"int64","id":5},"mod_revision":{"type":"int64","id":6},"value":{"type":"bytes","id":7},"lease":{"type":"int64","id":8},"range_end":{"type":"bytes","id":64}},"nested":{"CompareResult":{"values":{"EQUAL":0,"GREATER":1,"LESS":2,"NOT_EQUAL":3}},"CompareTarget":{"values":{"VERSION":0,"CREATE":1,"MOD":2,"VALUE":3,"LEASE":4}}}},
        "TxnRequest": {"fields":{"compare":{"rule":"repeated","type":"Compare","id":1},"success":{"rule":"repeated","type":"RequestOp","id":2},"failure":{"rule":"repeated","type":"RequestOp","id":3}}},
        "TxnResponse": {"fields":{"header":{"type":"ResponseHeader","id":1},"succeeded":{"type":"bool","id":2},"responses":{"rule":"repeated","type":"ResponseOp","id":3}}},
        "CompactionRequest": {"fields":{"revision":{"type":"int64","id":1},"physical":{"type":"bool","id":2}}},
        "CompactionResponse": {"fields":{"header":{"type":"ResponseHeader","id":1}}},
        "WatchCreateRequest": {"fields":{"key":{"type":"bytes","id":1},"range_end":{"type":"bytes","id":2},"start_revision":{"type":"int64","id":3},"progress_notify":{"type":"bool","id":4},"prev_kv":{"type":"bool","id":6}}},
        "WatchRequest": {"oneofs":{"request_union":{"oneof":["create_request"]}},"fields":{"create_request":{"type":"WatchCreateRequest","id":1}}},
        "WatchResponse": {"fields":{"header":{"type":"ResponseHeader","id":1},"watch_id":{"type":"int64","id":2},"created":{"type":"bool","id":3},"canceled":{"type":"bool","id":4},"compact_revision":{"type":"int64","id":5},"cancel_reason":{"type":"string","id":6},"fragment":{"type":"bool","id":7},"events":{"rule":"repeated","type":"Event","id":11}}},
        "LeaseGrantRequest": {"fields":{"TTL":{"type":"int64","id":1},"ID":{"type":"int64","id":2}}},
        "LeaseGrantResponse": {"fields":{"header":{"type":"ResponseHeader","id":1},"ID":{"type":"int64","id":2},"TTL":{"type":"int64","id":3},"error":{"type":"string","id":4}}},
        "LeaseRevokeRequest": {"fields":{"ID":{"type":"int64","id":1}}},
        "LeaseRevokeResponse": {"fields":{"header":{"type":"ResponseHeader","id":1}}},
        "LeaseKeepAliveRequest": {"fields":{"ID":{"type":"int64","id":1}}},
        "LeaseKeepAliveResponse": {"fields":{"header":{"type":"ResponseHeader","id":1},"ID":{"type":"int64","id":2},"TTL":{"type":"int64","id":3}}},
        "StatusRequest": {"fields":{}},
        "StatusResponse": {"fields":{"header":{"type":"ResponseHeader","id":1},"version":{"type":"string","id":2},"dbSize":{"type":"int64","id":3},"leader":{"type":"uint64","id":4},"raftIndex":{"type":"uint64","id":5},"raftTerm":{"type":"uint64","id":6},"raftAppliedIndex":{"type":"uint64","id":7},"errors":{"rule":"repeated","type":"string","id":8},"dbSizeInUse":{"type":"int64","id":9},"isLearner":{"type":"bool","id":10}}},
        "AuthenticateRequest": {"fields":{"name":{"type":"string","id":1},"password":{"type":"string","id":2}}},
        "AuthenticateResponse": {"fields":{"header":{"type":"ResponseHeader","id":1},"token":{"type":"string","id":2}}},
        "KV": {"methods":{"Range":{"requestType":"RangeRequest","responseType":"RangeResponse"},"Put":{"requestType":"PutRequest","responseType":"PutResponse"},"DeleteRange":{"requestType":"DeleteRangeRequest","responseType":"DeleteRangeResponse"},"Txn":{"requestType":"TxnRequest","responseType":"TxnResponse"},"Compact":{"requestType":"CompactionRequest","responseType":"CompactionResponse"}}},
        "Watch": {"methods":{"Watch":{"requestType":"WatchRequest","requestStream":true,"responseType":"WatchResponse","responseStream":true}}},
        "Lease": {"methods":{"LeaseGrant":{"requestType":"LeaseGrantRequest","responseType":"LeaseGrantResponse"},"LeaseRevoke":{"requestType":"LeaseRevokeRequest","responseType":"LeaseRevokeResponse"},"LeaseKeepAlive":{"requestType":"LeaseKeepAliveRequest","requestStream":true,"responseType":"LeaseKeepAliveResponse","responseStream":true}}},
        "Maintenance": {"methods":{"Status":{"requestType":"StatusRequest","responseType":"StatusResponse"}}},
        "Auth": {"methods":{"Authenticate":{"requestType":"AuthenticateRequest","responseType":"AuthenticateResponse"}}},
      },
    },
  },
};
