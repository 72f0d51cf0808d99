"""Put on PYTHONPATH of Spark's Python workers only (by the PYSPARK_PYTHON wrapper the
test writes): mdreg cannot be imported there, whatever site-packages holds."""

import sys


class _NoMdreg:
    def find_spec(self, name, path=None, target=None):
        if name == "mdreg" or name.startswith("mdreg."):
            raise ModuleNotFoundError(f"No module named {name!r} (this Spark worker has no mdreg)")
        return None


sys.meta_path.insert(0, _NoMdreg())
