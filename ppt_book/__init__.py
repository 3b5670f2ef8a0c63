__version__ = "0.1.0"

# Saved students load like any transformers model: their classes are registered with the Auto classes (and so with
# `pipeline`) once both ppt_book and transformers are imported, in either order. This is the one thing the package does
# at import; nothing runs from a model folder. Registering imports torch and transformers' model code (2.3 of the
# 3.4 seconds `import ppt_book.core` took), so it waits for transformers: `ppt-book --help`, `ppt-book results` and a
# notebook that only records metrics do not pay for it.
import sys as _sys
from importlib.abc import MetaPathFinder as _MetaPathFinder


def _half_imported(name:str, done:str|None) -> bool:
    spec = getattr(_sys.modules.get(name), "__spec__", None)
    return name != done and bool(getattr(spec, "_initializing", False))


def _register_if_ready(done:str|None=None) -> bool:
    "Register the students if transformers is imported and no module they need is still half-imported (`done` just finished)."
    if "transformers" not in _sys.modules: return False
    if any(_half_imported(n, done) for n in list(_sys.modules) if n == "transformers" or n.startswith("ppt_book.")): return False
    _watcher.stop()
    from .distill import register_students
    register_students()
    return True


class _RegisterAfterImport(_MetaPathFinder):
    "Finds nothing itself: after transformers or a ppt_book module finishes importing, registers the students if it now can."
    def start(self):
        if self not in _sys.meta_path: _sys.meta_path.insert(0, self)

    def stop(self):
        try: _sys.meta_path.remove(self)
        except ValueError: pass

    def find_spec(self, name, path=None, target=None):
        if name != "transformers" and not name.startswith("ppt_book."): return None
        for finder in _sys.meta_path:  # the spec the rest of the import system would have found
            if finder is self or not hasattr(finder, "find_spec"): continue
            spec = finder.find_spec(name, path, target)
            if spec is not None: break
        else: return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"): return spec
        original = loader.exec_module

        def exec_module(module):
            try: original(module)
            finally:
                try: del loader.exec_module  # the module keeps its loader as it was found
                except AttributeError: pass
            _register_if_ready(done=name)

        try: loader.exec_module = exec_module  # on this one loader instance, not on its class
        except (AttributeError, TypeError): pass
        return spec


_watcher = _RegisterAfterImport()
if not _register_if_ready(): _watcher.start()
