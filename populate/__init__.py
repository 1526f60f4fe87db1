"""The ``ibl-video`` command line and the populate workers."""
