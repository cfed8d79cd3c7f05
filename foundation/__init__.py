"""The bottom floor: shared data and primitives that every other package may use.

The accelerator and instance catalog (``foundation.catalog``), bounded YAML loading
(``foundation.safe_yaml``), the typed validation errors (``foundation.errors``) and word helpers
(``foundation.words``). Nothing here imports ``blueprints``, ``components`` or ``aistack``: the floors
above point down at this one, never the other way (``tests/test_layers.py`` fails on any upward import).
"""
