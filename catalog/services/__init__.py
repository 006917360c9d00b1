"""Writes of the catalogue, one module per thing they serve:

- `sync`: OpenRouter's Models API into the database (dated price versions, retirements, the sync lock);
- `manual_models`: models of other upstreams, added in the admin with their dated prices;
- `provider_endpoints`: a model's per-provider endpoints, fetched from OpenRouter.

Reads are in catalog.selectors.
"""
