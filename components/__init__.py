"""The four pipeline steps as typed KFP interfaces; each body is a call into the runtime package.

The functions are plain (undecorated) so the pipeline builder can bind them to any image; KFP
ships each function's source to the container, hence the imports inside the bodies.
"""
