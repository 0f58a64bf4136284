"""Process memory from /proc/self/status (Linux, incl. Jetson L4T); Python 3.6 syntax."""
import resource


def rss_bytes(field="VmRSS", path="/proc/self/status"):
    """Current resident set (VmRSS) or peak (VmHWM) in bytes; falls back to ru_maxrss for the peak."""
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (IOError, OSError, ValueError, IndexError):
        pass
    if field == "VmHWM":
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return None


def reset_peak(path="/proc/self/clear_refs"):
    """Reset VmHWM to the current RSS (Linux >= 4.0) so the next peak belongs to what follows."""
    try:
        with open(path, "w") as fh:
            fh.write("5")
        return True
    except (IOError, OSError):
        return False
