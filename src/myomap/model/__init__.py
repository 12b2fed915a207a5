"""The segmentation model: registry (no torch import), training, inference, ONNX export."""
