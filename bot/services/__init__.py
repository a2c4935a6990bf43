"""Services the journeys share: delivery, broadcasting, reminders, retention, report, CSV import, scheduled jobs. Import core and db."""
