"""Offline tools: the program synthesized under mocks, and what is read from it (report, cost, diff, policy gate)."""
