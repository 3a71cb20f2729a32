"""The trusted side of the trust boundary: runs in the grader's process, OUTSIDE the sandbox.

What runs inside (the kernel agent, the warm parent, the kernel start-up file) is grader/sandboxed/;
the wire codec both sides use is grader/sandboxed/codec.py.
"""
