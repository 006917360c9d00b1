"""Reads and aggregations of the usage app, one module per thing they serve:

- `visibility`: who sees what (staff: everything; others: their own keys and those keys' rows);
- `keys`: a key's spend in its period, the keys page's rows and forecast, the gateway's key lookup;
- `spend`: the spend pages and their CSV exports (rollups for whole hours and days, the raw ledger after);
- `overview`: the home page's figures (spend against the period before, top models and keys, budgets);
- `activity`: the request log and one request's detail;
- `traffic`: traffic on models (model and compare pages), latency per model, models with recent traffic;
- `playground`: the playground page's keys, models and ledger rows;
- `upstreams`: where requests go (targets for the gateway) and how upstreams are doing (the status page);
- `aliases`: aliases as the gateway uses them;
- `rollups`, `ledger`: the rollups' shape and the ledger's model name, shared by the reads above.

Writes are in usage.services.
"""
