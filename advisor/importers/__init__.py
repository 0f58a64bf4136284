"""Importers: measurements published by others (``../shared/data``) -> schema-valid profile records.

* ``qin2018``: Qin et al. 2018, Jetson TX2 + TensorFlow 1.6 (quantization, pruning, both).
* ``nasperf``: NAS-Performance-Modeling, ~12.5k synthetic CNNs on a Jetson Nano (TensorRT FP32);
  ``nasperf_arch`` rebuilds each network from its name.
* ``published_tables``: tf_trt_models (TX2) and torch2trt (Nano, AGX Xavier) latency tables.
* ``study_features``: the cached features of the study zoo networks the importers attach.
* ``common``: record construction shared by all of them.

``datasets/build_imports.py`` runs them and writes ``datasets/jetson-*/``. Nothing here is imported
by the advisor's commands.
"""
