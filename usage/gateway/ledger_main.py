"""The ledger writer's process, started by the gateway: `python -m usage.gateway.ledger_main`.

Django is set up first (the database comes from DATABASE_URL, which the gateway sets to its own), then
ledger_process.py runs until the gateway says stop or goes away.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

import django  # noqa: E402

django.setup(set_prefix=False)

from usage.gateway.ledger_process import main  # noqa: E402  (the ORM's modules load once Django is set up)

main()
