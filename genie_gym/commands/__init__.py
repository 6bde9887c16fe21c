"""Sub-commands of the ``genie`` command line that belong to the library itself."""
