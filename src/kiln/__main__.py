from kiln.cli import cli

cli()
