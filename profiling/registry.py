"""One registry mechanism for every axis (runtimes, power sources, compression settings, devices).

Built-ins are lazy ``"module:attr"`` strings (optionally with keyword arguments, so one class can
serve several levels of a setting); third parties add members through the entry-point group given
at construction. Nothing is imported until a member is asked for. Python 3.6 compatible.
"""
import importlib


class UnknownNameError(KeyError):
    """Raised for a name the registry does not know; its message lists the known names."""

    def __init__(self, kind, name, known):
        self.kind = kind
        self.name = name
        self.known = list(known)
        super(UnknownNameError, self).__init__(name)

    def __str__(self):
        return "Unknown {} '{}'. Known: {}.".format(self.kind, self.name, ", ".join(self.known))


class Registry(object):
    """Maps a name to a lazily imported object (class, factory or instance)."""

    def __init__(self, kind, entry_point_group=None):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._specs = {}
        self._loaded = {}
        self._entry_points_read = False

    def register(self, key, target, **kwargs):
        """Register ``target`` ("module:attr" or an object) under the name ``key``.

        If ``kwargs`` are given, the loaded attribute is called with them to make the member
        (they may include ``name``, so the member knows what it is registered as).
        """
        self._specs[key] = (target, kwargs)
        self._loaded.pop(key, None)

    def _read_entry_points(self):
        if self._entry_points_read or not self.entry_point_group:
            self._entry_points_read = True
            return
        self._entry_points_read = True
        try:
            from importlib.metadata import entry_points  # novermin (guarded: Python >= 3.8)
        except ImportError:  # pragma: no cover - Python 3.6/3.7 on old Jetsons
            return
        try:
            eps = entry_points(group=self.entry_point_group)
        except TypeError:  # pragma: no cover - Python < 3.10 returns a dict
            eps = entry_points().get(self.entry_point_group, [])
        for ep in eps:
            self._specs.setdefault(ep.name, (ep.value, {}))

    def names(self):
        """Known member names, in registration order."""
        self._read_entry_points()
        return list(self._specs)

    def __contains__(self, name):
        self._read_entry_points()
        return name in self._specs

    def get(self, name):
        """Load and return the member ``name``; UnknownNameError lists the known names."""
        self._read_entry_points()
        if name in self._loaded:
            return self._loaded[name]
        if name not in self._specs:
            raise UnknownNameError(self.kind, name, self.names())
        target, kwargs = self._specs[name]
        obj = _resolve(target) if isinstance(target, str) else target
        if kwargs:
            obj = obj(**kwargs)
        self._loaded[name] = obj
        return obj


def _resolve(spec):
    module_name, _, attr = spec.partition(":")
    obj = importlib.import_module(module_name)
    for part in attr.split(".") if attr else []:
        obj = getattr(obj, part)
    return obj
