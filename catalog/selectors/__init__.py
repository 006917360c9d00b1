"""Reads of the catalogue, one module per thing they serve:

- `prices`: prices now and at an instant (the gateway, the ledger's reprice), the Models API listing;
- `catalogue`: the catalogue's pages: the table, a model's detail, changes, providers;
- `changes`: repricings and retirements of given models (the home page's list of the models one uses).

Writes are in catalog.services.
"""
