"""Decision blueprints: the hardware catalog and, on top of it, estimates and recommendations."""
