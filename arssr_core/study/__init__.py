"""The study: the paper's experiments run on the library.

Experiment loops (``experiments``, ``evaluation``, ``thick_slices``, ``pretrain``), verdicts
(``claims``), tables and figures (``report``, ``viz``), the notebook runner and its records
(``pipeline``, ``reproduction``) and the book (``book``). The study imports the library
(``arssr_core.models``, ``data``, ``infer``, ``metrics``, ``train``, ``segment``); the library
never imports the study (a test checks it).
"""
