"""Speed and deployment: the devices and precisions present, the modes a tuned deployment runs in, memory known
before a run, the one timing path, latency and per-layer profiles against the device's peaks, accuracy of a
mode against float64, ONNX export and ONNX Runtime, int8 sensitivity and its verdict."""
