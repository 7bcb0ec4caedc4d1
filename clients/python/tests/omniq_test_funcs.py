"""Functions that tasks name by import path (module:qualname)."""


def multiply(a, b):
    return a * b


async def add_async(a, b):
    return a + b


def kinds(*args, **kwargs):
    return {"args": [type(a).__name__ for a in args], "kwargs": {k: type(v).__name__ for k, v in kwargs.items()}}


def boom(msg):
    raise RuntimeError(msg)
