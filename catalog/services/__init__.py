"""Writes of the catalogue, one module per thing they serve:

- `sync`: OpenRouter's Models API into the database (dated price versions, retirements, held syncs), with
  `sync_checks` (the sanity checks that hold a sync) and `sync_lock` (the lease, the batching);
- `price_history`: first price versions backdated to the model's publication (migration 0006);
- `manual_models`: models of other upstreams, added in the admin with their dated prices;
- `provider_endpoints`: a model's per-provider endpoints, fetched from OpenRouter.

Reads are in catalog.selectors.
"""
