"""Once-for-all supernet: elastic kernel, middle channels (APQ's pruning) and depth.

``layers`` holds the dynamic convs and batch norm, ``network`` the supernet and static sub-net
extraction, ``train`` progressive shrinking with knowledge distillation and resumable
checkpoints, ``bn_calibration`` and ``evaluate`` what a chosen sub-net needs before it is scored.
"""
