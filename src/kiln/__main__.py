from kiln.cli import cli

# The guard matters: worker processes started with "spawn" import the main module again.
if __name__ == "__main__":
    cli()
