"""The course's own tasks with known answers: support tickets, product-to-JSON formats, classification metrics.
Used by notebooks 03, 05, 07, 08, 12, 13 and 17 as data and checkers."""
