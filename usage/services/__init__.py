"""Writes of the usage app, one module per thing they serve:

- `keys`: our API keys (create, revoke, the playground key);
- `ledger`: the gateway's ledger rows and the counts of requests without a known key;
- `key_counters`: rate and budget counters in the database (gateways without Redis);
- `response_cache`: the response cache's rows (without Redis);
- `rollups`: hourly and daily rollups, and the ledger's retention;
- `upstreams`: upstream validation and health probes;
- `aliases`: alias validation and member numbering;
- `traffic_endpoints`: the scheduled fetch of the per-provider endpoints of models with traffic;
- `demo_traffic`: seeding a demo ledger.

Reads are in usage.selectors.
"""
