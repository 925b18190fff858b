"""Export: checkpoints to ONNX files with metadata the daemon can rebuild everything from."""
