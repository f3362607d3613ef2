"""Safety: provenance records and invisible watermarks for generated outputs."""
