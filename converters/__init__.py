"""snn.converters: trained ANNs (torch, ONNX, NIR) -> SpikingNetwork."""
