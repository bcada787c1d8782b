"""Every "auto" of a run decided in one place, before any work.

:mod:`.policy` resolves a run into a frozen :class:`~.policy.RunPlan` (method, scale,
restoration, plane batching, tiles); :mod:`.stack3d` the z-stack decisions; :mod:`.estimate`
the time and peak memory a plan will take; :mod:`.memory` the solver's memory model;
:mod:`.device` the device and seeded generators; :mod:`.host_memory` the host's free memory.
"""
