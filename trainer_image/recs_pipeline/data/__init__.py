"""Interaction data in, prepared splits out: sources, table reading, id encoding, prep, the prepared-data format."""
