"""Ordered schema revisions (0001, 0002, ...): never edit a released one, add a new one."""
