"""What the project itself remembers: the schedule setting last applied to each periodic job."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class AppliedSchedule(models.Model):
    """The setting `dashboard.schedules.schedules_apply` last applied to one periodic job: a five-field cron
    string, or "disable". While the setting still says this, the job's PeriodicTask belongs to the admin."""

    name = models.CharField(max_length=200, unique=True)  # the PeriodicTask's name, as in schedules.JOBS
    cron = models.CharField(max_length=240)
    applied_at = models.DateTimeField()

    class Meta:
        # The unique index on name serves schedules_apply's one read: the rows of JOBS' names.
        constraints = [
            models.CheckConstraint(condition=~Q(cron=""), name="appliedschedule_cron_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.cron}"
