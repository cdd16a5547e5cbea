"""Scenario kit: property-based scripts that drive the broker on a virtual clock."""
