"""Inference backends behind one interface (torch, onnxruntime, TensorRT) and `auto` selection."""
from svde_ros.inference.backend import Backend, BackendError, DepthResult

__all__ = ['Backend', 'BackendError', 'DepthResult']
