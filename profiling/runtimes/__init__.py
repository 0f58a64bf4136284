"""Inference runtimes the profiler can drive (registry filled in by profiling.runtimes.registry)."""
