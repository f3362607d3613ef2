"""The `genforge` command line: thin typer apps calling the library."""
